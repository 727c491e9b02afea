"""Batch processing of source records into a plan of messages to send and table entries to write.

Pure code (no Faust, no Kafka): the Faust agents in ``app.py`` hand a batch of records here and
carry out the returned :class:`Plan` in a fixed order — send the messages and wait for the broker's
acknowledgements, then write the table entries. Because the shipment state records the position of
every event it processed, a record redelivered after a crash is a no-op when its state write
survived (its messages were acknowledged before), and is processed again, yielding the very same
messages with the same derived event ids, when it did not.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from senae_tracking.services.processor import counters, domain
from senae_tracking.shared.catalog import Catalog
from senae_tracking.shared.identifiers import SHIPMENT_ID_RE

log = logging.getLogger(__name__)

_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")

#: Look-up kinds and the state field each one indexes.
LOOKUPS = {"dai": "dai", "entrega": "numero_entrega", "documento": "documento_transporte"}
ROLES = {"ruc_importador": "IMPORTADOR", "ruc_agente": "AGENTE"}


@dataclass(frozen=True)
class Record:
    """One consumed record: where it came from and its raw value."""

    topic: str
    partition: int
    offset: int
    timestamp: float | None
    value: bytes


@dataclass(frozen=True)
class Send:
    """One output message; ``event_id`` is its envelope's id, derived from the source event."""

    topic: str
    key: str
    value: bytes
    event_id: str


@dataclass
class Plan:
    """What a batch produced: messages to send first, then table entries to write."""

    sends: list[Send] = field(default_factory=list)
    index_entries: list[dict[str, Any]] = field(default_factory=list)
    states: dict[str, tuple[int, dict[str, Any]]] = field(default_factory=dict)
    snapshots: dict[str, tuple[int, dict[str, Any]]] = field(default_factory=dict)
    invalid: int = 0


def _json(value: Any) -> bytes:
    return orjson.dumps(value)


def decode_stage_event(catalog: Catalog, raw: bytes) -> dict[str, Any] | None:
    """The event if it has what the state machine needs (ingest validated it fully), else None."""
    try:
        event = orjson.loads(raw)
        ok = (isinstance(event, dict) and isinstance(event.get("event_id"), str)
              and _UUID.match(event["event_id"]) is not None
              and isinstance(event.get("shipment_id"), str) and SHIPMENT_ID_RE.match(event["shipment_id"])
              and event.get("stage") in catalog.event_codes and isinstance(event.get("occurred_at"), str))
        if ok:
            domain.parse_time(event["occurred_at"])
            if event["stage"] == "DAI_ACEPTADA" and event.get("canal") not in catalog.channels:
                return None
            return event
    except (ValueError, TypeError, orjson.JSONDecodeError):
        pass
    return None


def _copy(snapshot: dict[str, Any] | None) -> dict[str, Any]:
    if snapshot is None:
        return counters.empty_snapshot()
    return {"wm": snapshot["wm"], "counts": dict(snapshot["counts"])}


def received_at(record: Record) -> str:
    """When the broker received the record (its timestamp), so reprocessing gives equal output."""
    if record.timestamp is None:
        return datetime.now(UTC).isoformat()
    return datetime.fromtimestamp(record.timestamp, UTC).isoformat()


def source_name(topic: str, partition: int) -> str:
    """The counter snapshot key of a source partition."""
    return f"{topic}:{partition}"


def source_key(record: Record) -> str:
    """The counter snapshot key of the record's source partition."""
    return source_name(record.topic, record.partition)


def index_messages(
    before: domain.Shipment | None, after: domain.Shipment
) -> list[tuple[str, dict[str, Any]]]:
    """Look-up entries that ``after`` adds: (key, message) for the repartitioned index topic."""
    out: list[tuple[str, dict[str, Any]]] = []
    for kind, attr in LOOKUPS.items():
        value = getattr(after, attr)
        if value is not None and (before is None or getattr(before, attr) != value):
            key = value["numero"] if kind == "documento" else value
            out.append((key, {"kind": kind, "key": key, "shipment_id": after.shipment_id}))
    for attr, role in ROLES.items():
        value = getattr(after, attr)
        if value is not None and (before is None or getattr(before, attr) != value):
            out.append((value, {"kind": "ruc", "key": value, "role": role,
                                "shipment_id": after.shipment_id}))
    return out


