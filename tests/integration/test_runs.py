"""
Runs through the operators against the emulator: what stops a run, what is one item's failure,
paying once, the budget, the manifest, cancellation, temporary files, locations, least privilege.
"""

from __future__ import annotations

import errno
import json
import os
import struct
import threading
import time
import zlib
from pathlib import Path
from typing import Any, ClassVar

import pytest
from airflow.providers.common.compat.sdk import DAG, AirflowFailException, task
from fsspec.implementations.memory import MemoryFileSystem

from airflow_provider_vyro import storage
from airflow_provider_vyro.catalogue import INPAINT
from airflow_provider_vyro.emulator.server import EmulatorServer
from airflow_provider_vyro.exceptions import (
    VyroAPIError,
    VyroAuthenticationError,
    VyroBatchError,
    VyroBudgetError,
    VyroCancelledError,
    VyroInputError,
    VyroInsufficientCreditsError,
    VyroOutputWriteError,
    VyroPermanentBatchError,
)
from airflow_provider_vyro.hooks.vyro import VyroHook
from airflow_provider_vyro.operators.inpaint import InpaintBatchOperator, InpaintOperator
from airflow_provider_vyro.runner import RunOptions, run_items
from tests.conftest import conn_json, make_scene
from tests.integration.test_batch import make_items, outputs


def batch(items: list[dict[str, Any]], **kwargs: Any) -> InpaintBatchOperator:
    kwargs.setdefault("progress_interval", 0.2)
    return InpaintBatchOperator(task_id="batch", items=items, **kwargs)


def run_batch(items: list[dict[str, Any]], **kwargs: Any) -> Any:
    return batch(items, **kwargs).execute(context={})


# --- errors that would hit every item stop the run ---------------------------------------------


@pytest.mark.parametrize(
    ("script", "error"),
    [([401], VyroAuthenticationError), ([402], VyroInsufficientCreditsError), ([404], VyroAPIError)],
    ids=["token refused", "no credits", "wrong endpoint"],
)
def test_a_run_wide_error_on_the_first_call_sends_nothing_more(
    vyro_conn: EmulatorServer, tmp_path: Path, script: list[int], error: type[Exception]
) -> None:
    vyro_conn.set_faults(script=script)
    with pytest.raises(error):
        run_batch(make_items(tmp_path, 40), max_concurrency=8)
    assert vyro_conn.stats()["requests"] == 1
    assert outputs(tmp_path) == []


