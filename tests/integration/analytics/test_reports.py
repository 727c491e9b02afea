"""Reports and exports read the real topics to their end, on a broker of their own."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from senae_tracking.analytics.cli import export, report
from senae_tracking.embedded.broker import LocalBroker, free_port
from senae_tracking.shared import contract
from senae_tracking.shared.kafka import make_producer
from senae_tracking.shared.settings import Settings
from senae_tracking.shared.topics import ATTENTIONS, COMPLAINTS, STAGE_ADVANCED, create_missing_topics

RUC = "1790016919001"


@pytest.fixture
def private_settings() -> Iterator[Settings]:
    with LocalBroker(free_port()) as broker:
        settings = Settings(kafka_bootstrap=broker.bootstrap, kafka_partitions=3)
        create_missing_topics(settings)
        yield settings


def test_monthly_report_and_export(private_settings: Settings, tmp_path: Path) -> None:
    producer = make_producer(private_settings)
    sent = []
    for i, when in enumerate(["2025-01-31T23:00:00-05:00", "2025-02-01T04:59:00Z",
                              "2025-02-01T05:00:00Z"] * 10):
        message = contract.envelope(contract.ATTENTION, {"ruc": RUC}, occurred_at=when)
        producer.send(ATTENTIONS.name, key=RUC, value=message)
        sent.append(message)
        if i % 10 == 0:
            producer.send(ATTENTIONS.name, key=RUC, value=message)  # redelivered: counted once
    complaint = contract.envelope(contract.COMPLAINT, {"ruc": RUC, "asunto": "Demora"},
                                  occurred_at="2025-02-15T10:00:00-05:00")
    producer.send(COMPLAINTS.name, key=RUC, value=complaint)
    producer.flush()
    producer.close()
    env = {"SENAE_KAFKA_BOOTSTRAP": private_settings.kafka_bootstrap}

    result = CliRunner().invoke(report, ["monthly"], env=env)
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert rows == [{"anio": "2025", "mes": "02", "quejas": "1", "atenciones": "10"},
                    {"anio": "2025", "mes": "01", "quejas": "0", "atenciones": "20"}]

    out = tmp_path / "attentions.jsonl"
    result = CliRunner().invoke(export, ["attentions", "--out", str(out)], env=env)
    assert result.exit_code == 0, result.output
    exported = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(exported) == 33
    assert {m["event_id"] for m in exported} == {m["event_id"] for m in sent}


def test_dwell_report(private_settings: Settings) -> None:
    producer = make_producer(private_settings)
    for hours in (2, 4, 6):
        source = contract.envelope(contract.STAGE_EVENT, {})["event_id"]
        message = contract.envelope(contract.STAGE_ADVANCED, {
            "shipment_id": "SHIP001", "source_event_id": source, "kind": "STAGE",
            "previous_stage": "AFORO", "stage": "PAGO", "dwell_seconds": hours * 3600.0})
        assert contract.validate(contract.STAGE_ADVANCED, message) == []
        producer.send(STAGE_ADVANCED.name, key="SHIP001", value=message)
    producer.flush()
    producer.close()
    result = CliRunner().invoke(report, ["dwell"],
                                env={"SENAE_KAFKA_BOOTSTRAP": private_settings.kafka_bootstrap})
    assert result.exit_code == 0, result.output
    line = next(line for line in result.stdout.splitlines() if line.startswith("Aforo"))
    assert line.split()[-4:] == ["3", "4.0", "4.0", "6.0"]
