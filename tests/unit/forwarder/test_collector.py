"""The forwarder tunes Python's garbage collector at start: start-up objects frozen, fewer passes."""

from __future__ import annotations

import gc

from driftloop_forwarder.core import tune_collector
from driftloop_forwarder.settings import ForwardSettings


def test_the_collector_is_tuned_and_zero_keeps_the_default() -> None:
    before = gc.get_threshold()
    try:
        tune_collector(ForwardSettings().gc_gen0_threshold)
        assert gc.get_threshold() == (50_000, *before[1:])
        assert gc.get_freeze_count() > 0
        gc.set_threshold(*before)
        tune_collector(0)
        assert gc.get_threshold() == before
    finally:
        gc.set_threshold(*before)
        gc.unfreeze()
