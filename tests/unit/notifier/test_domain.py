"""Pure rules of the notifier: recipients, horizon, backoff, SMS segments, offsets, tokens."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from senae_tracking.services.notifier import domain
from senae_tracking.services.notifier.tokens import sign_unsubscribe, verify_unsubscribe


@dataclass(frozen=True)
class Sub:
    id: int
    email: str
    phone: str | None = None
    channels: tuple[str, ...] = ("EMAIL",)
    events: tuple[str, ...] = ("DAI_ACEPTADA",)
    sms_opt_out: bool = False
    name: str = "Op"
    lang: str = "es"


def test_plan_recipients_one_per_channel_and_address() -> None:
    subs = [
        Sub(1, "a@x.ec", "+593991111111", ("EMAIL", "SMS")),
        Sub(2, "A@x.ec", "+593991111111", ("EMAIL", "SMS")),      # same contact, second scope
        Sub(3, "b@x.ec", "+593992222222", ("EMAIL", "SMS"), sms_opt_out=True),
        Sub(4, "c@x.ec", events=("SALIDA",)),
    ]
    planned = domain.plan_recipients("DAI_ACEPTADA", subs)
    assert [(r.channel, r.address, r.subscription_id) for r in planned] == [
        ("EMAIL", "a@x.ec", 1), ("SMS", "+593991111111", 1), ("EMAIL", "b@x.ec", 3)]


def test_shipment_refs_cover_every_identifier() -> None:
    event = {"shipment_id": "S1", "dai": "028-2025-10-00012345", "numero_entrega": "1" * 21,
             "documento_transporte": {"tipo": "BL", "numero": "MSCU123"}}
    assert domain.shipment_refs(event) == ["S1", "028-2025-10-00012345", "1" * 21, "MSCU123"]


def test_horizon() -> None:
    now = datetime(2025, 3, 15, 12, tzinfo=UTC)
    assert domain.is_stale(now - timedelta(hours=7), now, 6 * 3600)
    assert not domain.is_stale(now - timedelta(hours=5), now, 6 * 3600)
    assert not domain.is_stale(now - timedelta(days=900), now, 0)


def test_backoff_grows_with_jitter_and_cap() -> None:
    rng = random.Random(1)
    for attempt, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0), (10, 60.0)]:
        delays = [domain.backoff_delay(attempt, 1.0, 60.0, rng) for _ in range(50)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(set(delays)) > 1


def test_failure_classes() -> None:
    assert domain.smtp_code_is_transient(451) and not domain.smtp_code_is_transient(550)
    assert domain.http_status_is_transient(429) and domain.http_status_is_transient(503)
    assert not domain.http_status_is_transient(400)


def test_sms_segments_gsm7_and_ucs2() -> None:
    assert domain.sms_segments("a" * 160) == 1 and domain.sms_segments("a" * 161) == 2
    assert domain.sms_segments("a" * 306) == 2 and domain.sms_segments("a" * 307) == 3
    assert domain.sms_segments("ñé" * 80) == 1          # ñ and é are in GSM-7
    assert domain.sms_segments("ó" + "a" * 69) == 1     # ó is not: UCS-2, 70 per segment
    assert domain.sms_segments("ó" + "a" * 70) == 2
    assert domain.sms_segments("€" * 80) == 1 and domain.sms_segments("€" * 81) == 2  # escape: 2 septets


@given(st.text(min_size=0, max_size=600), st.sampled_from(["", " https://p.ec/s/ABC123"]))
def test_fit_sms_always_within_two_segments(head: str, tail: str) -> None:
    text = domain.fit_sms(head, tail)
    assert domain.sms_segments(text) <= 2
    assert text.endswith(domain.to_gsm7(tail)) or text.endswith(tail)


def test_fit_sms_keeps_spanish_when_it_fits_and_transliterates_when_not() -> None:
    short = "SENAE: DAI 028-2025-10-00012345: AFORO FÍSICO asignado. "
    assert domain.fit_sms(short, "https://p.ec/s/1") == short + "https://p.ec/s/1"
    long = "Observación: revisión física en depósito, acción requerida " * 3
    fitted = domain.fit_sms(long, " https://p.ec/s/1")
    assert domain.is_gsm7(fitted) and "Observacion" in fitted and fitted.endswith("https://p.ec/s/1")


def test_header_text_is_one_line() -> None:
    assert domain.clean_header_text("ACME\r\nBcc: x@y.ec\t S.A.") == "ACME Bcc: x@y.ec S.A."


def test_offset_tracker_commits_finished_prefix_only() -> None:
    tracker = domain.OffsetTracker()
    states = {o: tracker.start("p0", o) for o in (10, 11, 12)}
    tracker.finish(states[11], 11)
    assert tracker.committable() == {}
    tracker.finish(states[10], 10)
    assert tracker.committable() == {"p0": 12}
    assert tracker.committable() == {}
    tracker.forget(["p0"])
    tracker.finish(states[12], 12)       # finished after its partition was revoked
    assert tracker.committable() == {} and tracker.in_flight() == 0


def test_unsubscribe_tokens() -> None:
    token = sign_unsubscribe("k", 42)
    assert verify_unsubscribe("k", token) == 42
    assert verify_unsubscribe("other", token) is None
    assert verify_unsubscribe("k", token[:-2] + "xx") is None
    assert verify_unsubscribe("k", "garbage") is None
    swapped = sign_unsubscribe("k", 43).split(".")[0] + "." + token.split(".")[1]
    assert verify_unsubscribe("k", swapped) is None
