"""Ingest rules as plain functions: body parsing, event validation, API keys, CSV rows, duplicates.

No I/O and no Kafka here: the HTTP app, the file importer and the tests all call these functions.
Validation uses the shared contract (``schemas/``) for shape and identifiers, plus the rules the
schema cannot express (a real calendar time that is not in the future beyond a small clock skew).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from senae_tracking.shared import contract

#: Most events accepted in one POST (a larger array gets 413).
MAX_BATCH = 1000
#: Largest request body accepted, in bytes (a larger one gets 413).
MAX_BODY_BYTES = 4 * 1024 * 1024
#: How far in the future an event time may be, to tolerate clocks that are slightly ahead.
CLOCK_SKEW = timedelta(minutes=5)
#: How many accepted event ids one process remembers to acknowledge re-posts without republishing.
RECENT_IDS = 200_000

SCHEMA_REF = {"name": "senae.stage-event", "version": 1}

#: Namespace of event ids derived from CSV rows that carry none (same row, same id, on every run).
CSV_ID_NAMESPACE = uuid.UUID("6b1f3d52-8c1e-4b7a-9f0e-5a4c2d1e7b90")

#: Columns of the CSV import format, in the order the simulator writes them.
CSV_COLUMNS: tuple[str, ...] = (
    "event_id", "occurred_at", "shipment_id", "stage", "canal", "ruc_importador", "ruc_agente",
    "dai", "numero_entrega", "documento_transporte_tipo", "documento_transporte_numero", "mrn",
    "distrito", "modo_transporte", "observacion", "source",
)


@dataclass(frozen=True)
class EventError:
    """A problem with one event of a request or file: its position, field and rule."""

    index: int | None
    field: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready mapping ``{index, field, message}``."""
        return {"index": self.index, "field": self.field, "message": self.message}


class BodyError(ValueError):
    """The request body as a whole is unusable (not JSON, wrong top-level type, too large)."""

    def __init__(self, status: int, summary: str, errors: list[EventError]) -> None:
        self.status = status
        self.summary = summary
        self.errors = errors
        super().__init__(summary)


def parse_body(raw: bytes, max_batch: int = MAX_BATCH) -> tuple[list[Any], bool]:
    """Decode a POST body into its events and whether it was a batch (array).

    Raises :class:`BodyError` with 400 for bytes that are not UTF-8 JSON, 422 for a top-level
    value that is neither an object nor an array (or an empty array), 413 for too many events.
    """
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BodyError(400, "Cuerpo no es UTF-8 / body is not UTF-8", [
            EventError(None, "(body)", f"byte {exc.start} is not valid UTF-8")]) from None
    if not text.strip():
        raise BodyError(400, "Cuerpo vacío / empty body", [
            EventError(None, "(body)", "se esperaba JSON / a JSON object or array is required")])
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BodyError(400, "JSON inválido / malformed JSON", [
            EventError(None, "(body)", f"{exc.msg} (line {exc.lineno}, column {exc.colno})")]) from None
    except RecursionError:
        raise BodyError(400, "JSON inválido / malformed JSON", [
            EventError(None, "(body)", "nested too deeply")]) from None
    if isinstance(value, dict):
        return [value], False
    if isinstance(value, list):
        if not value:
            raise BodyError(422, "Lote vacío / empty batch", [
                EventError(None, "(body)",
                           "el lote no tiene eventos / the batch must hold at least one event")])
        if len(value) > max_batch:
            raise BodyError(413, "Lote demasiado grande / batch too large", [
                EventError(None, "(body)",
                           f"{len(value)} eventos; máximo / at most {max_batch} events per request")])
        return value, True
    raise BodyError(422, "Cuerpo inválido / invalid body", [
        EventError(None, "(body)", "debe ser un objeto o una lista de objetos / "
                                   "must be a JSON object or an array of objects")])


def time_issues(
    event: Mapping[str, Any], now: datetime, skew: timedelta = CLOCK_SKEW,
) -> list[contract.Issue]:
    """Rules on ``occurred_at`` that the schema cannot state: a real date, not in the future."""
    value = event.get("occurred_at")
    if not isinstance(value, str):
        return []  # the schema reports a missing or non-string time
    try:
        when = contract.parse_time(value)
    except ValueError:
        return [contract.Issue("occurred_at", f"{value!r} is not a valid calendar date-time")]
    if when - now > skew:
        return [contract.Issue(
            "occurred_at",
            f"está en el futuro / is in the future (more than {int(skew.total_seconds())} s "
            "ahead of the server clock)",
        )]
    return []


#: A fast yes/no schema check; when it says no, the contract's validator explains why.
FastCheck = Callable[[Any], bool]


