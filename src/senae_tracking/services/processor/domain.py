"""The shipment state machine: pure functions over a JSON-ready state, driven by the stage catalog.

No Kafka, Faust or I/O here. :func:`process` takes a shipment's state, one stage event and the
event's position in its source partition, and returns the new state plus the records to emit
(stage-advanced and stage-anomaly messages, already built against the contract).

Rules, in the order they are checked:

1. **Replay**: an event at a position not after the shipment's last processed position (same
   partition) was already handled before a restart: nothing changes and nothing is emitted.
2. **DUPLICATE**: its ``event_id`` was already seen for this shipment (applied, rejected or parked).
3. **AFTER_TERMINAL**: the shipment reached a terminal stage (SALIDA, ABANDONO, ANULACION).
4. **STALE**: the stage was already passed.
5. A stage allowed from the current one (catalog transitions for the channel, ``requires``
   satisfied, endings) is applied; a side event is applied if the stage in force at its event time
   is in its ``allowed_from``.
6. **Out of order**: an event that is not allowed yet but becomes reachable along the catalog's
   paths (its predecessor has not arrived) is *parked* in the state and applied, in event-time
   order, as soon as the gap fills. A parked event is rejected when the shipment's newest event
   time passes it by more than :data:`REORDER_WINDOW`, when the shipment ends, or when the path it
   needed becomes impossible (e.g. an automatic channel excludes AFORO).
7. Otherwise **FORBIDDEN_TRANSITION** (stages) or **SIDE_EVENT_NOT_ALLOWED** (side events).

AFORO and PAGO may come in either order: a late one (earlier event time than the current stage,
which may also follow it) is inserted in the timeline at its event time and does not move the
current stage back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from senae_tracking.shared.catalog import Catalog
from senae_tracking.shared.contract import (
    STAGE_ADVANCED,
    STAGE_ANOMALY,
    derived_event_id,
    envelope,
    parse_time,
)

#: How far (in event time) the newest event of a shipment may pass a parked event before the
#: parked one is given up as an anomaly.
REORDER_WINDOW = timedelta(hours=1)
#: At most this many events wait for a gap per shipment; more are rejected at once.
MAX_PENDING = 32

DUPLICATE = "DUPLICATE"
STALE = "STALE"
FORBIDDEN_TRANSITION = "FORBIDDEN_TRANSITION"
SIDE_EVENT_NOT_ALLOWED = "SIDE_EVENT_NOT_ALLOWED"
AFTER_TERMINAL = "AFTER_TERMINAL"

#: Identifier fields copied from events into the state and into every stage-advanced record.
IDENTIFIERS = ("ruc_importador", "ruc_agente", "dai", "numero_entrega", "documento_transporte",
               "mrn", "distrito", "modo_transporte")

Position = tuple[int, int]


@dataclass
class Shipment:
    """Everything known about one shipment; stored as a dict in the shipments table."""

    shipment_id: str
    stage: str | None = None
    canal: str | None = None
    ruc_importador: str | None = None
    ruc_agente: str | None = None
    dai: str | None = None
    numero_entrega: str | None = None
    documento_transporte: dict[str, str] | None = None
    mrn: str | None = None
    distrito: str | None = None
    modo_transporte: str | None = None
    #: Applied stages and side events, oldest event time first: stage, kind, occurred_at,
    #: received_at, event_id, applied_at (source position whose processing applied it).
    timeline: list[dict[str, Any]] = field(default_factory=list)
    #: Observations (OBSERVACION), open until a CORRECCION or a later stage.
    observaciones: list[dict[str, Any]] = field(default_factory=list)
    #: Events waiting for a predecessor: event, position, received_at.
    pending: list[dict[str, Any]] = field(default_factory=list)
    #: Event ids applied or rejected (duplicates are recognised by these).
    seen_ids: list[str] = field(default_factory=list)
    #: [partition, offset] of the last source record processed for this shipment.
    last_position: list[int] | None = None

    def to_dict(self) -> dict[str, Any]:
        """The state as a JSON-ready dict (shares its lists: treat both as read-only)."""
        return dict(self.__dict__)

    def copy(self) -> Shipment:
        """A copy that can be changed without touching this one (timeline and pending entries are
        never changed in place, so only the lists are copied; observations are)."""
        data = self.to_dict()
        data.update(timeline=list(self.timeline), pending=list(self.pending),
                    seen_ids=list(self.seen_ids), observaciones=[dict(o) for o in self.observaciones])
        return Shipment(**data)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Shipment:
        """Rebuild a state stored by :meth:`to_dict`."""
        return cls(**data)

    @property
    def exists(self) -> bool:
        """True once at least one stage was applied."""
        return self.stage is not None

    def identifiers(self) -> dict[str, Any]:
        """The identifiers known so far (only those set)."""
        return {k: getattr(self, k) for k in IDENTIFIERS if getattr(self, k) is not None}


@dataclass
class Outcome:
    """What processing one event produced."""

    state: Shipment
    advanced: list[dict[str, Any]] = field(default_factory=list)
    anomalies: list[dict[str, Any]] = field(default_factory=list)
    replay: bool = False


@lru_cache(maxsize=65536)
def _time(value: str) -> datetime:
    # The same timeline times are compared on every event of a shipment: parse each once.
    return parse_time(value)


def is_replay(state: Shipment, position: Position) -> bool:
    """True when ``position`` was already processed for this shipment (a redelivery)."""
    last = state.last_position
    return last is not None and last[0] == position[0] and position[1] <= last[1]


def reachable(catalog: Catalog, current: str | None, channel: str | None) -> frozenset[str]:
    """Stages reachable in one or more steps from ``current`` (any channel while none is set)."""
    channels = [channel] if channel is not None else [None, *catalog.channels]
    seen: set[str] = set()
    frontier = [current]
    while frontier:
        node = frontier.pop()
        for ch in channels:
            for nxt in catalog.next_stages(node, ch):
                if nxt not in seen:
                    seen.add(nxt)
                    frontier.append(nxt)
    return frozenset(seen)


def _passed(state: Shipment) -> set[str]:
    return {e["stage"] for e in state.timeline if e["kind"] == "STAGE"}


def _stage_at(state: Shipment, when: datetime) -> str | None:
    """The stage in force at event time ``when`` (the current one if none is older)."""
    found = None
    for entry in state.timeline:
        if entry["kind"] == "STAGE" and _time(entry["occurred_at"]) <= when:
            found = entry["stage"]
    return found if found is not None else state.stage


def _decide(catalog: Catalog, state: Shipment, event: dict[str, Any]) -> tuple[str, str, str]:
    """("apply" | "park" | "reject", reason, detail) for an event that is not a duplicate."""
    code = event["stage"]
    current = state.stage
    current_terminal = current is not None and catalog.stages[current].terminal
    if code in catalog.side_events:
        side = catalog.side_events[code]
        in_force = _stage_at(state, _time(event["occurred_at"]))
        if in_force is not None and catalog.stages[in_force].terminal:
            return "reject", AFTER_TERMINAL, f"{code} after terminal stage {in_force}"
        if in_force in side.allowed_from:
            return "apply", "", ""
        if not current_terminal and side.allowed_from & reachable(catalog, current, state.canal):
            return "park", "", ""
        allowed = ", ".join(sorted(side.allowed_from))
        return ("reject", SIDE_EVENT_NOT_ALLOWED,
                f"{code} is not allowed at stage {in_force}; allowed at: {allowed}")
    if current_terminal:
        return "reject", AFTER_TERMINAL, f"{code} after terminal stage {current}"
    if code in _passed(state):
        return "reject", STALE, f"stage {code} already passed; current stage {current}"
    channel = event.get("canal") if code == "DAI_ACEPTADA" else state.canal
    missing = catalog.required_before(code, channel) - _passed(state)
    if code in catalog.next_stages(current, state.canal) and not missing:
        return "apply", "", ""
    if code in reachable(catalog, current, state.canal):
        return "park", "", ""
    detail = f"{current or 'nothing'} -> {code} is not allowed"
    if state.canal:
        detail += f" for channel {state.canal}"
    if missing and code in catalog.next_stages(current, state.canal):
        detail += f" (requires {', '.join(sorted(missing))})"
    return "reject", FORBIDDEN_TRANSITION, detail


def _anomaly(state: Shipment, event: dict[str, Any], position: Position, reason: str,
             detail: str) -> dict[str, Any]:
    purpose = f"{STAGE_ANOMALY}:{position[0]}:{position[1]}"
    return envelope(STAGE_ANOMALY, {
        "shipment_id": state.shipment_id,
        "source_event_id": event["event_id"],
        "reason": reason,
        "detail": detail[:1000],
        "current_stage": state.stage,
        "source_event": event,
    }, event_id=derived_event_id(event["event_id"], purpose), occurred_at=event["occurred_at"])


def _merge_identifiers(state: Shipment, event: dict[str, Any]) -> None:
    for key in IDENTIFIERS:
        if event.get(key) is not None:
            setattr(state, key, event[key])
    if event["stage"] == "DAI_ACEPTADA" and event.get("canal"):
        state.canal = event["canal"]


def _insert(state: Shipment, entry: dict[str, Any]) -> int:
    """Insert a timeline entry at its event time (after equal times); return its index."""
    when = _time(entry["occurred_at"])
    index = len(state.timeline)
    while index > 0 and _time(state.timeline[index - 1]["occurred_at"]) > when:
        index -= 1
    state.timeline.insert(index, entry)
    return index


def _apply(catalog: Catalog, state: Shipment, event: dict[str, Any], received_at: str,
           applied_at: Position) -> dict[str, Any]:
    """Apply an allowed event to ``state``; return its stage-advanced record."""
    code = event["stage"]
    side = code in catalog.side_events
    _merge_identifiers(state, event)
    entry = {"stage": code, "kind": "SIDE_EVENT" if side else "STAGE",
             "occurred_at": event["occurred_at"], "received_at": received_at,
             "event_id": event["event_id"], "applied_at": list(applied_at)}
    if event.get("observacion"):
        entry["observacion"] = event["observacion"]
    previous_stage = state.stage
    dwell: float | None = None
    index = _insert(state, entry)
    if side:
        if code == "OBSERVACION":
            state.observaciones.append({"event_id": event["event_id"], "occurred_at": event["occurred_at"],
                                        "observacion": event.get("observacion", ""), "abierta": True})
        else:
            for obs in state.observaciones:
                obs["abierta"] = False
    else:
        before = [e for e in state.timeline[:index] if e["kind"] == "STAGE"]
        if before:
            previous_stage = before[-1]["stage"]
            seconds = (_time(event["occurred_at"]) - _time(before[-1]["occurred_at"])).total_seconds()
            dwell = max(0.0, seconds)
        else:
            previous_stage = None
        current = state.stage
        later = any(e["kind"] == "STAGE" for e in state.timeline[index + 1:])
        late_swap = current is not None and later and current in catalog.next_stages(code, state.canal)
        if not late_swap:
            state.stage = code
            for obs in state.observaciones:
                obs["abierta"] = False
    payload: dict[str, Any] = {
        "shipment_id": state.shipment_id,
        "source_event_id": event["event_id"],
        "kind": "SIDE_EVENT" if side else "STAGE",
        "previous_stage": previous_stage,
        "stage": code,
        "received_at": received_at,
        **state.identifiers(),
    }
    if state.canal:
        payload["canal"] = state.canal
    if not side:
        payload["dwell_seconds"] = dwell
    if event.get("observacion"):
        payload["observacion"] = event["observacion"]
    payload.pop("modo_transporte", None)
    return envelope(STAGE_ADVANCED, payload,
                    event_id=derived_event_id(event["event_id"], STAGE_ADVANCED),
                    occurred_at=event["occurred_at"])


def _drain(catalog: Catalog, state: Shipment, outcome: Outcome, position: Position) -> None:
    """Apply parked events that now fit, oldest event time first; reject those that never can."""
    changed = True
    while changed and state.pending:
        changed = False
        state.pending.sort(key=lambda p: _time(p["event"]["occurred_at"]))
        for parked in list(state.pending):
            verdict, reason, detail = _decide(catalog, state, parked["event"])
            if verdict == "park":
                continue
            state.pending.remove(parked)
            if verdict == "apply":
                outcome.advanced.append(
                    _apply(catalog, state, parked["event"], parked["received_at"], position))
            else:
                outcome.anomalies.append(
                    _anomaly(state, parked["event"], tuple(parked["position"]), reason, detail))
            changed = True
            break


def _expire(catalog: Catalog, state: Shipment, outcome: Outcome, newest: datetime) -> None:
    """Give up parked events that the shipment's newest event time passed by REORDER_WINDOW."""
    for parked in list(state.pending):
        if _time(parked["event"]["occurred_at"]) + REORDER_WINDOW < newest:
            state.pending.remove(parked)
            reason = (SIDE_EVENT_NOT_ALLOWED if parked["event"]["stage"] in catalog.side_events
                      else FORBIDDEN_TRANSITION)
            detail = (f"{parked['event']['stage']} did not become allowed within "
                      f"{int(REORDER_WINDOW.total_seconds())} s of event time; current stage {state.stage}")
            outcome.anomalies.append(
                _anomaly(state, parked["event"], tuple(parked["position"]), reason, detail))


