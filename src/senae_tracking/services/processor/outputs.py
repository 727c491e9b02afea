"""The output adapter: one aiokafka producer for the processor's records and changelog writes.

Faust's own producer is limited to one record per batch in the ``local`` profile, because the
embedded broker answers end offsets with the base offset of the *last batch* + 1 and a changelog
recovered that way would stop short. Sending every output and state record one per batch caps
throughput, so this producer builds one batch per partition and, in the ``local`` profile, ends
each burst of changelog writes with one tombstone per touched partition, sent as a batch of its
own after the burst is acknowledged: the last batch then holds exactly one record, the reported
end offset is right, and the tombstone of a key no entry uses deletes nothing. On Apache Kafka no
marker is written.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import murmur2
from mode import Service

from senae_tracking.shared.kafka import aiokafka_producer_options
from senae_tracking.shared.settings import Settings

#: Key of the end-of-burst tombstones (never a table key: shipment ids start alphanumeric).
END_MARKER = b"\x00end"


class Outputs(Service):
    """Batched sends that the caller awaits until the broker acknowledged every record."""

    def __init__(self, settings: Settings, *, end_markers: bool, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.settings = settings
        self.end_markers = end_markers
        self._producer: AIOKafkaProducer | None = None
        self._partitions: dict[str, list[int]] = {}
        self._lock = asyncio.Lock()

    async def _ensure(self) -> AIOKafkaProducer:
        async with self._lock:
            if self._producer is None:
                options = {**aiokafka_producer_options(self.settings), "linger_ms": 2,
                           "max_batch_size": 1024 * 1024, "request_timeout_ms": 30000}
                producer = AIOKafkaProducer(**options)
                await producer.start()
                self._producer = producer
            return self._producer

    async def on_stop(self) -> None:
        """Flush the producer. It is not closed: the worker stops its services before the app, whose
        agents may still finish a batch through it; the process exit releases it."""
        if self._producer is not None:
            await self._producer.flush()

    async def _partition(self, producer: AIOKafkaProducer, topic: str, key: bytes) -> int:
        partitions = self._partitions.get(topic)
        if partitions is None:
            partitions = sorted(await producer.partitions_for(topic))
            self._partitions[topic] = partitions
        # The Java client's (and aiokafka's, kafka-python's) default partitioner.
        return partitions[(murmur2(key) & 0x7FFFFFFF) % len(partitions)]

    async def send(self, records: list[tuple[str, bytes, bytes | None, int | None]]
                   ) -> dict[tuple[str, int], int]:
        """Send (topic, key, value, partition) records; return once all are acknowledged.

        Records are appended to one batch per partition (cheaper than one ``send`` each); a
        partition of None means the key's default partition. Returns, per (topic, partition)
        written, the offset after the last record written there.
        """
        if not records:
            return {}
        producer = await self._ensure()
        batches: dict[tuple[str, int], list[Any]] = {}
        futures = []
        for topic, key, value, partition in records:
            if partition is None:
                partition = await self._partition(producer, topic, key)
            open_batches = batches.setdefault((topic, partition), [])
            if not open_batches or open_batches[-1].append(key=key, value=value, timestamp=None) is None:
                batch = producer.create_batch()
                batch.append(key=key, value=value, timestamp=None)
                open_batches.append(batch)
        sizes = []
        for (topic, partition), built in batches.items():
            for batch in built:
                batch.close()
                sizes.append(batch.record_count())
                futures.append(await producer.send_batch(batch, topic, partition=partition))
        ends: dict[tuple[str, int], int] = {}
        for size, meta in zip(sizes, await asyncio.gather(*futures), strict=True):
            written = (meta.topic, meta.partition)
            ends[written] = max(meta.offset + size, ends.get(written, 0))
        return ends

    async def write_changelog(self, entries: list[tuple[str, bytes, bytes | None, int | None]]) -> None:
        """Write (changelog topic, key, value, partition) entries, acknowledged, then end markers."""
        await self.send(entries)
        if self.end_markers and entries:
            touched = sorted({(topic, partition) for topic, _k, _v, partition in entries})
            await self.send([(topic, END_MARKER, None, partition) for topic, partition in touched])
