"""Shorter consumer fetch waits for Faust on the embedded broker (local profile only).

Faust's aiokafka driver asks for fetches that may wait up to 1.5 s for data. Apache Kafka answers
such a fetch as soon as a record arrives, but the embedded broker holds it for the whole wait, so
every stage event would sit up to 1.5 s before the processor sees it. This consumer class asks for
at most ``LOCAL_FETCH_MAX_WAIT_MS`` instead.
"""

from __future__ import annotations

from typing import Any

import faust
from faust.transport.drivers import aiokafka as driver

LOCAL_FETCH_MAX_WAIT_MS = 100


class _ShortFetchThread(driver.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        consumer._fetch_max_wait_ms = LOCAL_FETCH_MAX_WAIT_MS  # read when the consumer starts
        return consumer


class _ShortFetchConsumer(driver.Consumer):
    def _new_consumer_thread(self) -> driver.AIOKafkaConsumerThread:
        return _ShortFetchThread(self, loop=self.loop, beacon=self.beacon)


def use_short_fetch_waits(app: faust.App) -> None:
    """Make ``app``'s worker consumer ask for short fetch waits (creates no connection)."""
    app.transport.Consumer = _ShortFetchConsumer  # type: ignore[misc]
