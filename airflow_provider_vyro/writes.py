"""
Atomic writes: a result appears at its path complete, or not at all.

:func:`atomic_writer` stages the content in a temporary file of this provider
(``.vyro-tmp.<random>.<name>``) and commits it in one step: :func:`os.replace` locally, one upload
remotely. A run registers its temporary files in :class:`TempFiles` so a cancelled run removes
them; files left by a killed worker are removed by a later run
(:func:`remove_stale_temp_files`). Missing local folders are created only when the content is
complete, so a failed write leaves none behind. Reads and writes are recorded as Airflow hook
lineage (:func:`record_lineage`).

Nothing heavy is imported at module level: importing this module stays cheap for DAG parsing.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import posixpath
import re
import secrets
import tempfile
import threading
import time
from typing import TYPE_CHECKING, BinaryIO, cast

from airflow_provider_vyro.exceptions import VyroOutputWriteError
from airflow_provider_vyro.locations import asset_uri, display, is_local

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from airflow.providers.common.compat.sdk import ObjectStoragePath

_log = logging.getLogger(__name__)

TEMP_PREFIX = ".vyro-tmp."
"""How every temporary file of this provider starts: ``.vyro-tmp.<12 hex digits>.<output name>``."""

TEMP_PATTERN = re.compile(r"^\.vyro-tmp\.[0-9a-f]{12}\.")
"""Matches the name of a temporary file of this provider (see :data:`TEMP_PREFIX`)."""

STALE_TEMP_AGE = 3600.0
"""Seconds after which a temporary file of this provider that is still there is stale (its writer died)."""


def _os_problem(exc: OSError) -> str:
    return f"{exc.strerror or type(exc).__name__} (errno {exc.errno})" if exc.errno else str(exc)


class TempFiles:
    """
    The temporary files of one run's writes still in progress, so a cancelled run removes them.

    :meth:`abandon` deletes every registered file and makes later commits fail: a call still
    running in an abandoned thread can then never publish its output, nor leave a file behind.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._paths: set[str] = set()
        self._abandoned = False

    def add(self, path: str) -> None:
        """Register a temporary file just created."""
        with self._lock:
            if self._abandoned:
                _unlink(path)
                raise RuntimeError("the run was stopped; nothing more is written")
            self._paths.add(path)

    def discard(self, path: str) -> None:
        """Forget a temporary file that was committed or removed."""
        with self._lock:
            self._paths.discard(path)

    def check_open(self) -> None:
        """Raise if the run was abandoned (called just before a commit)."""
        if self._abandoned:
            raise RuntimeError("the run was stopped; nothing more is written")

    def abandon(self) -> int:
        """Delete every registered file, refuse further commits; return how many were deleted."""
        with self._lock:
            self._abandoned = True
            paths, self._paths = self._paths, set()
        for path in paths:
            _unlink(path)
        return len(paths)


