"""The collector during a run: objects made before it are left out of its passes, then given back."""

from __future__ import annotations

import gc

import pytest

from airflow_provider_vyro import heap


def test_objects_made_before_the_block_are_frozen_during_it_and_given_back_after() -> None:
    gc.unfreeze()  # nothing frozen before the block
    with heap.frozen():
        assert gc.get_freeze_count() > 0
    assert gc.get_freeze_count() == 0


def test_a_process_that_froze_its_objects_keeps_them_frozen() -> None:
    gc.freeze()
    try:
        with heap.frozen():
            pass
        assert gc.get_freeze_count() > 0, "the block does not unfreeze what it did not freeze"
    finally:
        gc.unfreeze()


def test_an_error_in_the_block_still_gives_the_objects_back() -> None:
    gc.unfreeze()
    with pytest.raises(RuntimeError), heap.frozen():
        raise RuntimeError("boom")
    assert gc.get_freeze_count() == 0
