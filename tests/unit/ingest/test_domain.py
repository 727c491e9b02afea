"""Pure ingest rules: body parsing, validation, keys, duplicates, CSV rows."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest

from senae_tracking.services.ingest import domain
from senae_tracking.services.ingest.simulator import generate_events
from senae_tracking.shared import contract

NOW = datetime(2025, 3, 20, 12, 0, tzinfo=UTC)


def test_parse_body_single_and_batch() -> None:
    assert domain.parse_body(b'{"a": 1}') == ([{"a": 1}], False)
    assert domain.parse_body(b'[{"a": 1}, {"b": 2}]') == ([{"a": 1}, {"b": 2}], True)


@pytest.mark.parametrize(("raw", "status"), [
    (b"{", 400), (b"\xc3\x28", 400), (b"   ", 400), (b"[" * 100_000, 400), (b"[]", 422), (b"null", 422),
    (b"[" + b"{}," * 1000 + b"{}]", 413),
])
def test_parse_body_errors(raw: bytes, status: int) -> None:
    with pytest.raises(domain.BodyError) as error:
        domain.parse_body(raw)
    assert error.value.status == status
    assert error.value.errors[0].field == "(body)"
    assert " / " in error.value.summary


def test_time_rules() -> None:
    event = {"occurred_at": (NOW + timedelta(minutes=4)).isoformat()}
    assert domain.time_issues(event, NOW) == []
    event = {"occurred_at": (NOW + timedelta(minutes=6)).isoformat()}
    assert [i.field for i in domain.time_issues(event, NOW)] == ["occurred_at"]
    assert "calendar" in domain.time_issues({"occurred_at": "2025-02-30T00:00:00Z"}, NOW)[0].message


def test_validate_events_reports_index_and_field() -> None:
    events = generate_events(3, seed=1, end=NOW)
    bad = {**events[1], "distrito": "999"}
    check = contract.fast_check(contract.STAGE_EVENT)
    valid, errors = domain.validate_events([events[0], bad], NOW, check)
    assert [i for i, _ in valid] == [0]
    assert [(e.index, e.field) for e in errors] == [(1, "distrito")]


def test_api_keys_compare_digests() -> None:
    hashes = {hashlib.sha256(b"uno").hexdigest(), hashlib.sha256(b"dos").hexdigest()}
    assert domain.key_matches("dos", hashes)
    assert not domain.key_matches("tres", hashes)
    assert not domain.key_matches(None, hashes)
    assert not domain.key_matches("uno", set())
    assert domain.bearer_token("Bearer  abc ") == "abc"
    assert domain.bearer_token("Basic abc") is None
    assert domain.bearer_token("Bearer") is None


def test_recent_ids_are_bounded_and_split_duplicates() -> None:
    recent = domain.RecentIds(capacity=2)
    for event_id in ("a", "b", "c"):
        recent.add(event_id)
    assert "a" not in recent and "b" in recent and "c" in recent and len(recent) == 2
    events = [(0, {"event_id": "c"}), (1, {"event_id": "d"}), (2, {"event_id": "d"})]
    fresh, duplicates = domain.split_duplicates(events, recent)
    assert [i for i, _ in fresh] == [1]
    assert duplicates == ["c", "d"]


def test_csv_rows_round_trip_and_derived_ids_are_stable() -> None:
    for event in generate_events(5, seed=2, end=NOW):
        assert domain.row_to_event(domain.event_to_row(event)) == event
        row = {**domain.event_to_row(event), "event_id": ""}
        first, second = domain.row_to_event(row), domain.row_to_event(dict(row))
        assert first["event_id"] == second["event_id"] != event["event_id"]
    assert domain.unknown_columns(["stage", "color"]) == ["color"]
