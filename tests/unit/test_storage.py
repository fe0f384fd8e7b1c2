from __future__ import annotations

import json
import os
import re
import shutil
import stat
import tempfile
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from airflow.providers.common.compat.sdk import ObjectStoragePath

try:
    from airflow.sdk.io import attach
except ImportError:  # Airflow 2
    from airflow.io.store import attach  # type: ignore[no-redef]
from fsspec.implementations.local import LocalFileSystem

from airflow_provider_vyro import storage
from airflow_provider_vyro.exceptions import VyroInputError, VyroOutputWriteError
from airflow_provider_vyro.storage import (
    atomic_writer,
    check_output_path,
    check_writable_destination,
    default_output_path,
    exists,
    open_for_read,
    resolve,
    same_location,
    stat_input,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

RUNNING_AS_ROOT = os.geteuid() == 0
NOBODY = 65534
"""The uid and gid that permission checks drop to when the tests run as root (root bypasses them)."""


@pytest.fixture
def own_tmp(tmp_path: Path) -> Iterator[Path]:
    """
    A scratch folder owned by the user :func:`as_unprivileged` runs as.

    As root, pytest's ``tmp_path`` sits below 0700 folders that ``nobody`` cannot traverse, so
    this is a fresh folder in the system temporary directory, given to ``nobody``.
    """
    if not RUNNING_AS_ROOT:
        yield tmp_path
        return
    folder = Path(tempfile.mkdtemp(prefix="vyro-unprivileged-"))
    try:
        os.chown(folder, NOBODY, NOBODY)
        yield folder
    finally:
        shutil.rmtree(folder)


def outcome(call: Callable[[], object]) -> dict[str, Any]:
    """How ``call()`` ended, as JSON-able data: what it returned or what it raised."""
    try:
        value = call()
    except VyroInputError as exc:
        return {"raised": type(exc).__name__, "field": exc.field, "problem": exc.problem}
    except Exception as exc:
        return {"raised": type(exc).__name__, "message": str(exc)}
    return {"raised": None, "returned": repr(value)}


def as_unprivileged(call: Callable[[], object]) -> dict[str, Any]:
    """
    Run ``call()`` as a user that file permission bits apply to, and tell how it ended.

    Not root: in this process. Root: in a forked child that drops to ``nobody`` and reports its
    :func:`outcome` as JSON through a pipe (a fork, as the interpreter below /root cannot be
    started by ``nobody``; everything the child needs is already imported).
    """
    if not RUNNING_AS_ROOT:
        return outcome(call)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child; it never returns into pytest
        try:
            os.close(read_end)
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            child_report = {**outcome(call), "euid": os.geteuid()}
        except BaseException:
            child_report = {"child_error": traceback.format_exc()}
        try:
            os.write(write_end, json.dumps(child_report).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        text = pipe.read()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, f"the unprivileged child failed: {text!r}"
    report: dict[str, Any] = json.loads(text)
    assert "child_error" not in report, report["child_error"]
    assert report.pop("euid") == NOBODY
    return report


def local(path: Path | str) -> ObjectStoragePath:
    return resolve(str(path), field="image_path")


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.startswith(".vyro-tmp."))


class TestResolve:
    def test_absolute_path(self, tmp_path: Path) -> None:
        p = resolve(str(tmp_path / "x.png"), field="image_path")
        assert p.protocol == "file"
        assert p.path == str(tmp_path / "x.png")
        assert str(p) == f"file://{tmp_path}/x.png"

    def test_relative_path_is_resolved_against_the_cwd(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.chdir(tmp_path)
        assert resolve("in/x.png", field="image_path").path == str(tmp_path / "in" / "x.png")
        assert resolve("./x.png", field="image_path").path == str(tmp_path / "x.png")

    def test_home_is_expanded(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("HOME", str(tmp_path))
        assert resolve("~/x.png", field="image_path").path == str(tmp_path / "x.png")

    def test_leading_double_slash(self) -> None:
        assert resolve("//data/x.png", field="image_path").path == "/data/x.png"

    def test_path_like(self, tmp_path: Path) -> None:
        assert resolve(tmp_path / "x.png", field="image_path").path == str(tmp_path / "x.png")

    @pytest.mark.parametrize(
        ("uri", "path"),
        [
            ("file:///data/in/x.png", "/data/in/x.png"),
            ("FILE:///data/x.png", "/data/x.png"),
            ("file://localhost/data/x.png", "/data/x.png"),
            ("local:///data/x.png", "/data/x.png"),
            ("file:///data/a b#1?.png", "/data/a b#1?.png"),
            ("file:///data/a%20b.png", "/data/a%20b.png"),
            ("file:////data/x.png", "/data/x.png"),
            ("file:///data/in/../x.png", "/data/x.png"),
        ],
    )
    def test_file_uris(self, uri: str, path: str) -> None:
        p = resolve(uri, field="image_path", conn_id="ignored_for_local")
        assert p.protocol == "file"
        assert p.path == path
        assert p.storage_options.get("conn_id") is None

    @pytest.mark.parametrize(
        ("value", "problem"),
        [
            ("", "is empty"),
            ("   ", "is empty"),
            (42, "must be a path or URI string, got int 42"),
            (None, "must be a path or URI string, got NoneType None"),
            (b"/x.png", "must be a path or URI string, got bytes"),
            ("/data/x\x00.png", "contains a NUL character"),
            ("foo://bucket/x.png", "uses the unsupported scheme 'foo://'"),
            ("ftpx://host/x.png", "uses the unsupported scheme 'ftpx://'"),
            ("http://host/x.png", "needs an installed Airflow provider"),
            ("file://host/data/x.png", "is not an absolute file:// URI"),
            ("s3:/bucket/x.png", "looks like a URI with a missing slash; write it as s3://"),
            ("s3://", "has no bucket or container"),
            ("s3:///key.png", "has no bucket or container"),
        ],
    )
    def test_rejected(self, value: Any, problem: str) -> None:
        with pytest.raises(VyroInputError) as info:
            resolve(value, field="mask_path")
        assert info.value.field == "mask_path"
        assert problem in info.value.problem

    def test_unsupported_scheme_message_lists_what_is_supported(self) -> None:
        with pytest.raises(VyroInputError) as info:
            resolve("foo://b/x.png", field="image_path")
        assert info.value.problem == (
            "'foo://b/x.png' uses the unsupported scheme 'foo://'; use a local path or one of: "
            + ", ".join(f"{s}://" for s in sorted(storage.supported_schemes()) if s)
        )

    def test_supported_schemes(self) -> None:
        schemes = storage.supported_schemes()
        assert {"", "file", "local", "s3"} <= schemes
        assert "http" not in schemes
        assert storage.is_supported_scheme("s3")
        assert not storage.is_supported_scheme("foo")


class TestDefaultOutputPath:
    @pytest.mark.parametrize(
        ("image", "output"),
        [
            ("/data/in/photo.jpg", "/data/in/photo_inpainted.png"),
            ("in/photo.jpg", "in/photo_inpainted.png"),
            ("photo.JPEG", "photo_inpainted.png"),
            ("/data/archive.tar.png", "/data/archive.tar_inpainted.png"),
            ("/data/noext", "/data/noext_inpainted.png"),
            ("/data/.hidden", "/data/.hidden_inpainted.png"),
            ("/data/a b#1.jpg", "/data/a b#1_inpainted.png"),
            ("file:///a/x.png", "file:///a/x_inpainted.png"),
            ("s3://b/in/x.jpg", "s3://b/in/x_inpainted.png"),
            ("s3://b/x.jpg", "s3://b/x_inpainted.png"),
            ("s3://conn@b/in/x.jpg", "s3://conn@b/in/x_inpainted.png"),
            ("s3://b/in/2024-01-01/x.y.jpg", "s3://b/in/2024-01-01/x.y_inpainted.png"),
        ],
    )
    def test_beside_the_image_in_the_same_form(self, image: str, output: str) -> None:
        assert default_output_path(image) == output

    def test_path_like(self, tmp_path: Path) -> None:
        assert default_output_path(tmp_path / "x.jpg") == str(tmp_path / "x_inpainted.png")

    @pytest.mark.parametrize("image", ["", "/data/", "s3://b/", "s3://b", "file:///", "/data/.."])
    def test_not_a_file(self, image: str) -> None:
        with pytest.raises(VyroInputError) as info:
            default_output_path(image)
        assert info.value.field == "image_path"

    def test_result_passes_check_output_path(self) -> None:
        default = default_output_path("s3://b/in/x.jpg")
        assert default == "s3://b/in/x_inpainted.png"
        check_output_path(default)


class TestCheckOutputPath:
    @pytest.mark.parametrize("path", ["out.png", "/data/OUT.PNG", "s3://b/x.Png", "file:///a/b.png"])
    def test_good(self, path: str) -> None:
        check_output_path(path)
        with pytest.raises(VyroInputError, match=r"must end in \.png"):
            check_output_path(path[: -len(".png")] + ".jpg")

    @pytest.mark.parametrize(
        ("path", "problem"),
        [
            ("out.jpg", "must end in .png"),
            ("/data/out", "must end in .png"),
            ("/data/.png", "must end in .png"),
            ("s3://b/dir/", "names a folder"),
            ("", "is empty"),
            (3, "must be a path or URI string"),
        ],
    )
    def test_bad(self, path: Any, problem: str) -> None:
        with pytest.raises(VyroInputError) as info:
            check_output_path(path)
        assert info.value.field == "output_path"
        assert problem in info.value.problem


class TestStatInput:
    def test_size(self, tmp_path: Path) -> None:
        (tmp_path / "x.png").write_bytes(b"12345")
        assert stat_input(local(tmp_path / "x.png"), field="image_path") == 5

    def test_missing(self, tmp_path: Path) -> None:
        with pytest.raises(VyroInputError) as info:
            stat_input(local(tmp_path / "nope.png"), field="image_path")
        assert info.value.field == "image_path"
        assert info.value.problem == f"'{tmp_path}/nope.png' does not exist"

    def test_directory(self, tmp_path: Path) -> None:
        with pytest.raises(VyroInputError, match="is a directory, not a file"):
            stat_input(local(tmp_path), field="image_path")

    def test_below_a_regular_file(self, tmp_path: Path) -> None:
        (tmp_path / "file").write_bytes(b"x")
        with pytest.raises(VyroInputError, match="does not exist"):
            stat_input(local(tmp_path / "file" / "x.png"), field="image_path")

    def test_fifo_is_not_a_regular_file(self, tmp_path: Path) -> None:
        os.mkfifo(tmp_path / "pipe.png")
        with pytest.raises(VyroInputError, match="is not a regular file"):
            stat_input(local(tmp_path / "pipe.png"), field="image_path")

    def test_symlink_to_a_file(self, tmp_path: Path) -> None:
        (tmp_path / "x.png").write_bytes(b"123")
        (tmp_path / "link.png").symlink_to(tmp_path / "x.png")
        assert stat_input(local(tmp_path / "link.png"), field="image_path") == 3

    def test_dangling_symlink(self, tmp_path: Path) -> None:
        (tmp_path / "link.png").symlink_to(tmp_path / "gone.png")
        with pytest.raises(VyroInputError, match="does not exist"):
            stat_input(local(tmp_path / "link.png"), field="image_path")

    def test_unreadable_file(self, own_tmp: Path) -> None:
        target = own_tmp / "x.png"

        def unreadable() -> int:
            target.write_bytes(b"x")
            target.chmod(0)
            return stat_input(local(target), field="image_path")

        assert as_unprivileged(unreadable) == {
            "raised": "VyroInputError",
            "field": "image_path",
            "problem": f"'{target}' cannot be read: permission denied",
        }

    def test_permission_errors_of_the_filesystem_are_translated(self) -> None:
        """A filesystem that refuses access, attached under its own conn id (works as root too)."""
        p = denied_path("/data/x.png")
        with pytest.raises(VyroInputError) as info:
            stat_input(p, field="image_path")
        assert (
            info.value.problem == "'/data/x.png' cannot be read: permission denied (no access to /data/x.png)"
        )
        with pytest.raises(VyroInputError, match="permission denied"):
            open_for_read(p, field="image_path")


class DenyingFileSystem(LocalFileSystem):
    def info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        raise PermissionError(f"no access to {path}")

    def _open(self, path: str, mode: str = "rb", **kwargs: Any) -> Any:
        raise PermissionError(f"no access to {path}")


def denied_path(path: str) -> ObjectStoragePath:
    conn_id = "vyro_test_denied"
    attach(protocol="file", conn_id=conn_id, fs=DenyingFileSystem(skip_instance_cache=True))
    return ObjectStoragePath(path, protocol="file", conn_id=conn_id)


class TestOpenForRead:
    def test_reads_and_seeks(self, tmp_path: Path) -> None:
        (tmp_path / "x.png").write_bytes(b"0123456789")
        with open_for_read(local(tmp_path / "x.png"), field="image_path") as f:
            assert f.read(3) == b"012"
            f.seek(-2, os.SEEK_END)
            assert f.read() == b"89"
            assert f.tell() == 10

    def test_missing(self, tmp_path: Path) -> None:
        with pytest.raises(VyroInputError, match="does not exist"):
            open_for_read(local(tmp_path / "nope.png"), field="mask_path")

    def test_directory(self, tmp_path: Path) -> None:
        with pytest.raises(VyroInputError, match="is a directory, not a file"):
            open_for_read(local(tmp_path), field="mask_path")


def test_exists(tmp_path: Path) -> None:
    (tmp_path / "x.png").write_bytes(b"x")
    assert exists(local(tmp_path / "x.png"))
    assert exists(local(tmp_path))
    assert not exists(local(tmp_path / "y.png"))


class TestCheckWritableDestination:
    def test_existing_folder(self, tmp_path: Path) -> None:
        check_writable_destination(local(tmp_path / "out.png"), field="output_path")
        assert list(tmp_path.iterdir()) == [], "the check creates nothing"

    def test_existing_file_may_be_replaced(self, tmp_path: Path) -> None:
        (tmp_path / "out.png").write_bytes(b"old")
        check_writable_destination(local(tmp_path / "out.png"), field="output_path")
        assert (tmp_path / "out.png").read_bytes() == b"old", "the check leaves the file as it was"

    def test_missing_folders_are_fine_and_not_created(self, tmp_path: Path) -> None:
        check_writable_destination(local(tmp_path / "a" / "b" / "out.png"), field="output_path")
        assert not (tmp_path / "a").exists()

    def test_below_a_regular_file(self, tmp_path: Path) -> None:
        (tmp_path / "somefile").write_bytes(b"x")
        target = tmp_path / "somefile" / "deeper" / "out.png"
        with pytest.raises(VyroInputError) as info:
            check_writable_destination(local(target), field="output_path")
        assert info.value.field == "output_path"
        assert (
            info.value.problem
            == f"'{target}' cannot be created: '{tmp_path}/somefile' is a file, not a folder"
        )

    def test_target_is_a_directory(self, tmp_path: Path) -> None:
        (tmp_path / "out.png").mkdir()
        with pytest.raises(VyroInputError, match="is a directory, not a file"):
            check_writable_destination(local(tmp_path / "out.png"), field="output_path")

    def test_read_only_folder(self, own_tmp: Path) -> None:
        folder = own_tmp / "ro"
        target = folder / "sub" / "out.png"

        def below_a_read_only_folder() -> None:
            folder.mkdir()
            folder.chmod(stat.S_IRUSR | stat.S_IXUSR)
            try:
                check_writable_destination(local(target), field="output_path")
            finally:
                folder.chmod(stat.S_IRWXU)

        assert as_unprivileged(below_a_read_only_folder) == {
            "raised": "VyroInputError",
            "field": "output_path",
            "problem": f"'{target}' cannot be written: the folder '{folder}' is not writable",
        }


def write_then_fail(p: ObjectStoragePath, error: BaseException) -> None:
    with atomic_writer(p) as f:
        f.write(b"partial")
        raise error


class TestAtomicWriter:
    def test_writes_and_leaves_no_temporary_file(self, tmp_path: Path) -> None:
        target = tmp_path / "out.png"
        with atomic_writer(local(target)) as f:
            f.write(b"PNG")
            f.write(b"DATA")
        assert target.read_bytes() == b"PNGDATA"
        assert leftovers(tmp_path) == []

    def test_nothing_appears_until_the_block_ends(self, tmp_path: Path) -> None:
        target = tmp_path / "out.png"
        with atomic_writer(local(target)) as f:
            f.write(b"new")
            f.flush()
            assert not target.exists()
            [tmp] = leftovers(tmp_path)
            assert re.match(r"^\.vyro-tmp\.[0-9a-f]{12}\.out\.png$", tmp)
        assert target.read_bytes() == b"new"

    def test_replaces_an_existing_file(self, tmp_path: Path) -> None:
        target = tmp_path / "out.png"
        target.write_bytes(b"old")
        with atomic_writer(local(target)) as f:
            f.write(b"new")
            assert target.read_bytes() == b"old"
        assert target.read_bytes() == b"new"

    def test_creates_missing_folders_only_when_the_content_is_complete(self, tmp_path: Path) -> None:
        target = tmp_path / "a" / "b" / "out.png"
        with atomic_writer(resolve(f"file://{target}", field="output_path")) as f:
            f.write(b"x")
            f.flush()
            assert not (tmp_path / "a").exists()
            assert len(leftovers(tmp_path)) == 1, "the temporary file waits in the nearest existing folder"
        assert target.read_bytes() == b"x"
        assert leftovers(tmp_path) == []

    def test_a_failed_write_leaves_no_folder_behind(self, tmp_path: Path) -> None:
        target = tmp_path / "a" / "b" / "out.png"
        with pytest.raises(ValueError, match="refused"):
            write_then_fail(local(target), ValueError("refused"))
        assert list(tmp_path.iterdir()) == []

    def test_a_failed_commit_removes_the_folders_it_created(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        (tmp_path / "a").mkdir()
        target = tmp_path / "a" / "b" / "c" / "out.png"

        def full_disk(src: str, dst: str) -> None:
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(os, "replace", full_disk)
        with pytest.raises(VyroOutputWriteError, match="No space left"), atomic_writer(local(target)) as f:
            f.write(b"x")
        assert [p.name for p in tmp_path.iterdir()] == ["a"]
        assert list((tmp_path / "a").iterdir()) == []

    def test_exception_leaves_nothing(self, tmp_path: Path) -> None:
        target = tmp_path / "out.png"
        with pytest.raises(ValueError, match="not a PNG"):
            write_then_fail(local(target), ValueError("not a PNG"))
        assert not target.exists()
        assert list(tmp_path.iterdir()) == []

    def test_exception_keeps_the_previous_file(self, tmp_path: Path) -> None:
        target = tmp_path / "out.png"
        target.write_bytes(b"old")
        with pytest.raises(KeyboardInterrupt):
            write_then_fail(local(target), KeyboardInterrupt())
        assert target.read_bytes() == b"old"
        assert leftovers(tmp_path) == []

    def test_permissions_follow_the_umask(self, tmp_path: Path) -> None:
        old = os.umask(0o027)
        try:
            with atomic_writer(local(tmp_path / "out.png")) as f:
                f.write(b"x")
        finally:
            os.umask(old)
        assert stat.S_IMODE((tmp_path / "out.png").stat().st_mode) == 0o640

    def test_local_file_uri(self, tmp_path: Path) -> None:
        with atomic_writer(resolve(f"file://{tmp_path}/out.png", field="output_path")) as f:
            f.write(b"x")
        assert (tmp_path / "out.png").read_bytes() == b"x"


class TestSameLocation:
    def test_same_file_in_different_forms(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.chdir(tmp_path)
        a = resolve(str(tmp_path / "x.png"), field="image_path")
        assert same_location(a, resolve(f"file://{tmp_path}/x.png", field="output_path"))
        assert same_location(a, resolve("x.png", field="output_path"))
        assert same_location(a, resolve(f"{tmp_path}/sub/../x.png", field="output_path"))

    def test_symlinked_folder(self, tmp_path: Path) -> None:
        (tmp_path / "real").mkdir()
        (tmp_path / "link").symlink_to(tmp_path / "real")
        assert same_location(local(tmp_path / "real" / "x.png"), local(tmp_path / "link" / "x.png"))

    def test_hard_link(self, tmp_path: Path) -> None:
        (tmp_path / "x.png").write_bytes(b"x")
        os.link(tmp_path / "x.png", tmp_path / "y.png")
        assert same_location(local(tmp_path / "x.png"), local(tmp_path / "y.png"))

    def test_different_files(self, tmp_path: Path) -> None:
        assert not same_location(local(tmp_path / "x.png"), local(tmp_path / "x_inpainted.png"))


class TestFlushFolder:
    def test_writers_that_ask_at_once_share_a_flush_that_began_after_they_asked(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        import threading
        import time

        from airflow_provider_vyro import writes

        real_fsync = os.fsync
        flushes: list[tuple[float, float]] = []

        def slow_fsync(fd: int) -> None:
            started = time.monotonic()
            time.sleep(0.05)
            real_fsync(fd)
            flushes.append((started, time.monotonic()))

        monkeypatch.setattr(os, "fsync", slow_fsync)
        asked: list[tuple[float, float]] = []
        lock = threading.Lock()

        def writer() -> None:
            at = time.monotonic()
            writes.flush_folder(str(tmp_path))
            with lock:
                asked.append((at, time.monotonic()))

        threads = [threading.Thread(target=writer) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert 1 <= len(flushes) < 8, "writers that asked together shared flushes"
        for at, returned in asked:
            assert any(at <= started and ended <= returned for started, ended in flushes), (
                "each writer returned after a whole flush that began after it asked"
            )

    def test_a_writer_asking_while_a_flush_runs_is_not_released_by_it(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        import threading

        from airflow_provider_vyro import writes

        real_fsync = os.fsync
        entered, release = threading.Event(), threading.Event()
        started: list[str] = []

        def held_fsync(fd: int) -> None:
            started.append(threading.current_thread().name)
            if len(started) == 1:
                entered.set()
                assert release.wait(10)
            real_fsync(fd)

        monkeypatch.setattr(os, "fsync", held_fsync)
        first = threading.Thread(target=writes.flush_folder, args=(str(tmp_path),), name="first")
        first.start()
        assert entered.wait(10)
        second = threading.Thread(target=writes.flush_folder, args=(str(tmp_path),), name="second")
        second.start()  # it asks while the first flush runs
        release.set()
        first.join()
        second.join()
        assert started == ["first", "second"], "the second writer got a flush of its own"

    def test_a_failed_folder_flush_fails_the_write_and_covers_no_one(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        import errno

        from airflow_provider_vyro import writes

        real_fsync = os.fsync
        failing = [True]
        folder_flushes: list[bool] = []

        def fsync(fd: int) -> None:
            if stat.S_ISDIR(os.fstat(fd).st_mode):
                folder_flushes.append(failing[0])
                if failing[0]:
                    raise OSError(errno.EIO, "Input/output error")
            real_fsync(fd)

        monkeypatch.setattr(os, "fsync", fsync)
        with (
            pytest.raises(VyroOutputWriteError, match="may not survive a crash"),
            storage.atomic_writer(local(tmp_path / "a.png")) as f,
        ):
            f.write(b"written")
        failing[0] = False
        writes.flush_folder(str(tmp_path))
        assert folder_flushes == [True, False], "the next writer flushes again"

    def test_a_file_system_that_does_not_flush_folders_is_let_be(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        import errno

        real_fsync = os.fsync

        def fsync(fd: int) -> None:
            if stat.S_ISDIR(os.fstat(fd).st_mode):
                raise OSError(errno.EINVAL, "Invalid argument")
            real_fsync(fd)

        monkeypatch.setattr(os, "fsync", fsync)
        with storage.atomic_writer(local(tmp_path / "a.png")) as f:
            f.write(b"written")
        assert (tmp_path / "a.png").read_bytes() == b"written"

    def test_each_new_folder_is_flushed_in_its_parent(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        from airflow_provider_vyro import writes

        flushed: list[str] = []
        real = writes.fsync_directory

        def fsync_directory(directory: str) -> None:
            flushed.append(directory)
            real(directory)

        monkeypatch.setattr(writes, "fsync_directory", fsync_directory)
        with storage.atomic_writer(local(tmp_path / "a" / "b" / "c.png")) as f:
            f.write(b"written")
        assert flushed == [str(tmp_path / "a" / "b"), str(tmp_path / "a"), str(tmp_path)]
