"""Read a topic from its first record to its current end (the high watermark), then stop.

End offsets come from fetch responses' high watermark, not from ListOffsets, because the embedded
broker answers ListOffsets with the base offset of the last record batch (DESIGN.md); the high
watermark is right on every Kafka-API broker.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

from kafka import KafkaConsumer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord

from senae_tracking.shared.kafka import make_consumer
from senae_tracking.shared.settings import Settings

#: A reachable broker answers at once; an unreachable one is reported after this (ms).
BOOTSTRAP_TIMEOUT_MS = 5000


def high_watermarks(consumer: KafkaConsumer, partitions: list[TopicPartition],
                    timeout: float = 5.0) -> dict[TopicPartition, int]:
    """End offset of each partition, as reported by fetch responses."""
    consumer.assign(partitions)
    for tp in partitions:
        consumer.seek(tp, 0)
    consumer.pause(*partitions)
    found: dict[TopicPartition, int] = {}
    deadline = time.monotonic() + timeout
    consumer.resume(*partitions)
    while len(found) < len(partitions) and time.monotonic() < deadline:
        consumer.poll(timeout_ms=200, max_records=1, update_offsets=False)
        for tp in partitions:
            mark = consumer.highwater(tp)
            if mark is not None:
                found[tp] = mark
    return found


def read_records(settings: Settings, topic: str, idle_timeout: float = 10.0) -> Iterator[ConsumerRecord]:
    """Every raw record of ``topic`` present when the read starts, partition by partition in order."""
    consumer = make_consumer(settings, group_id=None, max_partition_fetch_bytes=4 << 20,
                             bootstrap_timeout_ms=BOOTSTRAP_TIMEOUT_MS)
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])]
        if not partitions:
            raise LookupError(f"no such topic: {topic}")
        ends = high_watermarks(consumer, partitions)
        pending = {tp for tp in partitions if ends.get(tp, 0) > 0}
        consumer.assign(sorted(pending))
        for tp in pending:
            consumer.seek(tp, 0)
        last_progress = time.monotonic()
        while pending:
            batch = consumer.poll(timeout_ms=500, max_records=5000)
            if batch:
                last_progress = time.monotonic()
            elif time.monotonic() - last_progress > idle_timeout:
                raise TimeoutError(f"{topic}: no records for {idle_timeout:.0f} s before the end")
            for tp, records in batch.items():
                for record in records:
                    if tp in pending and record.offset < ends[tp]:
                        yield record
                if consumer.position(tp) >= ends[tp]:
                    pending.discard(tp)
                    consumer.pause(tp)
    finally:
        consumer.close()


def read_topic(settings: Settings, topic: str, idle_timeout: float = 10.0) -> Iterator[dict[str, Any]]:
    """Every record of ``topic`` present when the read starts, decoded from JSON."""
    for record in read_records(settings, topic, idle_timeout):
        yield json.loads(record.value)
