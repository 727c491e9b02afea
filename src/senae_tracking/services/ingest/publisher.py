"""Kafka adapter of the ingest service: publish validated stage events and wait for every ack.

One kafka-python producer (acks=all, idempotent, gzip; built by ``shared.kafka.make_producer``)
is created lazily on first use, never at import. ``publish`` sends a group of events keyed by
shipment id, in the given order, and returns only when the broker acknowledged every one.

What is guaranteed when the broker fails (kafka-python has no way to take back a sent record):

- a cheap reachability check (a TCP connection to a bootstrap server, at most once a second)
  runs before sending, so with the broker down nothing is sent and the caller answers 503 at once;
- if any acknowledgement fails or does not arrive within the deadline, the producer is closed
  without flushing, so records still waiting in its buffer are dropped rather than delivered later
  behind the caller's back; a new producer is built on the next call;
- records already acknowledged when a batch fails stay in the log (:class:`BrokerUnavailable`
  lists their ids). A client retrying the batch re-sends the same event ids, which the processor
  drops as duplicates, so no half-applied batch ever reaches shipment state or notifications.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from kafka import KafkaProducer
from kafka.errors import KafkaError

from senae_tracking.shared.kafka import make_producer
from senae_tracking.shared.settings import Settings
from senae_tracking.shared.topics import STAGE_EVENTS

log = logging.getLogger(__name__)

#: Seconds to wait for all acknowledgements of one publish before giving up (503).
PUBLISH_TIMEOUT = 15.0
#: Seconds a successful reachability check is trusted.
REACHABILITY_TTL = 1.0


class BrokerUnavailable(RuntimeError):
    """The broker did not acknowledge every event; ``acknowledged`` holds those it did."""

    def __init__(self, reason: str, acknowledged: Sequence[str] = ()) -> None:
        self.acknowledged = list(acknowledged)
        super().__init__(reason)


class Publisher:
    """Publishes stage events to ``senae.stage-events.v1``, keyed by shipment id."""

    def __init__(
        self, settings: Settings, *, topic: str = STAGE_EVENTS.name,
        timeout: float = PUBLISH_TIMEOUT,
        producer_factory: Callable[..., KafkaProducer] = make_producer,
    ) -> None:
        self.settings = settings
        self.topic = topic
        self.timeout = timeout
        self._factory = producer_factory
        self._producer: KafkaProducer | None = None
        self._lock = threading.Lock()
        self._reachable_at = 0.0

    def reachable(self) -> bool:
        """True if some bootstrap server accepts a TCP connection (cached for a second)."""
        if time.monotonic() - self._reachable_at < REACHABILITY_TTL:
            return True
        for server in self.settings.bootstrap_servers:
            host, _, port = server.rpartition(":")
            try:
                socket.create_connection((host, int(port)), timeout=1.0).close()
            except OSError:
                continue
            self._reachable_at = time.monotonic()
            return True
        return False

    def _get_producer(self) -> KafkaProducer:
        with self._lock:
            if self._producer is None:
                request_ms = int(min(self.timeout, 10.0) * 1000)
                self._producer = self._factory(
                    self.settings, request_timeout_ms=request_ms, max_block_ms=request_ms,
                    delivery_timeout_ms=int(self.timeout * 1000) + 10,
                )
            return self._producer

    def _abort(self, producer: KafkaProducer) -> None:
        """Close ``producer`` dropping what it still buffers, and forget it."""
        with self._lock:
            if self._producer is producer:
                self._producer = None
        self._reachable_at = 0.0
        try:
            producer.close(timeout=0)
        except KafkaError:
            # close() flushes first, which cannot finish with the broker gone; stop the sender
            # thread without sending, so buffered records are never delivered after our 503.
            sender = getattr(producer, "_sender", None)
            if sender is not None:
                sender.force_close()

    def ready(self) -> bool:
        """True if the broker answers and the topic's partitions are known."""
        if not self.reachable():
            return False
        try:
            return bool(self._get_producer().partitions_for(self.topic))
        except (KafkaError, OSError) as exc:
            log.warning("broker not ready: %s", exc)
            return False

    def publish(self, events: Sequence[dict[str, Any]]) -> list[str]:
        """Send ``events`` in order, keyed by shipment id; return their ids once all are acked.

        Raises :class:`BrokerUnavailable` if the broker is unreachable or any ack fails.
        """
        if not events:
            return []
        if not self.reachable():
            raise BrokerUnavailable("no bootstrap server accepts connections")
        try:
            producer = self._get_producer()
        except (KafkaError, OSError) as exc:
            self._reachable_at = 0.0
            raise BrokerUnavailable(f"cannot connect to the broker: {exc}") from exc
        deadline = time.monotonic() + self.timeout
        futures = []
        try:
            for event in events:
                futures.append(producer.send(self.topic, value=event, key=event["shipment_id"]))
            producer.flush(timeout=max(0.0, deadline - time.monotonic()))
        except (KafkaError, OSError) as exc:
            acked = [e["event_id"] for e, f in zip(events, futures, strict=False)
                     if f.is_done and f.succeeded()]
            self._abort(producer)
            raise BrokerUnavailable(f"publishing failed: {exc}", acked) from exc
        failed = [f.exception for f in futures if not f.succeeded()]
        if failed:
            acked = [e["event_id"] for e, f in zip(events, futures, strict=True) if f.succeeded()]
            self._abort(producer)
            raise BrokerUnavailable(f"{len(failed)} of {len(events)} not acknowledged: {failed[0]}",
                                    acked)
        return [str(e["event_id"]) for e in events]

    def close(self) -> None:
        """Flush what is pending (briefly) and close the producer, if one was created."""
        with self._lock:
            producer, self._producer = self._producer, None
        if producer is not None:
            try:
                producer.close(timeout=5)
            except KafkaError:
                self._abort(producer)

