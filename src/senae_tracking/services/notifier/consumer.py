"""The Kafka side of the notifier: consume ``senae.stage-advanced.v1`` with aiokafka, commit in order.

Records are handled concurrently (up to ``max_in_flight``); a partition's offset is committed only
up to the longest prefix of records whose outcomes are recorded, so a crash at any point loses
nothing and the delivery log turns the redelivered records into no-ops. Invalid messages are logged
with the field and rule they break and then passed over (they stay in the topic for inspection).
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError

from senae_tracking.services.notifier.domain import OffsetTracker, PartitionState, backoff_delay
from senae_tracking.services.notifier.service import Notifier
from senae_tracking.shared import contract
from senae_tracking.shared.kafka import aiokafka_consumer_options
from senae_tracking.shared.settings import Settings
from senae_tracking.shared.topics import STAGE_ADVANCED

log = logging.getLogger(__name__)

DEFAULT_GROUP = "senae-notifier"


class _Rebalance(ConsumerRebalanceListener):
    def __init__(self, loop: NotifierConsumer) -> None:
        self.loop = loop

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        await self.loop.commit()
        self.loop.tracker.forget(revoked)

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        log.info("assigned %d partition(s) of %s", len(assigned), STAGE_ADVANCED.name)


class NotifierConsumer:
    """Reads stage changes and hands each to the :class:`Notifier`; commits finished prefixes."""

    def __init__(self, settings: Settings, notifier: Notifier, *, group_id: str = DEFAULT_GROUP,
                 max_in_flight: int = 2000, stop_grace_seconds: float = 10.0) -> None:
        self.settings = settings
        self.notifier = notifier
        self.group_id = group_id
        self.max_in_flight = max_in_flight
        self.stop_grace_seconds = stop_grace_seconds
        self.tracker = OffsetTracker()
        self._consumer: AIOKafkaConsumer | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._paused = False
        self.ready = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until ``stop`` is set; then finish in-flight work (bounded) and commit."""
        consumer = AIOKafkaConsumer(
            group_id=self.group_id, client_id="senae-notifier", max_poll_records=500,
            # Alerts are latency-sensitive, and a broker that does not wake a waiting fetch when
            # data arrives (the embedded one) would otherwise add up to 500 ms per record.
            **{**aiokafka_consumer_options(self.settings), "fetch_max_wait_ms": 100},
        )
        consumer.subscribe([STAGE_ADVANCED.name], listener=_Rebalance(self))
        self._consumer = consumer
        await consumer.start()
        log.info("notifier consuming %s as group %s", STAGE_ADVANCED.name, self.group_id)
        try:
            while not stop.is_set():
                self._flow_control(consumer)
                batches = await consumer.getmany(timeout_ms=200, max_records=500)
                if batches:
                    self.ready.set()
                for tp, records in batches.items():
                    for record in records:
                        self._spawn(tp, record)
                if consumer.assignment():
                    self.ready.set()
                await self.commit()
        finally:
            await self._drain()
            await self.commit()
            await consumer.stop()
            self._consumer = None

    def _flow_control(self, consumer: AIOKafkaConsumer) -> None:
        busy = self.tracker.in_flight() >= self.max_in_flight
        if busy and not self._paused:
            consumer.pause(*consumer.assignment())
            self._paused = True
        elif not busy and self._paused:
            consumer.resume(*consumer.paused())
            self._paused = False

    def _spawn(self, tp: TopicPartition, record: ConsumerRecord[Any, Any]) -> None:
        state = self.tracker.start(tp, record.offset)
        task = asyncio.create_task(self._process(state, record))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _process(self, state: PartitionState, record: ConsumerRecord[Any, Any]) -> None:
        message = self._decode(record)
        attempt = 0
        while message is not None:
            try:
                await self.notifier.handle(message)
                break
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # e.g. database down: keep the record, retry, never skip it
                attempt += 1
                delay = backoff_delay(attempt, 0.5, 30.0)
                log.error("stage change %s not handled (%s: %s); retrying in %.1f s",
                          message.get("event_id"), type(exc).__name__, exc, delay)
                await asyncio.sleep(delay)
        self.tracker.finish(state, record.offset)

    @staticmethod
    def _decode(record: ConsumerRecord[Any, Any]) -> dict[str, Any] | None:
        where = f"{record.topic}[{record.partition}]@{record.offset}"
        try:
            message = json.loads(record.value) if record.value is not None else None
        except (ValueError, UnicodeDecodeError) as exc:
            log.error("mensaje inválido / invalid message at %s: not JSON (%s)", where, exc)
            return None
        issues = contract.validate(contract.STAGE_ADVANCED, message)
        if issues:
            details = "; ".join(f"{i.field}: {i.message}" for i in issues)
            log.error("mensaje inválido / invalid message at %s: %s", where, details)
            return None
        assert isinstance(message, dict)
        return message

    async def commit(self) -> None:
        """Commit every partition's finished prefix (only partitions still assigned)."""
        consumer = self._consumer
        if consumer is None:
            return
        assigned = consumer.assignment()
        offsets = {tp: offset for tp, offset in self.tracker.committable().items() if tp in assigned}
        if not offsets:
            return
        try:
            await consumer.commit(offsets)
        except (CommitFailedError, IllegalStateError, KafkaError) as exc:
            # A rebalance took the partitions: their records will be redelivered to the new owner,
            # and the delivery log makes that harmless.
            log.warning("offset commit failed (%s); records will be redelivered", exc)

    async def _drain(self) -> None:
        if not self._tasks:
            return
        _done, pending = await asyncio.wait(set(self._tasks), timeout=self.stop_grace_seconds)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        if pending:
            log.info("stopped with %d stage change(s) unfinished; they will be redelivered", len(pending))
