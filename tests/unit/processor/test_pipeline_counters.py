"""Batch planning, look-up updates, counters and the transparency log generator (pure, no I/O)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from senae_tracking.services.processor import counters, pipeline, transparency, workload
from senae_tracking.shared import topics
from senae_tracking.shared.catalog import load_catalog
from senae_tracking.shared.contract import validate

CAT = load_catalog()
REPO = Path(__file__).resolve().parents[3]


def records(events: list[dict[str, Any]], partition: int = 0, start: int = 0) -> list[pipeline.Record]:
    return [pipeline.Record(topics.STAGE_EVENTS.name, partition, start + i, 1.7e9, json.dumps(e).encode())
            for i, e in enumerate(events)]


class Store:
    """Applies plans the way the agent does, so that batches can be replayed."""

    def __init__(self) -> None:
        self.states: dict[str, Any] = {}
        self.snapshots: dict[str, Any] = {}
        self.sent: list[pipeline.Send] = []

    def run(self, batch: list[pipeline.Record]) -> pipeline.Plan:
        plan = pipeline.plan_stage_batch(CAT, batch, self.states.get, self.snapshots.get,
                                         advanced_topic="adv", anomalies_topic="ano")
        self.sent += plan.sends
        self.states.update({k: v for k, (_p, v) in plan.states.items()})
        self.snapshots.update({k: v for k, (_p, v) in plan.snapshots.items()})
        return plan


def test_month_key_uses_ecuador_time() -> None:
    assert counters.month_key("2020-02-01T03:00:00Z") == "2020-01"
    assert counters.month_key("2020-02-01T05:00:00Z") == "2020-02"
    assert counters.month_key("2020-01-31T23:59:59-05:00") == "2020-01"
    assert counters.month_key("2020-02-01T00:00:00.5+00:00") == "2020-01"


def test_replaying_a_batch_changes_nothing_and_emits_nothing() -> None:
    events = workload.interleaved(5)
    store = Store()
    store.run(records(events))
    states, snapshots, sent = dict(store.states), json.dumps(store.snapshots), len(store.sent)
    store.run(records(events[-10:], start=len(events) - 10))  # redelivery after a restart
    assert store.states == states and json.dumps(store.snapshots) == snapshots
    assert len(store.sent) == sent


def test_state_write_lost_replays_to_the_same_records() -> None:
    events = workload.interleaved(3)
    first = Store()
    first.run(records(events))
    again = Store()
    again.snapshots = dict(first.snapshots)  # counters written, state writes lost
    again.run(records(events))
    assert again.sent == first.sent, "same messages, same derived ids"
    assert again.snapshots == first.snapshots, "counted once"


def test_outputs_are_valid_and_counters_count_stage_entries() -> None:
    events = workload.interleaved(4)
    store = Store()
    store.run(records(events))
    kinds = Counter(send.topic for send in store.sent)
    assert kinds["adv"] == len(events) and kinds["ano"] == 0
    for send in store.sent:
        if send.topic == "adv":
            message = json.loads(send.value)
            assert validate("stage-advanced", message) == [] and message["event_id"] == send.event_id
    rows = counters.stage_rows({f"{topics.STAGE_EVENTS.name}:0": store.snapshots[
        f"{topics.STAGE_EVENTS.name}:0"]}, topics.STAGE_EVENTS.name)
    assert sum(r["entradas"] for r in rows) == len(events)
    assert {r["distrito"] for r in rows} == {"028", "019", "055"}


def test_invalid_records_are_skipped() -> None:
    bad = [pipeline.Record(topics.STAGE_EVENTS.name, 0, 0, None, b"{not json"),
           pipeline.Record(topics.STAGE_EVENTS.name, 0, 1, None, b'{"stage": "NOPE"}')]
    empty: dict[str, Any] = {}
    plan = pipeline.plan_stage_batch(CAT, bad, empty.get, empty.get, advanced_topic="a",
                                     anomalies_topic="b")
    assert plan.invalid == 2 and plan.sends == []


def test_index_update_is_idempotent() -> None:
    add = {"kind": "dai", "key": "x", "shipment_id": "S1"}
    assert pipeline.index_update(None, add) == ["S1"]
    assert pipeline.index_update(["S1"], add) is None
    ruc = {"kind": "ruc", "key": "r", "shipment_id": "S1", "role": "AGENTE"}
    both = pipeline.index_update({"S1": ["IMPORTADOR"]}, ruc)
    assert both == {"S1": ["AGENTE", "IMPORTADOR"]}
    assert pipeline.index_update(both, ruc) is None


def test_counting_skips_redelivered_records() -> None:
    rows = transparency.scale_table(transparency.read_table(REPO / "data/senae-tracking-transparencia.csv"),
                                    5000)
    log = [m for t, _k, m in transparency.generate_log(rows) if t == topics.ATTENTIONS.name]
    recs = [pipeline.Record(topics.ATTENTIONS.name, 3, i, None, json.dumps(m).encode())
            for i, m in enumerate(log)]
    snapshots: dict[str, Any] = {}
    for batch in (recs[:300], recs[200:], recs[-50:], recs):  # overlapping redeliveries
        plan = pipeline.count_batch(batch, snapshots.get)
        snapshots.update({k: v for k, (_p, v) in plan.snapshots.items()})
    table = counters.monthly_rows(snapshots, topics.ATTENTIONS.name, topics.COMPLAINTS.name)
    assert [r["atenciones"] for r in table] == [r.atenciones for r in rows]


def test_generated_log_reproduces_the_table() -> None:
    rows = transparency.scale_table(transparency.read_table(REPO / "data/senae-tracking-transparencia.csv"),
                                    2000)
    log = list(transparency.generate_log(rows))
    for _topic, _key, message in log[:50]:
        kind = message["schema"]["name"].removeprefix("senae.")
        assert validate(kind, message) == []
    snapshots: dict[str, Any] = {}
    for topic in (topics.ATTENTIONS.name, topics.COMPLAINTS.name):
        recs = [pipeline.Record(t, 0, i, None, json.dumps(m).encode())
                for i, (t, _k, m) in enumerate(x for x in log if x[0] == topic)]
        plan = pipeline.count_batch(recs, snapshots.get)
        snapshots.update({k: v for k, (_p, v) in plan.snapshots.items()})
    table = counters.monthly_rows(snapshots, topics.ATTENTIONS.name, topics.COMPLAINTS.name)
    assert table == [{"anio": r.anio, "mes": r.mes, "quejas": r.quejas, "atenciones": r.atenciones}
                     for r in rows]
    assert counters.to_csv(table, counters.MONTHLY_COLUMNS) == transparency.table_csv(rows)
    assert transparency.table_csv(transparency.read_table(REPO / "data/senae-tracking-transparencia.csv")) \
        == (REPO / "data/senae-tracking-transparencia.csv").read_text()


def test_invalid_records_still_advance_the_processed_offset() -> None:
    bad = [pipeline.Record(topics.STAGE_EVENTS.name, 0, 7, None, b"{not json")]
    plan = pipeline.plan_stage_batch(CAT, bad, lambda _sid: None, lambda _src: None,
                                     advanced_topic="a", anomalies_topic="b")
    assert plan.snapshots[f"{topics.STAGE_EVENTS.name}:0"][1]["wm"] == 7
