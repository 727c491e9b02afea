"""Wiring: build the notifier's parts from the settings and run them (the only place that does).

``run_notifier`` runs the Kafka consumer and, unless disabled, the webhook app in the same event
loop, so that ``senae-tracking notifier run`` is the whole service in one process.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache

import uvicorn
from fastapi import FastAPI

from senae_tracking.services.notifier.consumer import DEFAULT_GROUP, NotifierConsumer
from senae_tracking.services.notifier.dlq import KafkaDeadLetters
from senae_tracking.services.notifier.mail import SmtpSender, parse_smtp_url
from senae_tracking.services.notifier.service import Notifier, NotifierConfig
from senae_tracking.services.notifier.sms import LoggingSmsSender, SmsSender, TwilioSender
from senae_tracking.services.notifier.webhooks import create_app
from senae_tracking.shared.db import make_engine
from senae_tracking.shared.repository import Repository
from senae_tracking.shared.settings import Settings

log = logging.getLogger(__name__)
_EPHEMERAL_KEY = secrets.token_urlsafe(32)


def secret_key(settings: Settings) -> str:
    """SENAE_SECRET_KEY, or a per-process key (with a warning) so that a bare local run still works."""
    if settings.secret_key is not None and settings.secret_key.get_secret_value():
        return settings.secret_key.get_secret_value()
    _warn_ephemeral_key()
    return _EPHEMERAL_KEY


@cache
def _warn_ephemeral_key() -> None:
    log.warning("SENAE_SECRET_KEY no definido / not set: unsubscribe links are valid until this process"
                " stops")


def sms_sender(settings: Settings) -> SmsSender:
    """Twilio when its three settings are set, else the logging stand-in."""
    token = settings.twilio_auth_token.get_secret_value() if settings.twilio_auth_token else None
    if settings.twilio_account_sid and token and settings.twilio_from:
        return TwilioSender(settings.twilio_account_sid, token, settings.twilio_from,
                            status_callback=f"{settings.notifier_base_url}/twilio/status",
                            base_url=settings.twilio_base_url)
    log.warning("Twilio no configurado / not configured: SMS are only written to the log")
    return LoggingSmsSender()


def build_notifier(settings: Settings, repository: Repository, *, smtp_connections: int = 8) -> Notifier:
    """The notifier core with its adapters."""
    mail = SmtpSender(parse_smtp_url(settings.smtp_url), smtp_connections) if settings.smtp_url else None
    if mail is None:
        log.warning("SENAE_SMTP_URL no definido / not set: e-mail notifications will fail")
    config = NotifierConfig(
        mail_from=settings.mail_from, public_url=settings.public_url, notifier_url=settings.notifier_base_url,
        secret_key=secret_key(settings), horizon_seconds=settings.notify_horizon_seconds,
        max_attempts=settings.notify_max_attempts, retry_base_seconds=settings.notify_retry_base_seconds,
        retry_max_seconds=settings.notify_retry_max_seconds,
    )
    threads = 1 if settings.database_url.startswith("sqlite") else 4
    return Notifier(repository, mail, sms_sender(settings), KafkaDeadLetters(settings), config,
                    db_threads=threads)


def build_webhooks(settings: Settings, repository: Repository) -> FastAPI:
    """The webhook app."""
    token = settings.twilio_auth_token.get_secret_value() if settings.twilio_auth_token else None
    return create_app(repository, secret_key=secret_key(settings),
                      public_base_url=settings.notifier_base_url, twilio_auth_token=token)


class _QuietServer(uvicorn.Server):
    """uvicorn without its own signal handling: the notifier decides when to stop."""

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _stop_on_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)


async def run_notifier(settings: Settings, *, webhooks: bool = True, host: str = "127.0.0.1",
                       port: int | None = None, group_id: str = DEFAULT_GROUP,
                       stop: asyncio.Event | None = None, smtp_connections: int = 8,
                       started: Callable[[NotifierConsumer], None] | None = None) -> None:
    """Run the consumer (and the webhook app) until SIGINT/SIGTERM, or until ``stop`` is set."""
    engine = make_engine(settings.database_url)
    repository = Repository(engine)
    notifier = build_notifier(settings, repository, smtp_connections=smtp_connections)
    consumer = NotifierConsumer(settings, notifier, group_id=group_id)
    if stop is None:
        stop = asyncio.Event()
        _stop_on_signals(stop)
    if started is not None:
        started(consumer)
    server: uvicorn.Server | None = None
    server_task: asyncio.Task[None] | None = None
    if webhooks:
        config = uvicorn.Config(build_webhooks(settings, repository), host=host,
                                port=port or settings.notifier_port, log_level="warning", lifespan="off")
        server = _QuietServer(config)
        server_task = asyncio.create_task(server.serve())
    try:
        await consumer.run(stop)
    finally:
        if server is not None and server_task is not None:
            server.should_exit = True
            await asyncio.gather(server_task, return_exceptions=True)
        await notifier.close()
        if notifier.mail is not None:
            await notifier.mail.close()
        await notifier.sms.close()
        if isinstance(notifier.dead_letters, KafkaDeadLetters):
            await asyncio.to_thread(notifier.dead_letters.close)
        engine.dispose()
        log.info("notifier stopped after %d notification(s) sent", notifier.sent)


async def run_webhooks(settings: Settings, *, host: str = "127.0.0.1", port: int | None = None) -> None:
    """Run only the webhook app until SIGINT/SIGTERM."""
    engine = make_engine(settings.database_url)
    config = uvicorn.Config(build_webhooks(settings, Repository(engine)), host=host,
                            port=port or settings.notifier_port, log_level="warning", lifespan="off")
    server = _QuietServer(config)
    stop = asyncio.Event()
    _stop_on_signals(stop)
    task = asyncio.create_task(server.serve())
    await asyncio.wait([task, asyncio.create_task(stop.wait())], return_when=asyncio.FIRST_COMPLETED)
    server.should_exit = True
    await asyncio.gather(task, return_exceptions=True)
    engine.dispose()
