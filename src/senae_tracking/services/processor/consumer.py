"""The processor's Faust consumer: a rewind Faust's recovery counts on, and shorter fetch waits.

**Rewind to the start of never-committed partitions (every profile).** When a worker finishes
recovering its tables it seeks its source partitions "to committed offsets", so that records
fetched while it recovered and then dropped from Faust's queues are fetched again. aiokafka's
``seek_to_committed`` does not move a partition whose group has committed nothing yet (or 0), so
after a restart that came before the first commit, those dropped records were simply skipped
(measured: a worker killed before its first commit, restarted, lost records 250-322 of every
partition). This consumer seeks such partitions to their beginning, which is what the
``earliest`` reset means; records fetched twice are redeliveries the agents already treat as
no-ops.

**Short fetch waits (``local`` profile only).** Faust's aiokafka driver asks for fetches that may
wait up to 1.5 s for data. Apache Kafka answers such a fetch as soon as a record arrives, but the
embedded broker holds it for the whole wait, so every stage event would sit up to 1.5 s before the
processor sees it. The local consumer asks for at most ``LOCAL_FETCH_MAX_WAIT_MS`` instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import faust
from aiokafka import TopicPartition
from faust.transport.drivers import aiokafka as driver

LOCAL_FETCH_MAX_WAIT_MS = 100


class _Thread(driver.AIOKafkaConsumerThread):
    short_fetch_waits = False

    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        if self.short_fetch_waits:
            consumer._fetch_max_wait_ms = LOCAL_FETCH_MAX_WAIT_MS  # read when the consumer starts
        return consumer

    async def seek_to_committed(self) -> Mapping[TopicPartition, int]:
        """Seek to committed offsets, and partitions with none to their beginning."""
        return await self.call_thread(self._seek_to_committed_or_beginning)

    async def _seek_to_committed_or_beginning(self) -> Mapping[TopicPartition, int]:
        consumer = self._ensure_consumer()
        committed: Mapping[TopicPartition, int] = await consumer.seek_to_committed()
        never = [tp for tp, offset in committed.items() if not offset or offset <= 0]
        if never:
            await consumer.seek_to_beginning(*never)
        return committed


class _LocalThread(_Thread):
    short_fetch_waits = True


class _Consumer(driver.Consumer):
    def _new_consumer_thread(self) -> driver.AIOKafkaConsumerThread:
        return _Thread(self, loop=self.loop, beacon=self.beacon)


class _LocalConsumer(driver.Consumer):
    def _new_consumer_thread(self) -> driver.AIOKafkaConsumerThread:
        return _LocalThread(self, loop=self.loop, beacon=self.beacon)


def use_processor_consumer(app: faust.App, *, short_fetch_waits: bool) -> None:
    """Give ``app``'s worker this module's consumer (creates no connection)."""
    app.transport.Consumer = _LocalConsumer if short_fetch_waits else _Consumer  # type: ignore[misc]
