"""What a killed worker already emitted, so that its restarted successor does not send it again.

Without transactions (the embedded broker refuses them) a worker can die after the broker
acknowledged a batch's stage-advanced and anomaly records and before the state that makes their
re-processing a no-op was written. To close that window, every stage-counter snapshot carries
``out``: for each partition of the output topics, an offset at or below where the outputs of that
batch, and of any later one, start. The first time a worker meets a source partition (after start
or after a rebalance gave it the partition) it reads the output partitions from the snapshot's
offsets to their end and keeps the event ids it finds; planned outputs with one of those ids are
not sent again. Derived event ids are unique per source event and purpose, so nothing new is ever
held back. A source partition with no snapshot yet has its output partitions read from the start.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

import orjson
from aiokafka import TopicPartition

from senae_tracking.services.processor import reader
from senae_tracking.services.processor.pipeline import Send
from senae_tracking.shared.settings import Settings

log = logging.getLogger(__name__)

#: Longest read of the output topics; past it the batch fails and the worker restarts.
SCAN_TIMEOUT = 300.0


def _name(topic: str, partition: int) -> str:
    return f"{topic}:{partition}"


class EmittedLog:
    """Event ids already in the output topics' tails, and where those topics end."""

    def __init__(self, settings: Settings, output_topics: Iterable[str]) -> None:
        self.settings = settings
        self.output_topics = tuple(output_topics)
        self._scanned: set[str] = set()
        self._ids: set[str] = set()
        self._ends: dict[str, int] = {}

    def forget(self, sources: Iterable[str]) -> None:
        """Sources (re)assigned to this worker: read the outputs again before processing them."""
        self._scanned -= set(sources)
        if not self._scanned:
            self._ids.clear()

    async def prepare(self, sources: Iterable[str],
                      snapshot: Callable[[str], dict[str, Any] | None]) -> None:
        """Read the outputs that ``sources`` not yet met may have left after their last state."""
        new = set(sources) - self._scanned
        if not new:
            return
        starts: dict[str, int] = {}
        from_start = False
        for source in new:
            snap = snapshot(source)
            if snap is None or "out" not in snap:
                from_start = True
                continue
            for name, offset in snap["out"].items():
                starts[name] = min(offset, starts.get(name, offset))
        found = await self._read(starts, from_start)
        self._ids |= found
        self._scanned |= new
        log.info("salidas ya emitidas leídas / already emitted outputs read: %d ids for %s",
                 len(found), sorted(new))

    def unsent(self, sends: Iterable[Send]) -> list[Send]:
        """The planned outputs that are not in the output topics yet."""
        return [send for send in sends if send.event_id not in self._ids]

    def ends(self) -> dict[str, int]:
        """For each output partition, an offset at or below where the next output will land."""
        return dict(self._ends)

    def advance(self, acked: dict[tuple[str, int], int]) -> None:
        """Record the end offsets after acknowledged sends (other topics are ignored)."""
        for (topic, partition), end in acked.items():
            if topic in self.output_topics:
                name = _name(topic, partition)
                self._ends[name] = max(end, self._ends.get(name, 0))

    async def _read(self, starts: dict[str, int], from_start: bool) -> set[str]:
        """Event ids from the given offsets (every partition from 0 when ``from_start``) to the end.

        Partitions with no start are read from their reported end (a lower bound on the embedded
        broker), which also learns their true end from the fetch high watermark.
        """
        consumer = reader.consumer(self.settings)
        await consumer.start()
        try:
            await consumer.topics()
            ranges: dict[TopicPartition, tuple[int | None, int | None]] = {}
            for topic in self.output_topics:
                for partition in sorted(consumer.partitions_for_topic(topic) or ()):
                    start = 0 if from_start else starts.get(_name(topic, partition))
                    ranges[TopicPartition(topic, partition)] = (start, None)
            found, ends = await reader.read_partitions(consumer, ranges, SCAN_TIMEOUT)
        finally:
            await consumer.stop()
        for tp, end in ends.items():
            name = _name(tp.topic, tp.partition)
            self._ends[name] = max(end, self._ends.get(name, 0))
        ids = {_event_id(r.value) for records in found.values() for r in records}
        ids.discard("")
        return ids


def _event_id(value: bytes | None) -> str:
    try:
        message = orjson.loads(value or b"")
        return str(message.get("event_id", "")) if isinstance(message, dict) else ""
    except orjson.JSONDecodeError:
        return ""
