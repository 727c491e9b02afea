"""The notifier end to end on real parts: Tansu broker, SQLite and PostgreSQL, an aiosmtpd server and
a Twilio-compatible server on loopback; the notifier runs in-process (consumer + webhooks)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from kafka import KafkaConsumer

from senae_tracking.embedded.broker import free_port
from senae_tracking.shared.db import make_engine
from senae_tracking.shared.kafka import admin_client, make_producer
from senae_tracking.shared.migrations import upgrade
from senae_tracking.shared.repository import DeliveryRow, Repository
from senae_tracking.shared.settings import Settings
from senae_tracking.shared.topics import NOTIFICATIONS_DLQ, STAGE_ADVANCED, ensure_topics
from tests.support.notifier import NotifierThread, stage_advanced, unique_dai, unique_ruc
from tests.support.smtp import ReceivedMail, SmtpSink
from tests.support.twilio import FakeTwilio

pytestmark = pytest.mark.integration

MAX_ATTEMPTS = 6


@dataclass
class Stack:
    settings: Settings
    sink: SmtpSink
    twilio: FakeTwilio
    repo: Repository
    notifier: NotifierThread
    producer: Any

    def publish(self, message: dict[str, Any]) -> Any:
        return self.producer.send(STAGE_ADVANCED.name, key=message["shipment_id"], value=message).get(30)

    def wait_committed(self, metadata: Any, timeout: float = 60) -> None:
        """Until the notifier committed past ``metadata``'s offset: its outcomes are recorded."""
        admin = admin_client(self.settings)
        try:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                offsets = admin.list_group_offsets(self.notifier.group_id).get(self.notifier.group_id, {})
                for tp, committed in offsets.items():
                    if tp.topic == metadata.topic and tp.partition == metadata.partition \
                            and committed.offset > metadata.offset:
                        return
                time.sleep(0.1)
        finally:
            admin.close()
        raise AssertionError(f"offset {metadata.offset} of partition {metadata.partition} not committed")

    def wait_rows(self, event_id: str, predicate: Callable[[list[DeliveryRow]], bool],
                  timeout: float = 60) -> list[DeliveryRow]:
        deadline = time.monotonic() + timeout
        rows: list[DeliveryRow] = []
        while time.monotonic() < deadline:
            rows = self.repo.deliveries(event_id=event_id)
            if predicate(rows):
                return rows
            time.sleep(0.05)
        raise AssertionError(f"delivery log never matched; last: {rows}")


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def stack(request: pytest.FixtureRequest, kafka_bootstrap: str,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('notifier') / 'notifier.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    upgrade(url)
    with SmtpSink() as sink, FakeTwilio() as twilio:
        port = free_port()
        settings = Settings(
            kafka_bootstrap=kafka_bootstrap, kafka_profile="local", kafka_partitions=4, database_url=url,
            data_dir=str(Path(tmp_path_factory.mktemp("data"))), smtp_url=sink.url,
            twilio_account_sid=twilio.account_sid, twilio_auth_token=twilio.auth_token,
            twilio_from=twilio.from_number, twilio_base_url=twilio.base_url,
            notifier_port=port, notifier_url=f"http://127.0.0.1:{port}", secret_key="test-secret",
            notify_retry_base_seconds=0.2, notify_retry_max_seconds=1.0, notify_max_attempts=MAX_ATTEMPTS,
            notify_horizon_seconds=3600,
        )
        admin = admin_client(settings)
        ensure_topics(admin, (STAGE_ADVANCED, NOTIFICATIONS_DLQ), partitions=4)
        admin.close()
        engine = make_engine(url)
        producer = make_producer(settings, linger_ms=0)
        notifier = NotifierThread(settings).start()
        try:
            yield Stack(settings, sink, twilio, Repository(engine), notifier, producer)
        finally:
            notifier.stop()
            producer.close(5)
            engine.dispose()


def _mails_to(sink: SmtpSink, address: str) -> list[ReceivedMail]:
    return sink.to(address)


def _wait(predicate: Callable[[], bool], timeout: float = 60, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _phone() -> str:
    return f"+5939{uuid.uuid4().int % 10**8:08d}"


def _email(tag: str) -> str:
    return f"{tag}-{uuid.uuid4().hex[:8]}@example.ec"


def _dead_letters(settings: Settings, source_event_id: str, timeout: float = 30) -> list[dict[str, Any]]:
    consumer = KafkaConsumer(NOTIFICATIONS_DLQ.name, bootstrap_servers=settings.bootstrap_servers,
                             auto_offset_reset="earliest", enable_auto_commit=False, group_id=None,
                             consumer_timeout_ms=1000)
    found: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and not found:
            for record in consumer:
                message = json.loads(record.value)
                if message["source_event_id"] == source_event_id:
                    found.append(message)
    finally:
        consumer.close()
    return found


def test_stage_change_reaches_every_matching_subscriber_once_on_every_channel(stack: Stack) -> None:
    importer, agent, other = unique_ruc(), unique_ruc(), unique_ruc()
    dai = unique_dai()
    a, b, c, d, f = (_email(t) for t in "abcdf")
    phone_a = _phone()
    repo = stack.repo
    repo.add_subscription(ruc=importer, email=a, phone=phone_a, name="Importadora Ñandú S.A.")
    repo.add_subscription(ruc=importer, email=a, shipment=dai)            # same address twice: one e-mail
    repo.add_subscription(ruc=agent, email=b, role="AGENT", lang="en", name="Andes Customs Brokers")
    repo.add_subscription(ruc=other, email=c, shipment=dai)               # follows this shipment only
    repo.add_subscription(ruc=importer, email=d, events=["SALIDA"])       # not interested in this event
    repo.add_subscription(ruc=importer, email=f, role="AGENT")            # importer is not their role
    event = stage_advanced(ruc_importador=importer, ruc_agente=agent, dai=dai, canal="FISICO")
    metadata = stack.publish(event)

    rows = stack.wait_rows(event["event_id"], lambda r: len(r) == 4 and all(
        x.status in ("SENT", "DELIVERED") for x in r))
    assert sorted((r.channel, r.recipient) for r in rows) == sorted(
        [("EMAIL", a), ("EMAIL", b), ("EMAIL", c), ("SMS", phone_a)])
    stack.wait_committed(metadata)
    for address in (a, b, c):
        assert len(_mails_to(stack.sink, address)) == 1
    for address in (d, f):
        assert _mails_to(stack.sink, address) == []
    sms = [s for s in stack.twilio.requests if s.to == phone_a]
    assert len(sms) == 1
    assert dai in sms[0].body and "AFORO FÍSICO" in sms[0].body
    assert sms[0].status_callback == f"{stack.settings.notifier_base_url}/twilio/status"

    spanish, english = _mails_to(stack.sink, a)[0].message, _mails_to(stack.sink, b)[0].message
    for mail, lang, words in ((spanish, "es", "AFORO FÍSICO"), (english, "en", "PHYSICAL INSPECTION")):
        assert mail.get_content_type() == "multipart/alternative"
        parts = {p.get_content_type(): p for p in mail.iter_parts()}
        assert set(parts) == {"text/plain", "text/html"}
        assert all(p.get_content_charset() == "utf-8" for p in parts.values())
        assert words in str(mail["Subject"]) and dai in str(mail["Subject"])
        assert str(mail["Message-ID"]).startswith("<") and str(mail["Message-ID"]).endswith(">")
        assert mail["Date"].datetime.tzinfo is not None
        assert mail["Content-Language"] == lang
        assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        unsubscribe = f"<{stack.settings.notifier_base_url}/unsubscribe?token="
        assert str(mail["List-Unsubscribe"]).strip().startswith(unsubscribe)
        assert words in parts["text/plain"].get_content() and words in parts["text/html"].get_content()
    assert "Ñandú" in str(spanish["To"])

    # the status callbacks (signed by the fake Twilio) move the SMS to DELIVERED
    stack.wait_rows(event["event_id"],
                    lambda r: any(x.channel == "SMS" and x.status == "DELIVERED" for x in r))
    assert all(cb.status == 204 for cb in stack.twilio.callbacks if cb.params["To"] == phone_a)

    # the same record redelivered (and replayed twice) sends nothing again
    before_mail, before_sms = len(stack.sink.messages), len(stack.twilio.requests)
    stack.publish(event)
    stack.wait_committed(stack.publish(event))
    assert len(stack.sink.messages) == before_mail and len(stack.twilio.requests) == before_sms
    assert len(repo.deliveries(event_id=event["event_id"])) == 4


def test_smtp_down_for_a_while_then_delivered(stack: Stack) -> None:
    ruc, address = unique_ruc(), _email("down")
    stack.repo.add_subscription(ruc=ruc, email=address)
    stack.sink.down()
    try:
        event = stage_advanced(ruc_importador=ruc, stage="PAGO", previous_stage="DAI_ACEPTADA", canal=None)
        stack.publish(event)
        stack.wait_rows(event["event_id"], lambda r: len(r) == 1 and r[0].attempts >= 2)
    finally:
        stack.sink.up()
    rows = stack.wait_rows(event["event_id"], lambda r: r[0].status == "SENT")
    assert 2 <= rows[0].attempts <= MAX_ATTEMPTS
    assert len(_mails_to(stack.sink, address)) == 1


def test_smtp_failures_permanent_at_once_transient_until_exhausted(stack: Stack) -> None:
    ruc = unique_ruc()
    permanent, transient = _email("perm"), _email("temp")
    stack.repo.add_subscription(ruc=ruc, email=permanent)
    stack.sink.fail_recipient(permanent, 550)
    event = stage_advanced(ruc_importador=ruc, stage="SALIDA", previous_stage="SALIDA_AUTORIZADA", canal=None)
    stack.publish(event)
    row = stack.wait_rows(event["event_id"], lambda r: len(r) == 1 and r[0].status == "FAILED")[0]
    assert row.attempts == 1 and "550" in (row.error or "")
    letters = _dead_letters(stack.settings, event["event_id"])
    assert letters and letters[0]["reason"] == "PERMANENT" and letters[0]["recipient"] == permanent

    ruc2 = unique_ruc()
    stack.repo.add_subscription(ruc=ruc2, email=transient)
    stack.sink.fail_recipient(transient, 451)
    try:
        event2 = stage_advanced(ruc_importador=ruc2, stage="SALIDA", previous_stage="SALIDA_AUTORIZADA",
                                canal=None)
        stack.publish(event2)
        row2 = stack.wait_rows(event2["event_id"], lambda r: len(r) == 1 and r[0].status == "DEAD")[0]
    finally:
        stack.sink.clear_failures()
    assert row2.attempts == MAX_ATTEMPTS and "451" in (row2.error or "")
    letters2 = _dead_letters(stack.settings, event2["event_id"])
    assert letters2 and letters2[0]["reason"] == "RETRIES_EXHAUSTED"
    assert letters2[0]["attempts"] == MAX_ATTEMPTS and letters2[0]["channel"] == "EMAIL"


def test_twilio_500_is_retried_and_invalid_number_is_not(stack: Stack) -> None:
    ruc, phone, bad_phone = unique_ruc(), _phone(), _phone()
    stack.repo.add_subscription(ruc=ruc, email=_email("sms"), phone=phone, channels=["SMS"])
    stack.twilio.fail_next(500, times=2)
    event = stage_advanced(ruc_importador=ruc, stage="OBSERVACION", previous_stage="DAI_ACEPTADA", canal=None,
                           observacion="Falta factura comercial")
    stack.publish(event)
    row = stack.wait_rows(event["event_id"],
                          lambda r: len(r) == 1 and r[0].status in ("SENT", "DELIVERED"))[0]
    assert row.attempts == 3 and stack.twilio.attempts_by_number[phone] == 3
    assert row.provider_id and row.provider_id.startswith("SM")

    ruc2 = unique_ruc()
    stack.repo.add_subscription(ruc=ruc2, email=_email("bad"), phone=bad_phone, channels=["SMS"])
    stack.twilio.invalid_numbers.add(bad_phone)
    event2 = stage_advanced(ruc_importador=ruc2, stage="OBSERVACION", previous_stage="DAI_ACEPTADA",
                            canal=None)
    metadata = stack.publish(event2)
    row2 = stack.wait_rows(event2["event_id"], lambda r: len(r) == 1 and r[0].status == "FAILED")[0]
    stack.wait_committed(metadata)
    assert row2.attempts == 1 and "21211" in (row2.error or "")
    assert stack.twilio.attempts_by_number[bad_phone] == 1
    letters = _dead_letters(stack.settings, event2["event_id"])
    assert letters and letters[0]["reason"] == "PERMANENT" and letters[0]["channel"] == "SMS"


def test_hostile_text_in_names_and_observations_arrives_inert(stack: Stack) -> None:
    ruc, address = unique_ruc(), _email("hostile")
    name = "<script>alert('x')</script> {{ 7*7 }}\r\nBcc: victim@example.ec"
    stack.repo.add_subscription(ruc=ruc, email=address, name=name)
    observation = "<img src=x onerror=alert(1)> {% for i in range(3) %}{{ i }}{% endfor %} ${7*7}"
    event = stage_advanced(ruc_importador=ruc, stage="OBSERVACION", previous_stage="AFORO", canal=None,
                           observacion=observation)
    stack.publish(event)
    stack.wait_rows(event["event_id"], lambda r: len(r) == 1 and r[0].status == "SENT")
    (mail,) = _mails_to(stack.sink, address)
    assert mail.rcpt_tos == (address,)
    assert mail.message["Bcc"] is None and b"\nBcc:" not in mail.data
    html = mail.message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    text = mail.message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "<script>" not in html and "<img" not in html
    assert "&lt;script&gt;" in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    # Evaluated templates would read "</script> 49" and "012 ${7*7}"; ports and tokens elsewhere in
    # the message may contain such digits, so look where the typed text stands.
    for body, closing in ((html, "&lt;/script&gt;"), (text, "</script>")):
        assert f"{closing} {{{{ 7*7 }}}}" in body and f"{closing} 49" not in body
        assert "{% for i in range(3) %}{{ i }}{% endfor %}" in body and "012 ${7*7}" not in body
    assert "<script>alert('x')</script>" in text  # plain text shows what was typed, as text


def test_old_stage_changes_are_skipped_not_sent(stack: Stack) -> None:
    ruc, address = unique_ruc(), _email("replay")
    stack.repo.add_subscription(ruc=ruc, email=address)
    old = (datetime.now(UTC) - timedelta(days=2)).isoformat()
    event = stage_advanced(ruc_importador=ruc, occurred_at=old)
    stack.wait_committed(stack.publish(event))
    rows = stack.repo.deliveries(event_id=event["event_id"])
    assert [(r.status, r.attempts) for r in rows] == [("SKIPPED", 0)]
    assert _mails_to(stack.sink, address) == []


def test_webhooks_signatures_stop_and_one_click_unsubscribe(stack: Stack) -> None:
    base = stack.settings.notifier_base_url
    ruc, address, phone = unique_ruc(), _email("hooks"), _phone()
    view = stack.repo.add_subscription(ruc=ruc, email=address, phone=phone)
    status_url, inbound_url = f"{base}/twilio/status", f"{base}/twilio/inbound"

    assert stack.twilio.send_signed(status_url, {"MessageSid": "SMx", "MessageStatus": "delivered"},
                                    signature="forged") == 403
    assert stack.twilio.send_signed(inbound_url, {"From": phone, "Body": "BAJA"}, signature="") == 403
    assert stack.repo.get_subscription(view.id).sms_opt_out is False  # type: ignore[union-attr]
    assert stack.twilio.send_signed(inbound_url, {"From": phone, "Body": " baja "}) == 200
    assert stack.repo.get_subscription(view.id).sms_opt_out is True  # type: ignore[union-attr]

    event = stage_advanced(ruc_importador=ruc)
    stack.wait_rows(event["event_id"] if stack.publish(event) else "",
                    lambda r: len(r) == 1 and r[0].status == "SENT")
    assert not [s for s in stack.twilio.requests if s.to == phone]
    (mail,) = _mails_to(stack.sink, address)
    link = str(mail.message["List-Unsubscribe"]).strip().strip("<>")
    with httpx.Client(timeout=30) as http:
        assert http.get(link).status_code == 200  # a confirmation page; GET changes nothing
        assert stack.repo.get_subscription(view.id).active is True  # type: ignore[union-attr]
        tampered = link[:-3] + ("AAA" if not link.endswith("AAA") else "BBB")
        assert http.post(tampered, content=b"List-Unsubscribe=One-Click").status_code == 400
        response = http.post(link, content=b"List-Unsubscribe=One-Click",
                             headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert response.status_code == 200
    assert stack.repo.get_subscription(view.id).active is False  # type: ignore[union-attr]
    later = stage_advanced(ruc_importador=ruc, stage="PAGO", previous_stage="DAI_ACEPTADA", canal=None)
    stack.wait_committed(stack.publish(later))
    assert stack.repo.deliveries(event_id=later["event_id"]) == []
    assert len(_mails_to(stack.sink, address)) == 1