def public_shipment(catalog: Catalog, state: dict[str, Any]) -> dict[str, Any]:
    """A shipment as the views and exports show it: no bookkeeping, labels added."""
    body = {k: v for k, v in state.items() if k not in ("seen_ids", "last_position")}
    stage = state["stage"]
    body["stage_label"] = {"es": catalog.label(stage, "es"), "en": catalog.label(stage, "en")}
    body["timeline"] = [{k: v for k, v in e.items() if k != "applied_at"} for e in state["timeline"]]
    body["pending"] = [p["event"] for p in state["pending"]]
    return body


def index_update(current: Any, message: dict[str, Any]) -> Any:
    """The new value of a look-up entry after ``message``, or None when it changes nothing.

    DAI, entrega and document entries are sorted lists of shipment ids; RUC entries map each
    shipment id to its sorted roles. Adding is idempotent, so redelivered messages are harmless.
    """
    sid = message["shipment_id"]
    if message["kind"] == "ruc":
        entries = dict(current or {})
        roles = sorted(set(entries.get(sid, [])) | {message["role"]})
        if entries.get(sid) == roles:
            return None
        entries[sid] = roles
        return entries
    ids = list(current or [])
    if sid in ids:
        return None
    return sorted([*ids, sid])


def plan_stage_batch(
    catalog: Catalog, records: list[Record], get_state: Callable[[str], dict[str, Any] | None],
    get_snapshot: Callable[[str], dict[str, Any] | None], *, advanced_topic: str,
    anomalies_topic: str,
) -> Plan:
    """Run the state machine over a batch of stage-event records, in order."""
    plan = Plan()
    states: dict[str, domain.Shipment | None] = {}
    changed: dict[str, int] = {}
    for record in records:
        source = source_key(record)
        snap = plan.snapshots[source][1] if source in plan.snapshots else _copy(get_snapshot(source))
        plan.snapshots[source] = (record.partition, snap)
        event = decode_stage_event(catalog, record.value)
        if event is None:
            plan.invalid += 1
            snap["wm"] = max(snap["wm"], record.offset)  # handled: not a hole for the backfill
            log.warning("registro inválido ignorado / invalid record skipped at %s:%d:%d",
                        record.topic, record.partition, record.offset)
            continue
        sid = event["shipment_id"]
        if sid not in states:
            stored = get_state(sid)
            states[sid] = domain.Shipment.from_dict(stored) if stored else None
        before = states[sid]
        position = (record.partition, record.offset)
        outcome = domain.process(catalog, before, event, position, received_at(record))
        after = outcome.state
        states[sid] = after
        for message in outcome.advanced:
            plan.sends.append(Send(advanced_topic, sid, _json(message), message["event_id"]))
        for message in outcome.anomalies:
            plan.sends.append(Send(anomalies_topic, sid, _json(message), message["event_id"]))
        if not outcome.replay:
            plan.index_entries.extend(message for _key, message in index_messages(before, after))
            changed[sid] = record.partition
        if record.offset > snap["wm"]:
            for entry in domain.stage_entries(after, position):
                key = counters.stage_key(entry["occurred_at"], after.distrito, entry["stage"])
                snap["counts"][key] = snap["counts"].get(key, 0) + 1
            snap["wm"] = record.offset
    for sid, partition in changed.items():
        state = states[sid]
        assert state is not None
        plan.states[sid] = (partition, state.to_dict())
    return plan


_OCCURRED = b'"occurred_at":"'


def _occurred_at(raw: bytes) -> str:
    """The ``occurred_at`` of a JSON message; a plain search first, since counting needs no more."""
    start = raw.find(_OCCURRED)
    if start >= 0:
        end = raw.find(b'"', start + len(_OCCURRED))
        if end > 0:
            return raw[start + len(_OCCURRED):end].decode()
    value = orjson.loads(raw)["occurred_at"]
    if not isinstance(value, str):
        raise ValueError("occurred_at must be a string")
    return value


def count_batch(records: list[Record], get_snapshot: Callable[[str], dict[str, Any] | None]) -> Plan:
    """Count attentions or complaints per month; records already counted are skipped."""
    plan = Plan()
    for record in records:
        source = source_key(record)
        if source in plan.snapshots:
            snap = plan.snapshots[source][1]
        else:
            snap = _copy(get_snapshot(source))
            plan.snapshots[source] = (record.partition, snap)
        if record.offset <= snap["wm"]:
            continue
        snap["wm"] = record.offset
        try:
            month = counters.month_key(_occurred_at(record.value))
        except (ValueError, TypeError, KeyError):
            plan.invalid += 1
            log.warning("registro inválido ignorado / invalid record skipped at %s:%d:%d",
                        record.topic, record.partition, record.offset)
            continue
        snap["counts"][month] = snap["counts"].get(month, 0) + 1
    return plan
