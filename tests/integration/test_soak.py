"""The soak of ``make soak`` at test size: 300 calls with ~10 % injected faults, nothing corrupt."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from devtools.soak import FAULT_KINDS, run_soak

if TYPE_CHECKING:
    from pathlib import Path

    from airflow_provider_vyro.emulator.server import EmulatorServer

pytestmark = pytest.mark.timeout(120)

CALLS = 300
SEED = 1
"""With this seed every fault kind is injected at least once in 300 calls."""


def test_soak_every_call_ends_in_a_valid_png_or_a_documented_error(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    report = run_soak(tmp_path, calls=CALLS, rate=0.1, concurrency=8, seed=SEED, emulator=emulator)
    print(report.format())

    assert report.problems == [], report.format()
    assert report.ok
    # Every call: a valid PNG (checked against its dict and its input's size) or a VyroError.
    assert report.succeeded + report.failures.total() == CALLS
    assert report.invalid_results == 0
    assert not [name for name in report.failures if name.startswith("undocumented")]
    # With 5 retries of 10 % faults a failure has odds of 1e-6 per call.
    assert report.succeeded == CALLS
    assert report.corrupt_outputs == 0
    # The faults really happened, every kind of them, and each cost exactly one retry.
    assert set(report.faults) == {str(kind) for kind in FAULT_KINDS}
    assert 0.04 < report.faults_injected / report.requests < 0.2
    assert report.requests == report.calls + report.retries
    assert report.retries == report.faults_injected
    assert report.by_status["200"] - report.faults["truncate"] == report.succeeded
    assert report.max_in_flight > 1
    # Re-running with overwrite=False calls nothing and reports every output as kept.
    assert report.rerun_items == CALLS
    assert report.rerun_skipped == CALLS
    assert report.rerun_requests == 0


def test_soak_counts_exhausted_retries_as_documented_errors(emulator: EmulatorServer, tmp_path: Path) -> None:
    report = run_soak(
        tmp_path, calls=60, rate=0.6, concurrency=8, seed=SEED, max_retries=1, emulator=emulator
    )

    assert report.problems == [], report.format()
    assert report.failures.total() > 0
    assert set(report.failures) <= {
        "VyroConnectionError",
        "VyroRateLimitError",
        "VyroServerError",
        "VyroResponseError",
    }
    assert report.succeeded + report.failures.total() == 60
    assert report.corrupt_outputs == 0
    assert report.requests == report.succeeded + report.faults_injected
    assert report.rerun_items == report.succeeded
    assert report.rerun_requests == 0
