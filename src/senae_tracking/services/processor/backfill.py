"""Stage events that Faust skipped, read straight from the topic so that no event is ever lost.

Faust drops records that sit in its queues when its flow stops (a rebalance, the end of a table
recovery) and relies on a later seek to fetch them again; :mod:`consumer` makes that seek happen
for never-committed partitions, but under load single records were still skipped (measured: the
restarted worker's batches jumped over 1 to 73 offsets of a partition). The stage agent knows, per
source partition, the last offset it processed (the counter snapshot's ``wm``, advanced for every
record, valid or not), so any hole between it and a batch's records, or inside the batch, is a
skip. Before planning, the batch is completed from the topic: from the first hole on, the
partition's records are read in offset order, at most :data:`MAX_FILL` at a time; the batch's own
records past that are dropped this time and filled in by the next batches.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from aiokafka import TopicPartition

from senae_tracking.services.processor import reader
from senae_tracking.services.processor.pipeline import Record, source_name
from senae_tracking.shared.settings import Settings

log = logging.getLogger(__name__)

#: Most records read into one batch to fill holes (bounds memory when a state is rebuilt).
MAX_FILL = 20000
#: Longest read; past it the batch fails and the worker restarts.
READ_TIMEOUT = 120.0


def holes(records: list[Record], snapshot: Callable[[str], dict[str, Any] | None]
          ) -> dict[tuple[str, int], tuple[int, int]]:
    """Per (topic, partition) with a hole: the first missing offset and the offset after the batch."""
    found: dict[tuple[str, int], tuple[int, int]] = {}
    by_partition: dict[tuple[str, int], list[int]] = {}
    for record in records:
        by_partition.setdefault((record.topic, record.partition), []).append(record.offset)
    for (topic, partition), offsets in by_partition.items():
        snap = snapshot(source_name(topic, partition))
        expected = int(snap["wm"]) + 1 if snap else 0
        for offset in sorted(offsets):
            if offset > expected:
                found[(topic, partition)] = (expected, max(offsets) + 1)
                break
            expected = max(expected, offset + 1)
    return found


class Backfill:
    """Completes batches whose records do not follow on from what was processed."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    async def complete(self, records: list[Record],
                       snapshot: Callable[[str], dict[str, Any] | None]) -> list[Record]:
        """``records`` with every skipped record before them, partition by partition in offset order."""
        gaps = holes(records, snapshot)
        if not gaps:
            return records
        log.warning("registros saltados, leídos del tópico / skipped records, read from the topic: %s",
                    {f"{t}:{p}": f"{start}-{stop - 1}" for (t, p), (start, stop) in gaps.items()})
        filled = await self._read(gaps)
        out = [r for r in records if (r.topic, r.partition) not in gaps]
        for tp, (start, _stop) in gaps.items():
            out += [r for r in records if (r.topic, r.partition) == tp and r.offset < start]
            out += filled[tp]
        return out

    async def _read(self, gaps: dict[tuple[str, int], tuple[int, int]]
                    ) -> dict[tuple[str, int], list[Record]]:
        ranges: dict[TopicPartition, tuple[int | None, int | None]] = {
            TopicPartition(t, p): (start, min(stop, start + MAX_FILL))
            for (t, p), (start, stop) in gaps.items()}
        consumer = reader.consumer(self.settings)
        await consumer.start()
        try:
            found, _ends = await reader.read_partitions(consumer, ranges, READ_TIMEOUT)
        finally:
            await consumer.stop()
        return {(tp.topic, tp.partition): [Record(r.topic, r.partition, r.offset, r.timestamp / 1000,
                                                  r.value or b"") for r in records]
                for tp, records in found.items()}
