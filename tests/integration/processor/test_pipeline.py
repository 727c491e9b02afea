"""A processor worker against a real broker: events in, state, look-ups, records and counters out."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from senae_tracking.services.processor import transparency, workload
from senae_tracking.shared import topics
from senae_tracking.shared.contract import STAGE_ADVANCED, STAGE_ANOMALY, derived_event_id, validate
from senae_tracking.shared.settings import Settings

from .conftest import produce, read_all

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[3]


def test_stage_events_give_state_lookups_records_and_anomalies(private_settings: Settings,
                                                                 workers) -> None:
    worker = workers()
    count = 12
    events = workload.interleaved(count)
    duplicate = dict(events[3])
    open_life = workload.shipment_events(100)[:5]  # automatic channel, stopped at DAI_ACEPTADA
    stale = {**open_life[1], "event_id": str(uuid.uuid4())}  # ARRIBO again, another id
    forbidden = {**open_life[4], "event_id": str(uuid.uuid4()), "stage": "AFORO"}
    produce(private_settings, topics.STAGE_EVENTS.name,
            [(e["shipment_id"], e) for e in [*events, *open_life, duplicate, stale]])

    last = workload.shipment_events(5)
    sid = workload.shipment_id(5)
    body = worker.wait_for(f"/shipments/{sid}",
                           lambda r: r.status_code == 200 and r.json()["stage"] == "SALIDA").json()
    assert [e["stage"] for e in body["timeline"]] == [e["stage"] for e in last]
    assert [e["occurred_at"] for e in body["timeline"]] == [e["occurred_at"] for e in last]
    assert body["dai"] == last[3]["dai"] and body["canal"] == last[4]["canal"]

    # shipment 100 is automatic: AFORO is forbidden there
    produce(private_settings, topics.STAGE_EVENTS.name, [(forbidden["shipment_id"], forbidden)])

    advanced = read_all(private_settings, topics.STAGE_ADVANCED.name, len(events) + len(open_life))
    assert sorted(a["event_id"] for a in advanced) == sorted(
        derived_event_id(e["event_id"], STAGE_ADVANCED) for e in [*events, *open_life])
    for record in advanced:
        assert validate(STAGE_ADVANCED, record) == []
    exit_record = next(a for a in advanced if a["source_event_id"] == last[-1]["event_id"])
    assert exit_record["ruc_agente"] == workload.AGENT and exit_record["distrito"] == last[0]["distrito"]
    assert exit_record["documento_transporte"] == last[0]["documento_transporte"]

    anomalies = read_all(private_settings, topics.STAGE_ANOMALIES.name, 3)
    assert sorted(a["reason"] for a in anomalies) == ["DUPLICATE", "FORBIDDEN_TRANSITION", "STALE"]
    for record in anomalies:
        assert validate(STAGE_ANOMALY, record) == []

    found = worker.wait_for(f"/dai/{last[3]['dai']}", lambda r: r.status_code == 200).json()
    assert found["shipment_ids"] == [sid] and found["shipments"][0]["stage"] == "SALIDA"
    entrega = worker.wait_for(f"/entregas/{last[3]['numero_entrega']}", lambda r: r.status_code == 200)
    assert entrega.json()["shipment_ids"] == [sid]
    document = worker.wait_for(f"/documentos/{last[0]['documento_transporte']['numero']}",
                               lambda r: r.status_code == 200)
    assert document.json()["shipment_ids"] == [sid]
    importer = workload.IMPORTERS[0]
    listed = worker.wait_for(f"/ruc/{importer}/shipments",
                             lambda r: r.status_code == 200 and len(r.json()["shipments"]) == 4).json()
    assert {s["shipment_id"] for s in listed["shipments"]} == {workload.shipment_id(i) for i in (0, 3, 6, 9)}
    agent = worker.wait_for(f"/ruc/{workload.AGENT}/shipments",
                            lambda r: r.status_code == 200 and len(r.json()["shipments"]) == count + 1).json()
    assert all(s["roles"] == ["AGENTE"] for s in agent["shipments"])

    stages = worker.wait_for("/stats/stages", lambda r: r.status_code == 200 and any(
        row["stage"] == "SALIDA" and row["entradas"] == 4 for row in r.json()["rows"]))
    assert sum(r["entradas"] for r in stages.json()["rows"]) == len(events) + len(open_life)

    assert worker.get("/shipments/X").status_code == 400
    missing = worker.get("/shipments/NOEXISTE123")
    assert missing.status_code == 404 and "no encontrado" in missing.json()["error"].lower()
    assert worker.get("/dai/028-2025-99-00000001").status_code == 400
    assert worker.get("/dai/028-2025-10-09999999").status_code == 404
    assert worker.get("/ruc/1790016918001/shipments").status_code == 400
    assert worker.get("/entregas/123").status_code == 400


def test_replayed_attention_log_reproduces_the_transparency_table(private_settings: Settings,
                                                                   workers) -> None:
    table = transparency.scale_table(
        transparency.read_table(REPO / "data" / "senae-tracking-transparencia.csv"), 1000)
    messages = list(transparency.generate_log(table))
    half = len(messages) // 2

    def publish(part: list[tuple[str, str, dict[str, Any]]]) -> None:
        for topic in (topics.ATTENTIONS.name, topics.COMPLAINTS.name):
            produce(private_settings, topic, [(k, m) for t, k, m in part if t == topic])

    publish(messages[:half])
    first = workers()
    first.wait_for("/stats/monthly", lambda r: r.status_code == 200 and len(r.json()["rows"]) > 0)
    first.kill()  # SIGKILL: the restarted worker must restore the counts, not count twice
    publish(messages[half:])
    worker = workers()
    expected = [{"anio": r.anio, "mes": r.mes, "quejas": r.quejas, "atenciones": r.atenciones}
                for r in table]
    body = worker.wait_for("/stats/monthly",
                           lambda r: r.status_code == 200 and r.json()["rows"] == expected).json()
    assert body["columns"] == ["anio", "mes", "quejas", "atenciones"]
    csv_text = worker.get("/stats/monthly?format=csv")
    assert csv_text.headers["content-type"].startswith("text/csv")
    assert csv_text.text == transparency.table_csv(table)
    time.sleep(2)  # a late double count would show now
    assert worker.get("/stats/monthly").json()["rows"] == expected
