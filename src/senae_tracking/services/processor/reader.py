"""Read given partitions between offsets with a group-less aiokafka consumer (used at recovery)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from senae_tracking.shared.settings import Settings


def consumer(settings: Settings) -> AIOKafkaConsumer:
    """A consumer outside any group, with short fetch waits (the embedded broker holds fetches)."""
    return AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, enable_auto_commit=False,
                            auto_offset_reset="earliest", fetch_max_wait_ms=50)


Ranges = Mapping[TopicPartition, tuple[int | None, int | None]]


async def read_partitions(source: AIOKafkaConsumer, ranges: Ranges, timeout: float
                          ) -> tuple[dict[TopicPartition, list[Any]], dict[TopicPartition, int]]:
    """Records of each partition from ``start`` (None: its reported end) to before ``stop`` (None:
    its end), and each partition's end as the fetch high watermark gave it (ListOffsets is wrong
    on the embedded broker). Raises TimeoutError when the reads take longer than ``timeout``."""
    source.assign(list(ranges))
    for tp, (start, _stop) in ranges.items():
        if start is None:
            await source.seek_to_end(tp)
        else:
            source.seek(tp, start)
    found: dict[TopicPartition, list[Any]] = {tp: [] for tp in ranges}
    ends: dict[TopicPartition, int] = {}
    pending = set(ranges)
    deadline = time.monotonic() + timeout
    while pending:
        if time.monotonic() > deadline:
            raise TimeoutError(f"partitions not read to their end: {sorted(pending)}")
        fetched = await source.getmany(*pending, timeout_ms=200)
        for tp, records in fetched.items():
            stop = ranges[tp][1]
            found[tp] += [r for r in records if stop is None or r.offset < stop]
        for tp in list(pending):
            end = source.highwater(tp)
            position = await source.position(tp)
            stop = ranges[tp][1]
            if end is not None and position >= end:
                ends[tp] = end
            if (stop is not None and position >= stop) or tp in ends:
                pending.discard(tp)
    return found, ends