def test_credits_running_out_stop_the_run_and_keep_what_was_written(
    vyro_conn: EmulatorServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    vyro_conn.set_faults(script=["ok", "ok", "ok", 424, 424, 424, 424])
    with pytest.raises(VyroInsufficientCreditsError) as caught:
        run_batch(make_items(tmp_path, 30), max_concurrency=4)
    assert isinstance(caught.value, AirflowFailException)
    requests = vyro_conn.stats()["requests"]
    assert requests <= 3 + 4, "after the first 424 only calls already taken are answered; none is taken"
    assert len(outputs(tmp_path)) >= 3, "outputs written before the error stay"
    assert "Stopping the run: VyroInsufficientCreditsError" in capsys.readouterr().out


class SlowToHearOfFailures:
    """A task log that takes its time over an item's failure, as a busy log handler may."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def info(self, message: str, *args: Any) -> None:
        self.lines.append(message % args)

    def error(self, message: str, *args: Any) -> None:
        self.lines.append(message % args)

    def warning(self, message: str, *args: Any) -> None:
        if message.startswith("items["):
            time.sleep(0.5)
        self.lines.append(message % args)

    exception = error


def test_no_worker_takes_an_item_after_its_own_call_stopped_the_run(
    vyro_conn: EmulatorServer, tmp_path: Path
) -> None:
    vyro_conn.set_faults(script=["ok", 402, 402, 402, 402])
    log = SlowToHearOfFailures()
    with pytest.raises(VyroInsufficientCreditsError):
        run_items(
            INPAINT,
            make_items(tmp_path, 10),
            connect=lambda before_request: VyroHook(pool_maxsize=2, before_request=before_request),
            options=RunOptions(max_concurrency=2),
            log=log,
        )
    stats = vyro_conn.stats()
    calls = stats["requests"]
    # The first call runs alone; then each of the two workers makes at most one call (the second
    # worker may not have started its call when the first 402 stops the run); then nothing.
    assert calls in (2, 3), f"the first call alone, then at most one per worker, then nothing: {stats}"
    failed = calls - 1
    assert (
        f"Vyro run: {calls} calls made (0 retries), 0 credits (known costs), 1 written, 0 kept, "
        f"{failed} failed, {10 - calls} not run" in log.lines
    ), log.lines


def test_a_missing_connection_fails_before_any_request(vyro_conn: EmulatorServer, tmp_path: Path) -> None:
    with pytest.raises(VyroInputError) as caught:
        run_batch(make_items(tmp_path, 3), vyro_conn_id="no_such_connection")
    assert caught.value.field == "vyro_conn_id"
    assert vyro_conn.stats()["requests"] == 0


# --- one item's failure is its own ----------------------------------------------------------------


def test_a_storage_error_in_one_item_fails_that_item_only(
    vyro_conn: EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    items = make_items(tmp_path, 5)
    real_writer = storage.atomic_writer

    def writer(p: Any, *args: Any, **kwargs: Any) -> Any:
        if p.path.endswith("img3.png"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_writer(p, *args, **kwargs)

    monkeypatch.setattr(storage, "atomic_writer", writer)
    with pytest.raises(VyroBatchError) as caught:
        run_batch(items, max_concurrency=2)
    assert not isinstance(caught.value, AirflowFailException), "a full disk may be fixed: task retries apply"
    assert list(caught.value.failures) == [3]
    assert caught.value.classes == {3: "storage"}
    assert "items[3] (storage): OSError" in str(caught.value)
    assert len(outputs(tmp_path)) == 4


def test_failures_no_retry_can_fix_fail_without_task_retries(
    vyro_conn: EmulatorServer, tmp_path: Path
) -> None:
    vyro_conn.set_faults(script=["ok", 400, 422])
    with pytest.raises(VyroPermanentBatchError) as caught:
        run_batch(make_items(tmp_path, 5), max_concurrency=2)
    assert isinstance(caught.value, AirflowFailException)
    assert set(caught.value.classes.values()) == {"input"}
    assert len(outputs(tmp_path)) == 3


def test_transient_failures_leave_task_retries_on(
    vyro_conn: EmulatorServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_VYRO_DEFAULT", conn_json(vyro_conn.url, max_retries=0))
    vyro_conn.set_faults(script=["ok", 400, 503])
    with pytest.raises(VyroBatchError) as caught:
        run_batch(make_items(tmp_path, 4), max_concurrency=2)
    assert not isinstance(caught.value, AirflowFailException)
    assert sorted(caught.value.classes.values()) == ["input", "transient"]


class ProbeDeniedFileSystem(MemoryFileSystem):
    """An object store that denies every probe (``info``, ``exists``, ``ls``) to the role."""

    protocol = ("s3",)

    def info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        raise PermissionError(errno.EACCES, "403 Forbidden (s3:ListBucket not allowed)")

    def exists(self, path: str, **kwargs: Any) -> bool:
        raise PermissionError(errno.EACCES, "403 Forbidden")

    def ls(self, path: str, detail: bool = True, **kwargs: Any) -> Any:
        raise PermissionError(errno.EACCES, "403 Forbidden")


class PutDeniedFileSystem(ProbeDeniedFileSystem):
    """Object storage that refuses everything: probes are "unknown", and the write is refused too."""

    store: ClassVar[dict[str, Any]] = {}
    pseudo_dirs: ClassVar[list[str]] = [""]

    def put_file(self, lpath: str, rpath: str, *args: Any, **kwargs: Any) -> None:
        raise PermissionError(errno.EACCES, "403 Forbidden: PutObject")


def test_an_upload_refused_after_the_call_stops_the_run_and_keeps_the_answer(
    vyro_conn: EmulatorServer, tmp_path: Path
) -> None:
    from airflow.sdk.io import attach

    attach("s3", conn_id="put_denied", fs=PutDeniedFileSystem())
    items = make_items(tmp_path, 6)
    for index, item in enumerate(items):
        item["output_path"] = f"s3://bucket/prefix/out{index}.png"

    with pytest.raises(VyroOutputWriteError) as caught:
        run_batch(items, storage_conn_id="put_denied", max_concurrency=3)

    assert isinstance(caught.value, AirflowFailException), "a task retry would pay again"
    assert vyro_conn.stats()["requests"] == 1, "the first call runs alone; nothing is sent after it"
    kept = caught.value.kept_at
    assert kept is not None
    assert kept in str(caught.value)
    assert Path(kept).read_bytes().startswith(b"\x89PNG"), "the paid answer is recoverable"


def test_a_full_disk_when_committing_an_answer_stops_the_run(
    vyro_conn: EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def replace(src: str, dst: str) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(VyroOutputWriteError) as caught:
        run_batch(make_items(tmp_path, 6), max_concurrency=3)
    assert isinstance(caught.value, AirflowFailException)
    assert "No space left on device" in str(caught.value)
    assert vyro_conn.stats()["requests"] == 1
    assert not list(tmp_path.rglob(".vyro-tmp.*")), "no temporary file is left beside the outputs"


# --- what is written passes the check a later run keeps it by -------------------------------------


@pytest.mark.parametrize("fault", ["badcrc200", "undecodable200"])
def test_a_corrupt_answer_is_not_written_and_its_call_is_retried(
    vyro_conn: EmulatorServer, tmp_path: Path, fault: str
) -> None:
    items = make_items(tmp_path, 1)
    vyro_conn.set_faults(script=[fault])

    (result,) = run_batch(items)

    assert result["attempts"] == 2, "the corrupt answer was refused and the call retried"
    vyro_conn.reset()
    (kept,) = run_batch(items, overwrite=False)
    assert kept["skipped"] is True, "what was written passes the check overwrite=False keeps by"
    assert vyro_conn.stats()["requests"] == 0


@pytest.mark.parametrize("fault", ["badcrc200", "undecodable200"])
def test_an_answer_corrupt_every_time_leaves_nothing_behind(
    vyro_conn: EmulatorServer, tmp_path: Path, fault: str
) -> None:
    vyro_conn.set_faults(script=[fault] * 4)
    with pytest.raises(VyroBatchError, match=r"VyroResponseError: .*PNG"):
        run_batch(make_items(tmp_path, 1))
    assert vyro_conn.stats()["requests"] == 4
    assert outputs(tmp_path) == [], "nothing written, no temporary file"


# --- spending is visible and bounded ------------------------------------------------------------


def test_attempts_possibly_charged_twice_and_the_summary_line(
    vyro_conn: EmulatorServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    vyro_conn.set_faults(script=["truncate"])
    results = run_batch(make_items(tmp_path, 3), max_concurrency=2)
    assert [r["attempts"] for r in results] == [2, 1, 1]
    logged = capsys.readouterr().out
    assert "may have been charged" in logged
    assert (
        "Vyro run: 4 calls made (1 retries), 0 credits (known costs), 3 written, 0 kept, 0 failed" in logged
    )


def test_max_calls_below_the_plan_fails_before_any_request(vyro_conn: EmulatorServer, tmp_path: Path) -> None:
    items = make_items(tmp_path, 5)
    run_batch(items[:2])
    assert vyro_conn.stats()["requests"] == 2
    with pytest.raises(VyroBudgetError, match="needs 3 calls and max_calls is 2") as caught:
        run_batch(items, max_calls=2, overwrite=False)
    assert isinstance(caught.value, AirflowFailException)
    assert vyro_conn.stats()["requests"] == 2, "kept outputs are not planned calls; nothing was sent"
    assert run_batch(items, max_calls=3, overwrite=False)[4]["skipped"] is False


def test_max_calls_reached_by_retries_stops_sending(vyro_conn: EmulatorServer, tmp_path: Path) -> None:
    vyro_conn.set_faults(script=[500, 500])
    with pytest.raises(VyroBudgetError, match="max_calls=3 reached"):
        run_batch(make_items(tmp_path, 3), max_calls=3, max_concurrency=1)
    assert vyro_conn.stats()["requests"] == 3


# --- the manifest -------------------------------------------------------------------------------------


class TinyBatch(InpaintBatchOperator):
    item_limit: ClassVar[int] = 2


def test_manifest_takes_the_dicts_out_of_xcom(vyro_conn: EmulatorServer, tmp_path: Path) -> None:
    items = make_items(tmp_path, 3)
    with pytest.raises(VyroInputError, match="set manifest_path") as caught:
        TinyBatch(task_id="b", items=items).execute(context={})
    assert caught.value.field == "manifest_path"
    assert vyro_conn.stats()["requests"] == 0

    manifest = tmp_path / "m" / "manifest.jsonl"
    summary = TinyBatch(task_id="b", items=items, manifest_path=str(manifest)).execute(context={})
    assert summary == {
        "manifest_path": str(manifest),
        "items": 3,
        "written": 3,
        "kept": 0,
        "failed": 0,
        "not_run": 0,
        "calls": 3,
    }
    lines = [json.loads(line) for line in manifest.read_text().splitlines()]
    assert [line["image_path"] for line in lines] == [i["image_path"] for i in items]
    assert all(line["status"] == "written" and line["attempts"] == 1 for line in lines)


def test_a_manifest_that_is_an_item_path_is_refused(vyro_conn: EmulatorServer, tmp_path: Path) -> None:
    items = make_items(tmp_path, 2)
    with pytest.raises(VyroInputError, match="manifest_path"):
        run_batch(items, manifest_path=items[1]["output_path"])
    assert vyro_conn.stats()["requests"] == 0


# --- cancellation -------------------------------------------------------------------------------------


def _killed_after(operator: Any, emulator: EmulatorServer, requests: int, promptly: str) -> BaseException:
    """
    Execute ``operator`` in a thread and kill it once the emulator has seen ``requests`` requests.

    :param promptly: what it means that ``execute`` returned soon after the kill (the assertion's message).
    :return: what ``execute`` raised.
    """
    raised: list[BaseException] = []

    def target() -> None:
        try:
            operator.execute(context={})
        except BaseException as exc:
            raised.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while emulator.stats()["requests"] < requests:
        assert time.monotonic() < deadline, "the calls never started"
        time.sleep(0.05)

    operator.on_kill()
    thread.join(timeout=30)
    assert not thread.is_alive(), promptly
    return raised[0]


def test_on_kill_abandons_hung_calls_and_removes_their_temp_files(
    vyro_conn: EmulatorServer, tmp_path: Path
) -> None:
    vyro_conn.set_faults(script=["ok", {"sleep": 120}, {"sleep": 120}])
    operator = batch(make_items(tmp_path, 10), max_concurrency=2)
    raised = _killed_after(operator, vyro_conn, 3, "execute returned without waiting for the hung calls")
    assert isinstance(raised, VyroCancelledError)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["img0.png"], "no temp file left"
    assert vyro_conn.stats()["requests"] == 3


def test_on_kill_ends_a_retry_wait(
    vyro_conn: EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_VYRO_DEFAULT", conn_json(vyro_conn.url, backoff_factor=120))
    vyro_conn.set_faults(script=[503])
    operator = InpaintOperator(task_id="one", **{k: v for k, v in make_items(tmp_path, 1)[0].items()})
    raised = _killed_after(operator, vyro_conn, 1, "the 120 s backoff ended at once")
    assert isinstance(raised, VyroCancelledError)
    assert vyro_conn.stats()["requests"] == 1, "no request after the kill"
    assert outputs(tmp_path) == []


# --- temporary files ----------------------------------------------------------------------------------


def test_a_run_removes_stale_temp_files_of_its_own_only(vyro_conn: EmulatorServer, tmp_path: Path) -> None:
    items = make_items(tmp_path, 2)
    out = tmp_path / "out"
    out.mkdir()
    stale = out / ".vyro-tmp.0123456789ab.img0.png"
    fresh = out / ".vyro-tmp.ba9876543210.img0.png"
    other = out / ".someone-else.tmp"
    for path in (stale, fresh, other):
        path.write_bytes(b"partial")
    old = time.time() - 3600 - 60  # older than the documented hour
    os.utime(stale, (old, old))
    os.utime(other, (old, old))

    run_batch(items)

    assert not stale.exists()
    assert fresh.exists(), "a temp file younger than STALE_TEMP_AGE may belong to a live writer"
    assert other.exists(), "only files of the provider's own pattern are touched"


# --- same location twice ------------------------------------------------------------------------------


def test_one_output_given_in_two_forms_is_refused(
    vyro_conn: EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    items = make_items(tmp_path, 3)
    items[0]["output_path"] = "out/same.png"
    items[2]["output_path"] = "./out/same.png"
    with pytest.raises(VyroInputError) as caught:
        run_batch(items)
    assert "items[2].output_path: './out/same.png' is also the output of items[0]" in caught.value.problem
    assert vyro_conn.stats()["requests"] == 0


@pytest.mark.parametrize(
    "spelling",
    [
        "link/same.png",
        "real/../real/same.png",
        "real//same.png",
        "link/./same.png",
        "file://{tmp}/real/same.png",
    ],
)
def test_one_output_through_a_symlinked_folder_or_spelled_otherwise_is_refused(
    vyro_conn: EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, spelling: str
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    items = make_items(tmp_path, 3)
    items[0]["output_path"] = "real/same.png"
    items[2]["output_path"] = spelling.format(tmp=tmp_path)
    with pytest.raises(VyroInputError) as caught:
        run_batch(items)
    assert "is also the output of items[0]" in caught.value.problem
    assert vyro_conn.stats()["requests"] == 0
    assert not list((tmp_path / "real").iterdir()), "nothing written"


def test_an_output_that_is_another_items_input_is_refused(vyro_conn: EmulatorServer, tmp_path: Path) -> None:
    items = make_items(tmp_path, 3)
    items[1]["output_path"] = items[2]["image_path"]
    with pytest.raises(VyroInputError) as caught:
        run_batch(items)
    assert "items[1].output_path:" in caught.value.problem
    assert "is the image_path of items[2]" in caught.value.problem
    assert vyro_conn.stats()["requests"] == 0


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("s3://bucket/out/a.png", "s3a://bucket/out/a.png"),
        ("s3://bucket/out/a.png", "s3://conn@bucket/out/a.png"),
    ],
    ids=["s3 and s3a", "connection id in the uri"],
)
def test_one_object_named_two_ways_is_refused(
    vyro_conn: EmulatorServer, tmp_path: Path, first: str, second: str
) -> None:
    items = make_items(tmp_path, 2)
    items[0]["output_path"], items[1]["output_path"] = first, second
    with pytest.raises(VyroInputError, match=r"items\[1\]\.output_path: .* is also the output of items\[0\]"):
        run_batch(items)
    assert vyro_conn.stats()["requests"] == 0


# --- kept outputs are valid ---------------------------------------------------------------------------


def _corrupt_a_chunk(png: bytes) -> bytes:
    data = bytearray(png)
    offset = 8 + 25  # after the signature and IHDR: the next chunk's length
    (length,) = struct.unpack(">I", data[offset : offset + 4])
    data[offset + 8] ^= 0xFF  # one byte of its data; its CRC no longer matches
    assert (
        zlib.crc32(bytes(data[offset + 4 : offset + 8 + length]))
        != struct.unpack(">I", data[offset + 8 + length : offset + 12 + length])[0]
    )
    return bytes(data)


def test_overwrite_false_redoes_an_output_with_a_bad_chunk_crc(
    vyro_conn: EmulatorServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    items = make_items(tmp_path, 2)
    first = run_batch(items)
    broken = Path(first[1]["output_path"])
    broken.write_bytes(_corrupt_a_chunk(broken.read_bytes()))

    second = run_batch(items, overwrite=False)

    assert [r["skipped"] for r in second] == [True, False]
    logged = capsys.readouterr().out
    assert "is redone: its" in logged
    assert "CRC does not match" in logged
    assert vyro_conn.stats()["requests"] == 3


# --- least privilege ----------------------------------------------------------------------------------


class PutOnlyFileSystem(ProbeDeniedFileSystem):
    """An object store that lets a role put objects and nothing else: every probe is denied."""


def test_writing_needs_only_the_right_to_put_objects(vyro_conn: EmulatorServer, tmp_path: Path) -> None:
    from airflow.sdk.io import attach

    fs = PutOnlyFileSystem()
    attach("s3", conn_id="put_only", fs=fs)
    items = make_items(tmp_path, 2)
    for index, item in enumerate(items):
        item["output_path"] = f"s3://bucket/prefix/out{index}.png"

    results = run_batch(items, storage_conn_id="put_only", overwrite=False)

    assert [r["skipped"] for r in results] == [False, False], "a denied probe is unknown, not 'exists'"
    assert sorted(fs.store) == ["/bucket/prefix/out0.png", "/bucket/prefix/out1.png"]
    assert vyro_conn.stats()["requests"] == 2


# --- arguments ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"max_concurrency": 0}, "max_concurrency"),
        ({"max_concurrency": 1000}, "max_concurrency"),
        ({"progress_interval": 0}, "progress_interval"),
        ({"max_calls": 0}, "max_calls"),
        ({"max_calls": True}, "max_calls"),
    ],
)
def test_bad_run_arguments_are_refused_when_the_operator_is_built(kwargs: dict[str, Any], words: str) -> None:
    with pytest.raises(ValueError, match=words):
        batch([], **kwargs)


def test_an_xcomarg_for_a_non_templated_argument_is_refused() -> None:
    with DAG("xcomarg_refusal", schedule=None):

        @task
        def concurrency() -> int:
            return 4

        with pytest.raises(ValueError, match="max_concurrency is not templated"):
            batch([], max_concurrency=concurrency())
        with pytest.raises(ValueError, match="overwrite is not templated"):
            InpaintOperator(task_id="one", image_path="a", mask_path="b", prompt="c", overwrite=concurrency())


def test_a_single_image_dict_has_the_common_keys(vyro_conn: EmulatorServer, tmp_path: Path) -> None:
    image, mask = make_scene(size=(64, 48))
    (tmp_path / "i.png").write_bytes(image)
    (tmp_path / "m.png").write_bytes(mask)
    result = InpaintOperator(
        task_id="one", image_path=str(tmp_path / "i.png"), mask_path=str(tmp_path / "m.png"), prompt="sand"
    ).execute(context={})
    assert {k: result[k] for k in ("operation", "api_version", "format", "attempts", "model_version")} == {
        "operation": "inpaint",
        "api_version": "v1",
        "format": "PNG",
        "attempts": 1,
        "model_version": "1",
    }
