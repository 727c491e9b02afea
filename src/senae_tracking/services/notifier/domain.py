"""The notifier's rules as plain functions and dataclasses (no Kafka, SQL, SMTP or Jinja here).

- who gets a stage change, on which channel (:func:`plan_recipients`);
- the replay horizon (:func:`is_stale`);
- which failures are worth retrying and how long to wait (:func:`backoff_delay`);
- SMS length in segments, GSM-7 versus UCS-2 (:func:`sms_segments`, :func:`fit_sms`);
- in-order offset commits while records finish out of order (:class:`OffsetTracker`).
"""

from __future__ import annotations

import random
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol


class SubscriptionLike(Protocol):
    """What the rules need from a subscription (the repository's SubscriptionView fits)."""

    @property
    def id(self) -> int: ...
    @property
    def name(self) -> str: ...
    @property
    def lang(self) -> str: ...
    @property
    def email(self) -> str: ...
    @property
    def phone(self) -> str | None: ...
    @property
    def sms_opt_out(self) -> bool: ...
    @property
    def channels(self) -> tuple[str, ...]: ...
    @property
    def events(self) -> tuple[str, ...]: ...


@dataclass(frozen=True)
class Recipient:
    """One notification to make: a channel and an address, in the operator's language."""

    channel: str
    address: str
    lang: str
    name: str
    subscription_id: int


def shipment_refs(event: Mapping[str, Any]) -> list[str]:
    """Every identifier a subscriber may have used for the shipment of ``event``."""
    refs = [event.get("shipment_id"), event.get("dai"), event.get("numero_entrega")]
    document = event.get("documento_transporte")
    if isinstance(document, Mapping):
        refs.append(document.get("numero"))
    return [str(r) for r in refs if r]


def plan_recipients(event_code: str, subscriptions: Iterable[SubscriptionLike]) -> list[Recipient]:
    """The recipients of a stage change with code ``event_code``: one per (channel, address).

    A contact subscribed twice (to the RUC and to the shipment) still gets one message per channel;
    the first (oldest) subscription is the one the message's unsubscribe link turns off. SMS go only
    to numbers that did not answer STOP/BAJA.
    """
    chosen: dict[tuple[str, str], Recipient] = {}
    for sub in subscriptions:
        if event_code not in sub.events:
            continue
        if "EMAIL" in sub.channels:
            key = ("EMAIL", sub.email.lower())
            chosen.setdefault(key, Recipient("EMAIL", sub.email, sub.lang, sub.name, sub.id))
        if "SMS" in sub.channels and sub.phone and not sub.sms_opt_out:
            chosen.setdefault(("SMS", sub.phone), Recipient("SMS", sub.phone, sub.lang, sub.name, sub.id))
    return list(chosen.values())


def is_stale(occurred_at: datetime, now: datetime, horizon_seconds: int) -> bool:
    """True when a stage change happened longer ago than the horizon: it is a replay, stay silent.

    A horizon of 0 disables the rule (every change is notified).
    """
    return horizon_seconds > 0 and now - occurred_at > timedelta(seconds=horizon_seconds)


