"""`shop serve` tunes the garbage collector before serving."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from shop.cli.serve import YOUNG_GENERATION_THRESHOLD, tune_garbage_collection


@pytest.fixture
def collector() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


@pytest.mark.usefixtures("collector")
def test_start_up_objects_are_frozen_and_young_ones_collected_less_often() -> None:
    _, older, oldest = gc.get_threshold()
    built_at_start = [[n] for n in range(1000)]  # lists: tracked by the collector

    tune_garbage_collection()

    assert gc.get_threshold() == (YOUNG_GENERATION_THRESHOLD, older, oldest)
    assert gc.get_freeze_count() >= len(built_at_start)
