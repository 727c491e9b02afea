"""The backfill reads skipped stage events from the real broker, in order, bounded per batch."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from senae_tracking.services.processor import backfill, workload
from senae_tracking.services.processor.backfill import Backfill
from senae_tracking.services.processor.pipeline import Record
from senae_tracking.shared import topics
from senae_tracking.shared.settings import Settings
from senae_tracking.shared.topiclog import read_records

from .conftest import produce

pytestmark = pytest.mark.integration


def test_skipped_records_are_read_back_in_offset_order(private_settings: Settings,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    events = workload.interleaved(20)
    produce(private_settings, topics.STAGE_EVENTS.name, [(e["shipment_id"], e) for e in events])
    logged = [Record(r.topic, r.partition, r.offset, r.timestamp / 1000, r.value)
              for r in read_records(private_settings, topics.STAGE_EVENTS.name)]
    by_partition: dict[int, list[Record]] = {}
    for record in logged:
        by_partition.setdefault(record.partition, []).append(record)
    zero, one = by_partition[0], by_partition[1]
    processed: dict[str, Any] = {f"{topics.STAGE_EVENTS.name}:0": {"wm": 2, "counts": {}}}
    # Partition 0 was processed up to offset 2 and Faust now hands over 10 and 11 with a hole in
    # between; partition 1 is complete.
    delivered = [zero[10], zero[11], *one[:3]]
    complete = asyncio.run(Backfill(private_settings).complete(delivered, processed.get))
    assert [r for r in complete if r.partition == 0] == zero[3:12]
    assert [r for r in complete if r.partition == 1] == one[:3]

    monkeypatch.setattr(backfill, "MAX_FILL", 4)
    capped = asyncio.run(Backfill(private_settings).complete(delivered, processed.get))
    assert [r for r in capped if r.partition == 0] == zero[3:7], "the rest comes with later batches"
