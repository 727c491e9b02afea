"""Finding records Faust skipped: holes after the processed offset or inside a batch."""

from __future__ import annotations

from typing import Any

from senae_tracking.services.processor.backfill import holes
from senae_tracking.services.processor.pipeline import Record


def batch(partition: int, *offsets: int) -> list[Record]:
    return [Record("t", partition, o, None, b"{}") for o in offsets]


def snapshots(**wm: int) -> Any:
    return lambda source: {"wm": wm[f"p{source.rsplit(':', 1)[1]}"], "counts": {}} \
        if f"p{source.rsplit(':', 1)[1]}" in wm else None


def test_a_batch_that_follows_on_has_no_hole() -> None:
    assert holes(batch(0, 5, 6, 7) + batch(1, 0, 1), snapshots(p0=4)) == {}


def test_redelivered_records_are_not_holes() -> None:
    assert holes(batch(0, 2, 3, 4, 5), snapshots(p0=4)) == {}


def test_a_jump_after_the_processed_offset_is_a_hole() -> None:
    assert holes(batch(0, 9, 10), snapshots(p0=4)) == {("t", 0): (5, 11)}


def test_a_hole_inside_the_batch_and_one_before_the_first_record() -> None:
    assert holes(batch(0, 5, 7, 8), snapshots(p0=4)) == {("t", 0): (6, 9)}
    assert holes(batch(3, 2, 3), snapshots()) == {("t", 3): (0, 4)}
