"""The notifier's core: turn one ``senae.stage-advanced`` message into recorded deliveries.

:meth:`Notifier.handle` returns only when every notification of the stage change has a recorded
outcome (sent, failed for good, dead-lettered or skipped), so the consumer may then commit its
offset. Recipients are sent to concurrently, each with its own retries, so a slow or failing
recipient does not hold the others back. Database calls run in a worker thread and are batched.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, Protocol, TypeVar

from senae_tracking.services.notifier.domain import (
    Recipient,
    SendError,
    backoff_delay,
    is_stale,
    plan_recipients,
    shipment_refs,
)
from senae_tracking.services.notifier.mail import SmtpSender, build_message
from senae_tracking.services.notifier.render import render
from senae_tracking.services.notifier.sms import SmsSender
from senae_tracking.services.notifier.tokens import sign_unsubscribe
from senae_tracking.shared.contract import parse_time
from senae_tracking.shared.repository import DeliveryRow, NewDelivery, Outcome, Repository

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")


class DeadLetters(Protocol):
    """Where notifications that failed for good are published."""

    async def publish(self, event: Mapping[str, Any], row: DeliveryRow, reason: str, error: str,
                      attempts: int) -> None:
        """Publish one dead letter (idempotent: same event id for the same delivery)."""
        ...


@dataclass(frozen=True)
class NotifierConfig:
    """Policy and links, from the settings."""

    mail_from: str
    public_url: str
    notifier_url: str
    secret_key: str
    horizon_seconds: int = 21600
    max_attempts: int = 8
    retry_base_seconds: float = 1.0
    retry_max_seconds: float = 60.0


class Batcher(Generic[T, R]):
    """Collects items from many coroutines and hands them to a blocking function in one call.

    While one call runs in the worker thread, new items queue up and go together in the next, so
    batches grow with load and cost nothing when idle.
    """

    def __init__(self, run: Callable[[Callable[[], R]], Awaitable[R]], fn: Callable[[list[T]], R],
                 max_items: int = 1000) -> None:
        self._run, self._fn, self._max = run, fn, max_items
        self._queue: list[tuple[list[T], asyncio.Future[R]]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def submit(self, items: list[T]) -> R:
        """Add ``items`` to the next batch; return the result of the call that processed them."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._loop())
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._queue.append((items, future))
        self._wake.set()
        return await future

    async def _loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                taken: list[tuple[list[T], asyncio.Future[R]]] = []
                count = 0
                while self._queue and (not taken or count + len(self._queue[0][0]) <= self._max):
                    entry = self._queue.pop(0)
                    taken.append(entry)
                    count += len(entry[0])
                batch = [item for items, _ in taken for item in items]
                try:
                    result = await self._run(lambda b=batch: self._fn(b))  # type: ignore[misc]
                except Exception as exc:
                    for _, future in taken:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                for _, future in taken:
                    if not future.done():
                        future.set_result(result)

    async def close(self) -> None:
        """Stop the batching task."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)


class Notifier:
    """Delivers the notifications of stage changes exactly once per recipient and channel."""

    def __init__(self, repository: Repository, mail: SmtpSender | None, sms: SmsSender,
                 dead_letters: DeadLetters, config: NotifierConfig, *, db_threads: int = 1,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.repository = repository
        self.mail = mail
        self.sms = sms
        self.dead_letters = dead_letters
        self.config = config
        self.clock = clock
        self._executor = ThreadPoolExecutor(max_workers=db_threads, thread_name_prefix="notifier-db")
        self._plans: Batcher[NewDelivery, list[DeliveryRow]] = Batcher(self._db, repository.plan_deliveries)
        self._outcomes: Batcher[Outcome, None] = Batcher(self._db, repository.record_outcomes)
        self._active: dict[str, asyncio.Future[None]] = {}
        self._rng = random.Random()
        self.sent = 0

    async def _db(self, fn: Callable[[], R]) -> R:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    async def handle(self, event: Mapping[str, Any]) -> None:
        """Notify every matching subscriber of a valid stage-advanced message; return when recorded.

        A second copy of a stage change already being handled in this process waits for the first.
        """
        event_id = str(event["event_id"])
        running = self._active.get(event_id)
        if running is not None:
            await asyncio.shield(running)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._active[event_id] = future
        try:
            await self._handle(event)
            future.set_result(None)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved here so that an unawaited failure is not reported twice
            raise
        finally:
            del self._active[event_id]

    async def _handle(self, event: Mapping[str, Any]) -> None:
        code = str(event["stage"])
        subscriptions = await self._db(lambda: self.repository.matching_subscriptions(
            shipment_refs(event), event.get("ruc_importador"), event.get("ruc_agente")))
        recipients = plan_recipients(code, subscriptions)
        if not recipients:
            return
        stale = is_stale(parse_time(str(event["occurred_at"])), self.clock(), self.config.horizon_seconds)
        wanted = [
            NewDelivery(event_id=str(event["event_id"]), recipient=r.address, channel=r.channel,
                        shipment_id=str(event["shipment_id"]), subscription_id=r.subscription_id, lang=r.lang,
                        status="SKIPPED" if stale else "PENDING",
                        error="older than the replay horizon" if stale else None)
            for r in recipients
        ]
        if stale:
            log.info("stage change %s is older than the horizon: recorded as skipped", event["event_id"])
        ids = {w.id for w in wanted}
        claimed = [row for row in await self._plans.submit(wanted) if row.id in ids]
        by_key = {(r.channel, r.address): r for r in recipients}
        subs = {s.id: s for s in subscriptions}
        await asyncio.gather(*(
            self._deliver(event, row, by_key[(row.channel, row.recipient)],
                          subs[by_key[(row.channel, row.recipient)].subscription_id].ruc)
            for row in claimed if (row.channel, row.recipient) in by_key
        ))

    async def _deliver(self, event: Mapping[str, Any], row: DeliveryRow, recipient: Recipient,
                       ruc: str) -> None:
        attempt = row.attempts
        while True:
            try:
                provider_id, status = await self._send(event, row, recipient, ruc)
            except SendError as exc:
                error = str(exc)
                if not exc.transient or attempt >= self.config.max_attempts:
                    reason = "PERMANENT" if not exc.transient else "RETRIES_EXHAUSTED"
                    log.warning("notification %s to %s failed for good (%s): %s",
                                row.id, row.recipient, reason, error)
                    await self._dead_letter(event, row, reason, error, attempt)
                    status = "FAILED" if not exc.transient else "DEAD"
                    await self._outcomes.submit([Outcome(row.id, status, attempt, error=error)])
                    return
                delay = backoff_delay(attempt, self.config.retry_base_seconds,
                                      self.config.retry_max_seconds, self._rng)
                log.info("notification %s attempt %d failed (%s); retrying in %.1f s",
                         row.id, attempt, error, delay)
                await self._outcomes.submit([Outcome(row.id, "RETRYING", attempt, error=error)])
                await asyncio.sleep(delay)
                attempt += 1
                await self._outcomes.submit([Outcome(row.id, "SENDING", attempt, error=error)])
                continue
            await self._outcomes.submit([Outcome(row.id, status, attempt, provider_id=provider_id)])
            self.sent += 1
            return

    async def _send(self, event: Mapping[str, Any], row: DeliveryRow, recipient: Recipient,
                    ruc: str) -> tuple[str, str]:
        token = sign_unsubscribe(self.config.secret_key, recipient.subscription_id)
        unsubscribe = f"{self.config.notifier_url}/unsubscribe?token={token}"
        rendered = render(event, lang=row.lang, name=recipient.name, ruc=ruc,
                          public_url=self.config.public_url, unsubscribe_link=unsubscribe)
        if row.channel == "EMAIL":
            if self.mail is None:
                raise SendError("SENAE_SMTP_URL is not set", transient=False)
            message = build_message(rendered, mail_from=self.config.mail_from, to_address=row.recipient,
                                    to_name=recipient.name, message_id=row.id, unsubscribe_url=unsubscribe,
                                    lang=row.lang)
            return await self.mail.send(message), "SENT"
        provider_id = await self.sms.send(row.recipient, rendered.sms)
        return provider_id, ("LOGGED" if provider_id.startswith("log-") else "SENT")

    async def _dead_letter(self, event: Mapping[str, Any], row: DeliveryRow, reason: str, error: str,
                           attempts: int) -> None:
        attempt = 0
        while True:
            try:
                await self.dead_letters.publish(event, row, reason, error, max(1, attempts))
                return
            except Exception as exc:  # the broker is down: keep the record open and try again
                attempt += 1
                delay = backoff_delay(attempt, self.config.retry_base_seconds, self.config.retry_max_seconds)
                log.error("dead letter for %s not published (%s); retrying in %.1f s", row.id, exc, delay)
                await asyncio.sleep(delay)

    async def close(self) -> None:
        """Stop the batchers and the database thread."""
        await self._plans.close()
        await self._outcomes.close()
        self._executor.shutdown(wait=True)

