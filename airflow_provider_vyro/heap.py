"""
The garbage collector during a run: the objects that exist before it are left out of its passes.

A run allocates a few objects per item, which now and then triggers a full pass of the cyclic
garbage collector over every object of the process: Airflow's, its providers' and the imported
modules', a few hundred thousand that a run neither makes nor frees. Each such pass costs
tens of milliseconds, a few times per thousand items. :func:`frozen` moves those objects out of
the collector's view for the run (:func:`gc.freeze`, as Airflow's executors do before they
fork) and gives them back after it (:func:`gc.unfreeze`); objects made during the run are
collected as usual.
"""

from __future__ import annotations

import contextlib
import gc
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator


@contextlib.contextmanager
def frozen() -> Iterator[None]:
    """
    Leave the objects that exist now out of the garbage collector's passes until the block ends.

    Nothing is done when objects are frozen already (the process froze them for its own reasons,
    or a run is under way in another thread): the block then leaves that state as it found it.
    """
    if gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


__all__ = ["frozen"]
