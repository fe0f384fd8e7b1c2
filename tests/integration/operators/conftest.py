"""Fixtures of the operator tests."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest


@pytest.fixture
def logged(caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]) -> Callable[[], str]:
    """Read what the test logged so far, through logging or Airflow's structured log on stdout."""
    caplog.set_level(logging.DEBUG)
    return lambda: caplog.text + capsys.readouterr().out