class SendError(Exception):
    """A channel could not deliver; ``transient`` says whether trying again may help."""

    def __init__(self, message: str, *, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient


def backoff_delay(attempt: int, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Delay before retry number ``attempt`` (1 = first retry): exponential with full jitter.

    Uniform in [base·2^(attempt-1)/2, base·2^(attempt-1)], capped at ``cap``, so that recipients
    failing together do not retry in lockstep.
    """
    ceiling = min(cap, base * (2 ** max(0, attempt - 1)))
    return (rng or random).uniform(ceiling / 2, ceiling)


def smtp_code_is_transient(code: int) -> bool:
    """SMTP 4xx replies are temporary (try later); 5xx are permanent."""
    return 400 <= code < 500


def http_status_is_transient(status: int) -> bool:
    """HTTP 429 and 5xx are worth retrying; other 4xx are permanent (bad number, bad request)."""
    return status == 429 or status >= 500


# -- SMS length -----------------------------------------------------------------------------------

_GSM7_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM7_EXTENDED = set("^{}\\[~]|€\f")


def is_gsm7(text: str) -> bool:
    """True if ``text`` can be sent in the GSM 03.38 7-bit alphabet (with its extension table)."""
    return all(ch in _GSM7_BASIC or ch in _GSM7_EXTENDED for ch in text)


def sms_segments(text: str) -> int:
    """How many SMS segments ``text`` takes: GSM-7 160/153 septets, otherwise UCS-2 70/67 units."""
    if is_gsm7(text):
        units = sum(2 if ch in _GSM7_EXTENDED else 1 for ch in text)
        single, multi = 160, 153
    else:
        units = sum(2 if ord(ch) > 0xFFFF else 1 for ch in text)
        single, multi = 70, 67
    if units <= single:
        return 1
    return -(-units // multi)


def to_gsm7(text: str) -> str:
    """``text`` with characters outside GSM-7 replaced by their closest plain letters (ó → o)."""
    out = []
    for ch in text:
        if ch in _GSM7_BASIC or ch in _GSM7_EXTENDED:
            out.append(ch)
            continue
        plain = unicodedata.normalize("NFKD", ch).encode("ascii", "ignore").decode()
        out.append(plain if plain and is_gsm7(plain) else ("" if unicodedata.category(ch)[0] == "C" else "?"))
    return "".join(out)


def fit_sms(head: str, tail: str, max_segments: int = 2) -> str:
    """``head`` + ``tail`` within ``max_segments``: as written if it fits, else in GSM-7, else with
    ``head`` shortened (an ellipsis marks the cut). ``tail`` (the link) is never cut."""
    text = head + tail
    if sms_segments(text) <= max_segments:
        return text
    head, tail = to_gsm7(head), to_gsm7(tail)
    if sms_segments(head + tail) <= max_segments:
        return head + tail
    low, high = 0, len(head)
    while low < high:
        middle = (low + high + 1) // 2
        if sms_segments(head[:middle].rstrip() + "..." + tail) <= max_segments:
            low = middle
        else:
            high = middle - 1
    return head[:low].rstrip() + "..." + tail


def clean_header_text(value: str, limit: int = 200) -> str:
    """A single line for a mail header: control characters (CR, LF, tab…) become spaces."""
    cleaned = "".join(" " if unicodedata.category(ch)[0] == "C" else ch for ch in value)
    return " ".join(cleaned.split())[:limit]


# -- offsets --------------------------------------------------------------------------------------

@dataclass(eq=False)
class PartitionState:
    """Offsets of one partition while this consumer owns it."""

    pending: set[int] = field(default_factory=set)
    done: set[int] = field(default_factory=set)
    committable: int | None = None


class OffsetTracker:
    """Which offset each partition may commit while its records finish in any order.

    ``start`` each record when read, ``finish`` it when its outcome is recorded; ``committable``
    gives, per partition, the offset after the longest finished prefix (what Kafka expects).
    ``start`` returns the partition's state: a record that finishes after its partition was
    revoked (and perhaps assigned again) updates only the state it started in.
    """

    def __init__(self) -> None:
        self._parts: dict[Any, PartitionState] = {}

    def start(self, partition: Any, offset: int) -> PartitionState:
        """A record was read and is being processed."""
        state = self._parts.setdefault(partition, PartitionState())
        state.pending.add(offset)
        return state

    @staticmethod
    def finish(state: PartitionState, offset: int) -> None:
        """A record's outcome is recorded."""
        state.pending.discard(offset)
        state.done.add(offset)

    def committable(self) -> dict[Any, int]:
        """Partition -> next offset to commit, for partitions that advanced since the last call."""
        result: dict[Any, int] = {}
        for partition, state in self._parts.items():
            if not state.done:
                continue
            lowest_pending = min(state.pending) if state.pending else None
            ready = [o for o in state.done if lowest_pending is None or o < lowest_pending]
            if not ready:
                continue
            state.done.difference_update(ready)
            candidate = max(ready) + 1
            if state.committable is None or candidate > state.committable:
                state.committable = candidate
                result[partition] = candidate
        return result

    def in_flight(self) -> int:
        """Records read but not finished."""
        return sum(len(s.pending) for s in self._parts.values())

    def forget(self, partitions: Iterable[Any]) -> None:
        """Drop partitions this consumer no longer owns."""
        for partition in partitions:
            self._parts.pop(partition, None)