def validate_event(
    event: Any, now: datetime, fast_check: FastCheck | None = None, skew: timedelta = CLOCK_SKEW,
) -> list[contract.Issue]:
    """Every problem with one stage event (empty if valid).

    ``fast_check`` only decides whether the slower, detailed validation is needed: an event it
    passes is still checked by the time rules, and one it fails is judged by the shared contract.
    """
    if fast_check is not None and fast_check(event):
        issues: list[contract.Issue] = []
    else:
        issues = contract.validate(contract.STAGE_EVENT, event)
    if isinstance(event, Mapping) and not any(i.field == "occurred_at" for i in issues):
        issues.extend(time_issues(event, now, skew))
    return issues


def validate_events(
    events: Iterable[Any], now: datetime, fast_check: FastCheck | None = None, start: int = 0,
) -> tuple[list[tuple[int, dict[str, Any]]], list[EventError]]:
    """Split events into the valid ones (with their index) and the errors of the invalid ones."""
    valid: list[tuple[int, dict[str, Any]]] = []
    errors: list[EventError] = []
    for index, event in enumerate(events, start):
        issues = validate_event(event, now, fast_check)
        if issues:
            errors.extend(EventError(index, i.field, i.message) for i in issues)
        else:
            valid.append((index, event))
    return valid, errors


def key_matches(presented: str | None, hashes: Iterable[str]) -> bool:
    """True if the API key's SHA-256 digest equals one of ``hashes``, compared in constant time.

    Every configured digest is compared (no early exit), so timing reveals nothing about which
    key, or how much of one, matched.
    """
    if not presented:
        return False
    digest = hashlib.sha256(presented.encode("utf-8", "surrogatepass")).hexdigest()
    found = False
    for expected in hashes:
        found |= hmac.compare_digest(digest, expected)
    return found


def bearer_token(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, or None."""
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


class RecentIds:
    """A bounded, insertion-ordered set of recently accepted event ids (oldest forgotten first)."""

    def __init__(self, capacity: int = RECENT_IDS) -> None:
        self.capacity = capacity
        self._ids: OrderedDict[str, None] = OrderedDict()

    def __contains__(self, event_id: object) -> bool:
        return event_id in self._ids

    def __len__(self) -> int:
        return len(self._ids)

    def add(self, event_id: str) -> None:
        """Remember ``event_id``, forgetting the oldest one beyond capacity."""
        self._ids[event_id] = None
        self._ids.move_to_end(event_id)
        while len(self._ids) > self.capacity:
            self._ids.popitem(last=False)


def split_duplicates(
    events: Iterable[tuple[int, dict[str, Any]]], recent: RecentIds,
) -> tuple[list[tuple[int, dict[str, Any]]], list[str]]:
    """Separate events to publish from ids already accepted (earlier, or earlier in this batch)."""
    fresh: list[tuple[int, dict[str, Any]]] = []
    duplicates: list[str] = []
    seen: set[str] = set()
    for index, event in events:
        event_id = str(event["event_id"])
        if event_id in recent or event_id in seen:
            duplicates.append(event_id)
        else:
            seen.add(event_id)
            fresh.append((index, event))
    return fresh, duplicates


def row_to_event(row: Mapping[str, str | None]) -> dict[str, Any]:
    """Build a stage event from a CSV row (flat columns, empty cells absent).

    ``schema`` is implied; a missing ``event_id`` is derived from the row's content (UUID v5), so
    re-importing the same file yields the same ids and downstream drops the repeats.
    """
    cells = {k: v.strip() for k, v in row.items() if k is not None and v is not None and v.strip()}
    event: dict[str, Any] = {"schema": dict(SCHEMA_REF)}
    tipo = cells.pop("documento_transporte_tipo", None)
    numero = cells.pop("documento_transporte_numero", None)
    event_id = cells.pop("event_id", None)
    event.update(cells)
    if tipo is not None or numero is not None:
        document: dict[str, str] = {}
        if tipo is not None:
            document["tipo"] = tipo
        if numero is not None:
            document["numero"] = numero
        event["documento_transporte"] = document
    if event_id is None:
        canonical = json.dumps(event, sort_keys=True, ensure_ascii=False)
        event_id = str(uuid.uuid5(CSV_ID_NAMESPACE, canonical))
    event["event_id"] = event_id
    return event


def event_to_row(event: Mapping[str, Any]) -> dict[str, str]:
    """Flatten a stage event into the CSV columns (the inverse of :func:`row_to_event`)."""
    row = {column: "" for column in CSV_COLUMNS}
    for key, value in event.items():
        if key == "documento_transporte" and isinstance(value, Mapping):
            row["documento_transporte_tipo"] = str(value.get("tipo", ""))
            row["documento_transporte_numero"] = str(value.get("numero", ""))
        elif key in row:
            row[key] = str(value)
    return row


def unknown_columns(header: Iterable[str]) -> list[str]:
    """CSV header names that are not import columns."""
    return [name for name in header if name not in CSV_COLUMNS]