def process(catalog: Catalog, state: Shipment | None, event: dict[str, Any], position: Position,
            received_at: str) -> Outcome:
    """Apply one validated stage event at ``position`` (partition, offset) to ``state``.

    ``received_at`` is when the system received the event (the source record's timestamp, so
    that reprocessing yields identical records). The returned state always records the position.
    """
    state = Shipment(shipment_id=event["shipment_id"]) if state is None else state.copy()
    if is_replay(state, position):
        return Outcome(state=state, replay=True)
    outcome = Outcome(state=state)
    state.last_position = list(position)
    event_id = event["event_id"]
    if event_id in state.seen_ids or any(p["event"]["event_id"] == event_id for p in state.pending):
        outcome.anomalies.append(_anomaly(state, event, position, DUPLICATE,
                                          f"event {event_id} was already received"))
        return outcome
    state.seen_ids.append(event_id)
    verdict, reason, detail = _decide(catalog, state, event)
    if verdict == "apply":
        outcome.advanced.append(_apply(catalog, state, event, received_at, position))
        _drain(catalog, state, outcome, position)
    elif verdict == "park" and len(state.pending) < MAX_PENDING:
        state.pending.append({"event": event, "position": list(position), "received_at": received_at})
    else:
        if verdict == "park":
            reason = (SIDE_EVENT_NOT_ALLOWED if event["stage"] in catalog.side_events
                      else FORBIDDEN_TRANSITION)
            detail = f"too many events waiting for earlier stages ({MAX_PENDING})"
        outcome.anomalies.append(_anomaly(state, event, position, reason, detail))
    if state.stage is not None and catalog.stages[state.stage].terminal:
        for parked in list(state.pending):
            state.pending.remove(parked)
            outcome.anomalies.append(_anomaly(
                state, parked["event"], tuple(parked["position"]), AFTER_TERMINAL,
                f"{parked['event']['stage']} still waiting when the shipment ended at {state.stage}"))
    if state.pending:
        times = [_time(e["occurred_at"]) for e in state.timeline] + [_time(event["occurred_at"])]
        _expire(catalog, state, outcome, max(times))
    return outcome


def stage_entries(state: Shipment, position: Position) -> list[dict[str, Any]]:
    """Timeline stage entries applied while processing ``position`` (for counters, also on replay)."""
    return [e for e in state.timeline
            if e["kind"] == "STAGE" and e.get("applied_at") == list(position)]

