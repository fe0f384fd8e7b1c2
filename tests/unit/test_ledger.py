"""The ledger's file beside local outputs: appended, read back, and a line a kill cut short."""

from __future__ import annotations

from pathlib import Path

from airflow_provider_vyro.ledger import Ledger, RunKey

KEY = RunKey("dag", "manual__1", "task")


def key_of(path: Path) -> str:
    return f"file://{path}"


def test_records_are_read_back_by_a_later_try_and_a_cut_line_is_ignored(tmp_path: Path) -> None:
    outputs = [tmp_path / f"out{i}.png" for i in range(3)]
    first = Ledger(KEY)
    first.record(key_of(outputs[0]), "a" * 64)
    first.record(key_of(outputs[1]), "b" * 64)
    (ledger_file,) = tmp_path.glob(".vyro-ledger.*.jsonl")
    with ledger_file.open("ab") as f:
        f.write(b'\n{"location": "cut sho')  # a kill in the middle of an append
    first.record(key_of(outputs[2]), "c" * 64)

    retry = Ledger(KEY)
    assert retry.load([key_of(p) for p in outputs]) == 3
    assert [retry.earlier(key_of(p)) for p in outputs] == ["a" * 64, "b" * 64, "c" * 64]


def test_another_dag_run_and_another_task_have_ledgers_of_their_own(tmp_path: Path) -> None:
    output = key_of(tmp_path / "out.png")
    Ledger(KEY).record(output, "a" * 64)
    for other in (
        RunKey("dag", "manual__2", "task"),
        RunKey("dag", "manual__1", "other"),
        RunKey("dag", "manual__1", "task", 0),
    ):
        ledger = Ledger(other)
        assert ledger.load([output]) == 0
        assert ledger.earlier(output) is None
    assert len(list(tmp_path.glob(".vyro-ledger.*.jsonl"))) == 1


def test_a_ledger_that_cannot_be_written_never_fails_the_run(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-folder" / "out.png"
    ledger = Ledger(KEY)
    ledger.record(key_of(missing), "a" * 64)  # logged, not raised
    assert ledger.earlier(key_of(missing)) == "a" * 64, "this try still knows what it wrote"
    assert not missing.parent.exists(), "the ledger creates no folder"
