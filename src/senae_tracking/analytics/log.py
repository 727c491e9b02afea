"""Read a topic from its first record to its current end (the high watermark), then stop."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

from kafka import TopicPartition

from senae_tracking.ops import high_watermarks
from senae_tracking.shared.kafka import make_consumer
from senae_tracking.shared.settings import Settings


def read_topic(settings: Settings, topic: str, idle_timeout: float = 10.0) -> Iterator[dict[str, Any]]:
    """Every record of ``topic`` present when the read starts, decoded from JSON."""
    consumer = make_consumer(settings, group_id=None, max_partition_fetch_bytes=4 << 20)
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
                        yield json.loads(record.value)
                if consumer.position(tp) >= ends[tp]:
                    pending.discard(tp)
                    consumer.pause(tp)
    finally:
        consumer.close()
