"""The notifier core without Kafka: SMS fallback to the log, redelivery, missing SMTP settings."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest

from senae_tracking.services.notifier.service import Notifier, NotifierConfig
from senae_tracking.services.notifier.sms import LoggingSmsSender
from senae_tracking.shared.db import make_engine
from senae_tracking.shared.migrations import upgrade
from senae_tracking.shared.repository import DeliveryRow, Repository
from tests.support.notifier import stage_advanced, unique_ruc

pytestmark = pytest.mark.integration


class Letters:
    def __init__(self) -> None:
        self.published: list[tuple[str, str]] = []

    async def publish(self, event: Any, row: DeliveryRow, reason: str, error: str, attempts: int) -> None:
        self.published.append((row.recipient, reason))


@pytest.fixture
def repo(sqlite_url: str) -> Iterator[Repository]:
    upgrade(sqlite_url)
    engine = make_engine(sqlite_url)
    try:
        yield Repository(engine)
    finally:
        engine.dispose()


async def test_sms_without_twilio_are_logged_and_email_without_smtp_fails_for_good(
    repo: Repository, caplog: pytest.LogCaptureFixture,
) -> None:
    ruc = unique_ruc()
    repo.add_subscription(ruc=ruc, email="ops@acme.ec", phone="+593991234567")
    letters = Letters()
    config = NotifierConfig(mail_from="SENAE <no-reply@senae.example>", public_url="http://portal",
                            notifier_url="http://notifier", secret_key="k")
    notifier = Notifier(repo, None, LoggingSmsSender(), letters, config)
    event = stage_advanced(ruc_importador=ruc, stage="SALIDA_AUTORIZADA", previous_stage="PAGO", canal=None)
    try:
        with caplog.at_level(logging.INFO):
            await notifier.handle(event)
            await notifier.handle(event)  # redelivered: nothing more
    finally:
        await notifier.close()
    rows = {r.channel: r for r in repo.deliveries(event_id=event["event_id"])}
    assert rows["SMS"].status == "LOGGED" and rows["SMS"].attempts == 1
    assert rows["EMAIL"].status == "FAILED" and "SENAE_SMTP_URL" in (rows["EMAIL"].error or "")
    assert letters.published == [("ops@acme.ec", "PERMANENT")]
    logged = [r.getMessage() for r in caplog.records if "SMS not sent" in r.getMessage()]
    assert len(logged) == 1 and "+593991234567" in logged[0] and "Salida autorizada" in logged[0]