def _unlink(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def _create_temp(directory: str, name: str) -> tuple[int, str]:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    while True:
        path = os.path.join(directory, f"{TEMP_PREFIX}{secrets.token_hex(6)}.{name}")
        try:
            return os.open(path, flags, 0o666), path
        except FileExistsError:
            continue


def remove_stale_temp_files(
    directories: Iterable[str], *, max_age: float = STALE_TEMP_AGE, pattern: re.Pattern[str] = TEMP_PATTERN
) -> int:
    """
    Delete this provider's temporary files older than ``max_age`` seconds in local folders.

    Only names matching :data:`TEMP_PATTERN` are touched; files a live writer still uses are
    younger than :data:`STALE_TEMP_AGE`. Errors (a folder that vanished, a file removed by
    someone else) are ignored.

    :param directories: local folders to look in (missing ones are skipped).
    :param max_age: the age in seconds, by modification time, above which a file is stale.
    :param pattern: the names to consider (default: this provider's temporary files).
    :return: how many files were deleted.
    """
    removed = 0
    cutoff = time.time() - max_age
    for directory in directories:
        try:
            entries = list(os.scandir(directory))
        except OSError:
            continue
        for entry in entries:
            if not pattern.match(entry.name):
                continue
            try:
                if entry.is_file(follow_symlinks=False) and entry.stat().st_mtime < cutoff:
                    os.unlink(entry.path)
                    removed += 1
            except OSError:
                continue
    return removed


def temp_folder() -> str:
    """Give the local folder where remote writes are staged before their upload."""
    return tempfile.gettempdir()


def local_folder(p: ObjectStoragePath) -> str | None:
    """
    Give the local folder where the temporary file of ``p`` goes, or ``None`` if it is remote.

    That is the folder of ``p``, or, while it is missing, its nearest existing ancestor.
    """
    return _existing_folder(os.path.dirname(os.path.abspath(p.path))) if is_local(p) else None


def existing_folders(directories: Iterable[str]) -> list[str]:
    """
    Give the local folders where the temporary files of outputs in ``directories`` go, sorted.

    Each folder, or, while it is missing, its nearest existing ancestor (see :func:`local_folder`).

    :param directories: the outputs' local folders (absolute paths).
    """
    return sorted({_existing_folder(directory) for directory in directories})


def _existing_folder(directory: str) -> str:
    while not os.path.isdir(directory) and os.path.dirname(directory) != directory:
        directory = os.path.dirname(directory)
    return directory


def missing_folders(p: ObjectStoragePath) -> list[str]:
    """
    Give the local folders above ``p`` that do not exist yet, outermost first (none if remote).

    What a write to ``p`` would create: pass them to :func:`remove_empty_folders` when what was
    written there is removed again, so a failure leaves no empty folder behind.

    :param p: a resolved path.
    """
    if not is_local(p):
        return []
    missing: list[str] = []
    directory = os.path.dirname(os.path.abspath(p.path))
    while not os.path.isdir(directory) and os.path.dirname(directory) != directory:
        missing.append(directory)
        directory = os.path.dirname(directory)
    return missing[::-1]


def remove_empty_folders(folders: list[str]) -> None:
    """
    Remove local folders, innermost first, as long as they are empty; never raises.

    :param folders: the folders, outermost first (as :func:`missing_folders` gives them).
    """
    for folder in reversed(folders):
        try:
            os.rmdir(folder)
        except OSError:
            return


def _make_folders(directory: str) -> list[str]:
    """Create ``directory`` and its missing parents; give the folders created, outermost first."""
    missing: list[str] = []
    while not os.path.isdir(directory):
        missing.append(directory)
        directory = os.path.dirname(directory)
    created: list[str] = []
    try:
        for folder in reversed(missing):
            try:
                os.mkdir(folder)
            except FileExistsError:
                if not os.path.isdir(folder):
                    raise
                continue
            created.append(folder)
    except OSError:
        remove_empty_folders(created)
        raise
    return created


@contextlib.contextmanager
def atomic_writer(
    p: ObjectStoragePath,
    temps: TempFiles | None = None,
    *,
    lineage: bool = True,
    real_path: str | None = None,
) -> Iterator[BinaryIO]:
    """
    Write a file so that it appears at ``p`` complete, or not at all.

    Write the content into the yielded binary file (do not close it). When the ``with`` block
    ends normally the file is committed; when it raises, nothing appears at ``p`` and the
    temporary file is removed. Validate the content inside the block and raise to abort::

        with atomic_writer(path) as f:
            for chunk in chunks:
                f.write(chunk)
                checker.feed(chunk)
            checker.result()  # raises: nothing is written

    Locally the content goes to ``.vyro-tmp.<random>.<name>`` beside the target, is flushed to
    disk and renamed over the target with :func:`os.replace`. Missing parent folders are created
    only then, when the content is complete: until then the temporary file waits in the nearest
    existing ancestor (the same filesystem), so a write that fails leaves no folder behind.
    Remotely it goes to a local temporary file of the same pattern in :func:`temp_folder`,
    uploaded in one go when the block ends (one ``PutObject`` on S3, or one multipart upload for
    files over 100 MiB), so no partial object is ever visible. A local path that is a symlink is
    written through: its target is replaced and the link stays, so the output keeps one location
    (:func:`~airflow_provider_vyro.locations.location_key`) before and after. A file left by a
    killed worker is removed by a later run (:func:`remove_stale_temp_files`). The commit is
    recorded as Airflow hook lineage.

    :param p: the resolved output path.
    :param temps: the run's registry of temporary files, so a cancelled run can remove them.
    :param lineage: record the write as hook lineage (off for bookkeeping files).
    :param real_path: a local ``p`` with its symlinks resolved, when the caller knows it (its
        location key): the path is not resolved again.
    """
    local = is_local(p)
    created: list[str] = []
    target = (real_path or os.path.realpath(p.path)) if local else p.path
    directory = os.path.dirname(target) if local else temp_folder()
    staging = _existing_folder(directory) if local else directory
    fd, tmp = _create_temp(staging, posixpath.basename(target))
    try:
        if temps is not None:
            temps.add(tmp)
        f = os.fdopen(fd, "wb")
    except BaseException:
        os.close(fd)
        _unlink(tmp)
        if temps is not None:
            temps.discard(tmp)
        raise
    try:
        with f:
            yield cast("BinaryIO", f)
            try:
                f.flush()
                if local:
                    os.fsync(f.fileno())
            except OSError as exc:
                raise VyroOutputWriteError(display(p), _os_problem(exc)) from exc
        if temps is not None:
            temps.check_open()
        if local:
            try:
                created = _make_folders(directory)
                os.replace(tmp, target)
            except OSError as exc:
                remove_empty_folders(created)
                raise VyroOutputWriteError(display(p), _os_problem(exc)) from exc
        else:
            try:
                p.fs.put_file(tmp, p.path)
            except Exception as exc:
                if temps is not None:
                    temps.discard(tmp)
                tmp_kept, tmp = tmp, ""
                raise VyroOutputWriteError(
                    display(p), f"the upload failed ({type(exc).__name__}: {exc})", kept_at=tmp_kept
                ) from exc
            _unlink(tmp)
    except BaseException:
        if tmp:
            _unlink(tmp)
        raise
    finally:
        if temps is not None and tmp:
            temps.discard(tmp)
    if local:
        # the output's folder, then each new folder's parent (its entry is there), then the staging folder
        folders = dict.fromkeys([directory, *(os.path.dirname(c) for c in reversed(created)), staging])
        try:
            for folder in folders:
                flush_folder(folder)
        except OSError as exc:
            raise VyroOutputWriteError(display(p), f"it may not survive a crash: {_os_problem(exc)}") from exc
    if lineage:
        record_lineage(p, output=True)


_NO_FOLDER_FSYNC = frozenset({errno.EINVAL, errno.ENOTSUP, errno.EBADF, errno.EACCES, errno.EPERM})
"""What a file system or a folder that cannot be flushed answers: nothing more can be done there."""


def fsync_directory(directory: str) -> None:
    """
    Flush a local folder's entries to disk (a file created or renamed in it survives a crash).

    A folder that cannot be opened, or a file system that does not flush folders, is let be;
    any other failure (an I/O error) is raised: what was written there may not survive.

    :raises OSError: if the flush failed.
    """
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in _NO_FOLDER_FSYNC:
            raise
    finally:
        os.close(fd)


class _Flushes:
    """The flushes of one folder: how many writers asked for one, and how many the last covered."""

    __slots__ = ("asked", "covered", "running")

    def __init__(self) -> None:
        self.asked = 0
        self.covered = 0
        self.running = threading.Lock()


_flushes: dict[str, _Flushes] = {}
_flushes_lock = threading.Lock()
_FLUSHES_KEPT = 256


def flush_folder(directory: str) -> None:
    """
    Flush a local folder's entries to disk, one ``fsync`` shared by the writers that ask at once.

    Returns once an ``fsync`` of the folder that began after this call was made has ended, so a
    file created or renamed in it before the call survives a crash (as with
    :func:`fsync_directory`). Threads that ask while a flush of the folder is running wait for
    it to end and share the next one: sixteen calls finishing together in one folder cost a few
    ``fsync`` calls instead of sixteen.

    :param directory: the local folder.
    """
    with _flushes_lock:
        flushes = _flushes.get(directory)
        if flushes is None:
            if len(_flushes) >= _FLUSHES_KEPT:
                _flushes.clear()  # a writer still holding a dropped entry is covered by its own flushes
            flushes = _flushes[directory] = _Flushes()
        flushes.asked += 1
        ticket = flushes.asked
    with flushes.running:
        if flushes.covered >= ticket:
            return
        with _flushes_lock:
            covering = flushes.asked
        fsync_directory(directory)
        flushes.covered = covering


def record_lineage(p: ObjectStoragePath, *, output: bool) -> None:
    """
    Record a file read or written as hook lineage; a failure here is logged, never raised.

    The URI is the asset's (``file:///absolute/path``, ``s3://bucket/key``): never a bare local
    path, which lineage consumers drop, nor one with the connection id in it. Local files opened
    with the operating system's calls are recorded here as an input once per opening, as
    :meth:`ObjectStoragePath.open` would on their first read.
    """
    try:
        from airflow.providers.common.compat.sdk import get_hook_lineage_collector

        collector = get_hook_lineage_collector()
        if output:
            collector.add_output_asset(context=p, uri=asset_uri(p))
        else:
            collector.add_input_asset(context=p, uri=asset_uri(p))
    except Exception:
        _log.warning("Could not record %s as hook lineage", display(p), exc_info=True)


__all__ = [
    "STALE_TEMP_AGE",
    "TEMP_PATTERN",
    "TEMP_PREFIX",
    "TempFiles",
    "atomic_writer",
    "existing_folders",
    "flush_folder",
    "fsync_directory",
    "local_folder",
    "missing_folders",
    "record_lineage",
    "remove_empty_folders",
    "remove_stale_temp_files",
    "temp_folder",
]
