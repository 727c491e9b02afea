"""The simulator's events are valid, ordered per the catalog, realistic and reproducible."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import Any

from senae_tracking.services.ingest.simulator import CHANNELS, generate_events, live_events
from senae_tracking.shared import contract, identifiers
from senae_tracking.shared.catalog import load_catalog

END = datetime(2025, 6, 30, 15, 0, tzinfo=UTC)


def _assert_valid_flow(events: list[dict[str, Any]]) -> None:
    catalog = load_catalog()
    stage: str | None = None
    channel: str | None = None
    passed: set[str] = set()
    for event in events:
        code = event["stage"]
        if code in catalog.side_events:
            assert stage in catalog.side_events[code].allowed_from, (stage, code)
            continue
        assert code in catalog.next_stages(stage, channel), (stage, code, channel)
        assert catalog.required_before(code, channel) <= passed, (code, passed)
        channel = event.get("canal", channel)
        stage = code
        passed.add(code)


def test_events_are_valid_and_ordered_per_shipment() -> None:
    events = generate_events(400, seed=3, end=END)
    assert generate_events(400, seed=3, end=END) == events
    assert all(contract.validate(contract.STAGE_EVENT, e) == [] for e in events)
    assert len({e["event_id"] for e in events}) == len(events)
    times = [contract.parse_time(e["occurred_at"]) for e in events]
    assert times == sorted(times)
    assert max(times) <= END and max(times) >= END - timedelta(hours=6)
    flows: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for event in events:
        flows[event["shipment_id"]].append(event)
    assert len(flows) == 400
    for flow in flows.values():
        _assert_valid_flow(flow)
        assert flow[0]["stage"] == "MANIFIESTO"


def test_realistic_mix() -> None:
    events = generate_events(3000, seed=4, end=END)
    channels = Counter(e["canal"] for e in events if e["stage"] == "DAI_ACEPTADA")
    total = sum(channels.values())
    for channel, share in CHANNELS.items():
        assert abs(channels[channel] / total - share) < 0.05
    stages = Counter(e["stage"] for e in events)
    assert stages["OBSERVACION"] > 0 and stages["CORRECCION"] > 0 and stages["ABANDONO"] > 0
    catalog = load_catalog()
    for event in events:
        for field in ("ruc_importador", "ruc_agente"):
            if field in event:
                assert identifiers.check_ruc(event[field]) is None
        if "dai" in event:
            assert identifiers.check_dai(event["dai"], catalog.districts, catalog.regimes) is None
        if "distrito" in event:
            assert event["distrito"] in catalog.districts
    assert len({e["distrito"] for e in events if "distrito" in e}) >= 8


def test_live_stream_is_valid_and_stamped_now() -> None:
    events = list(islice(live_events(seed=5, clock=lambda: END, active=10), 600))
    flows: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for event in events:
        assert contract.validate(contract.STAGE_EVENT, event) == []
        assert contract.parse_time(event["occurred_at"]) == END
        flows[event["shipment_id"]].append(event)
    for flow in flows.values():
        _assert_valid_flow(flow)
    again = islice(live_events(seed=5, active=10), 20)
    assert [e["event_id"] for e in again] == [e["event_id"] for e in events[:20]]
