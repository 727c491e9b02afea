"""The ingest API against the real broker: accepted events reach the topic exactly once, in order."""

from __future__ import annotations

import copy
import hashlib
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from senae_tracking.services.ingest import domain
from senae_tracking.services.ingest.simulator import generate_events
from tests.integration.ingest.conftest import API_KEY, Api, read_topic

pytestmark = pytest.mark.integration


def _events(n_shipments: int, seed: int) -> list[dict[str, Any]]:
    return generate_events(n_shipments, seed=seed)


def test_single_event_is_published_keyed_by_shipment(api: Api) -> None:
    event = _events(1, seed=1)[0]
    response = api.post(event)
    assert response.status_code == 202, response.text
    assert response.json()["event_ids"] == [event["event_id"]]
    assert response.json()["published"] == 1
    records = read_topic(api.settings, api.topic, expected=1)
    assert [(k, v) for k, v, _, _ in records] == [(event["shipment_id"], event)]


def test_batch_keeps_order_per_shipment_and_reposts_are_not_republished(api: Api) -> None:
    events = _events(30, seed=2)
    first, second = events[: len(events) // 2], events[len(events) // 2:]
    assert api.post(first).status_code == 202
    response = api.post(second)
    assert response.status_code == 202
    assert response.json()["accepted"] == len(second)
    again = api.post(first[:5])
    assert again.status_code == 202
    assert again.json()["duplicates"] == [e["event_id"] for e in first[:5]]
    assert again.json()["published"] == 0
    records = read_topic(api.settings, api.topic, expected=len(events))
    assert sorted(v["event_id"] for _, v, _, _ in records) == sorted(e["event_id"] for e in events)
    by_shipment: dict[str, list[tuple[int, int, str]]] = defaultdict(list)
    for key, value, partition, offset in records:
        assert key == value["shipment_id"]
        by_shipment[key].append((partition, offset, value["event_id"]))
    expected: dict[str, list[str]] = defaultdict(list)
    for event in events:
        expected[event["shipment_id"]].append(event["event_id"])
    for shipment, seen in by_shipment.items():
        assert len({p for p, _, _ in seen}) == 1, "one shipment, one partition"
        assert [i for _, _, i in sorted(seen)] == expected[shipment]


def test_duplicate_ids_inside_one_batch_are_published_once(api: Api) -> None:
    event = _events(1, seed=3)[0]
    response = api.post([event, copy.deepcopy(event)])
    assert response.status_code == 202
    assert response.json()["published"] == 1
    assert response.json()["duplicates"] == [event["event_id"]]
    assert len(read_topic(api.settings, api.topic, expected=1)) == 1


def test_partial_batch_publishes_the_valid_and_reports_the_rest(api: Api) -> None:
    events = _events(3, seed=4)[:4]
    bad = copy.deepcopy(events[1])
    bad["stage"] = "EMBARQUE"
    response = api.post([events[0], bad, events[2]], params={"partial": "true"})
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["event_ids"] == [events[0]["event_id"], events[2]["event_id"]]
    assert [(r["index"], r["field"]) for r in body["rejected"]] == [(1, "stage")]
    records = read_topic(api.settings, api.topic, expected=2)
    assert {v["event_id"] for _, v, _, _ in records} == {events[0]["event_id"], events[2]["event_id"]}


def _mutate(event: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    changed = copy.deepcopy(event)
    *parents, last = path.split(".")
    target = changed
    for part in parents:
        target = target[part]
    if value is _DELETE:
        del target[last]
    else:
        target[last] = value
    return changed


_DELETE = object()
_MANIFEST = {
    "schema": {"name": "senae.stage-event", "version": 1},
    "event_id": "5f0c7a52-1f7e-4d59-9a53-2b1c1f7d3e01", "occurred_at": "2025-03-10T08:15:00-05:00",
    "shipment_id": "CEC2025MSCU0012345", "stage": "MANIFIESTO", "ruc_importador": "1790016919001",
    "documento_transporte": {"tipo": "BL", "numero": "MEDU1234567"}, "distrito": "028",
}
_DAI = {**_MANIFEST, "stage": "DAI_TRANSMITIDA", "dai": "028-2025-10-00012345"}
_FUTURE = (datetime.now(UTC) + timedelta(hours=2)).isoformat()

INVALID_EVENTS = [
    ("wrong type", _mutate(_MANIFEST, "schema.version", "1"), "schema.version"),
    ("time without offset", _mutate(_MANIFEST, "occurred_at", "2025-03-10T08:15:00"), "occurred_at"),
    ("impossible date", _mutate(_MANIFEST, "occurred_at", "2025-02-30T08:15:00Z"), "occurred_at"),
    ("future time", _mutate(_MANIFEST, "occurred_at", _FUTURE), "occurred_at"),
    ("unknown stage", _mutate(_MANIFEST, "stage", "EMBARQUE"), "stage"),
    ("bad RUC check digit", _mutate(_MANIFEST, "ruc_importador", "1790016918001"), "ruc_importador"),
    ("RUC not digits", _mutate(_MANIFEST, "ruc_importador", 1790016919001), "ruc_importador"),
    ("bad DAI district", _mutate(_DAI, "dai", "999-2025-10-00012345"), "dai"),
    ("bad DAI shape", _mutate(_DAI, "dai", "028-25-10-12345"), "dai"),
    ("missing DAI", _mutate(_DAI, "dai", _DELETE), "dai"),
    ("missing event id", _mutate(_MANIFEST, "event_id", _DELETE), "event_id"),
    ("bad AWB", _mutate(_MANIFEST, "documento_transporte", {"tipo": "AWB", "numero": "729-12345676"}),
     "documento_transporte.numero"),
    ("unknown field", {**_MANIFEST, "color": "rojo"}, "color"),
]


@pytest.mark.parametrize(("name", "event", "field"), INVALID_EVENTS, ids=[c[0] for c in INVALID_EVENTS])
def test_invalid_event_gets_422_naming_the_field(api: Api, name: str, event: dict[str, Any],
                                                 field: str) -> None:
    good = _events(1, seed=5)[0]
    response = api.post([good, event])
    assert response.status_code == 422, response.text
    body = response.json()
    assert "nada publicado / " in body["error"]
    assert (1, field) in [(e["index"], e["field"]) for e in body["errors"]]
    assert all(e["message"] for e in body["errors"])


@pytest.mark.parametrize(("content", "status", "fragment"), [
    (b'{"schema": ', 400, "line 1"),
    (b"\xff\xfe", 400, "UTF-8"),
    (b"", 400, "JSON"),
    (b"[]", 422, "at least one"),
    (b"42", 422, "object"),
    (b'"texto"', 422, "object"),
    (b"[1, 2]", 422, "JSON object"),
])
def test_unusable_bodies_get_a_clear_error(api: Api, content: bytes, status: int, fragment: str) -> None:
    response = api.post(None, content=content, headers={"Content-Type": "application/json"})
    assert response.status_code == status, response.text
    assert fragment in response.text


def test_oversized_batch_and_body_get_413(api: Api) -> None:
    event = _events(1, seed=6)[0]
    response = api.post([event] * (domain.MAX_BATCH + 1))
    assert response.status_code == 413
    assert response.json()["errors"][0]["field"] == "(body)"
    huge = b"[" + b" " * (domain.MAX_BODY_BYTES + 10) + b"]"
    response = api.post(None, content=huge, headers={"Content-Type": "application/json"})
    assert response.status_code == 413


def test_wrong_media_type_gets_415(api: Api) -> None:
    response = api.post(None, content=b"a,b", headers={"Content-Type": "text/csv"})
    assert response.status_code == 415
    assert response.json()["errors"][0]["field"] == "Content-Type"


@pytest.mark.parametrize("header", [None, "Bearer otra-clave", "Basic " + API_KEY, f"Bearer {API_KEY}x"])
def test_missing_or_wrong_key_gets_401_and_publishes_nothing(api: Api, header: str | None) -> None:
    event = _events(1, seed=7)[0]
    headers = {"Authorization": header} if header else {}
    response = httpx.post(f"{api.url}/v1/stage-events", json=event, headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.json()["errors"][0]["field"] == "Authorization"
    assert read_topic(api.settings, api.topic, expected=1, timeout=2, settle=0) == []


def test_hashed_keys_are_accepted(api: Api) -> None:
    assert api.settings.ingest_key_hashes == {hashlib.sha256(API_KEY.encode()).hexdigest()}


def test_health_readiness_and_openapi(api: Api) -> None:
    assert api.client.get("/healthz").json() == {"status": "ok"}
    assert api.client.get("/readyz").json() == {"status": "ready"}
    spec = api.client.get("/openapi.json").json()
    assert "/v1/stage-events" in spec["paths"]
    assert "422" in spec["paths"]["/v1/stage-events"]["post"]["responses"]
