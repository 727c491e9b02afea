"""File import (JSONL and CSV) against the real broker, through the function and the CLI."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from senae_tracking.services.ingest.cli import ingest, simulate
from senae_tracking.services.ingest.domain import CSV_COLUMNS, event_to_row
from senae_tracking.services.ingest.fileimport import import_file
from senae_tracking.services.ingest.publisher import Publisher
from senae_tracking.services.ingest.simulator import generate_events
from senae_tracking.shared.settings import Settings
from senae_tracking.shared.topics import STAGE_EVENTS
from tests.integration.ingest.conftest import create_topic, read_topic

pytestmark = pytest.mark.integration


def _write_jsonl(path: Path, lines: list[Any]) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for line in lines:
            fh.write((line if isinstance(line, str) else json.dumps(line)) + "\n")


def test_jsonl_import_publishes_valid_rows_and_reports_rejects(settings: Settings, tmp_path: Path) -> None:
    topic = create_topic(settings)
    events = generate_events(40, seed=21)
    bad_ruc = {**events[3], "event_id": "0b8e6a52-1f7e-4d59-9a53-2b1c1f7d3e99",
               "ruc_importador": "1790016918001"}
    path = tmp_path / "eventos.jsonl"
    _write_jsonl(path, [*events[:10], "{not json", bad_ruc, "", events[0], *events[10:]])
    publisher = Publisher(settings, topic=topic)
    try:
        result = import_file(path, publisher.publish, chunk=7, show_progress=False)
    finally:
        publisher.close()
    counts = (result.read, result.published, result.duplicates, result.rejected)
    assert counts == (len(events) + 3, len(events), 1, 2)
    rejected = [json.loads(line) for line in (tmp_path / "eventos.rejected.jsonl").read_text().splitlines()]
    assert [r["line"] for r in rejected] == [11, 12]
    assert "malformed JSON" in rejected[0]["errors"][0]["message"]
    assert rejected[1]["errors"][0]["field"] == "ruc_importador"
    records = read_topic(settings, topic, expected=len(events))
    assert sorted(v["event_id"] for _, v, _, _ in records) == sorted(e["event_id"] for e in events)


def test_csv_import_derives_stable_ids_and_rejects_bad_rows(settings: Settings, tmp_path: Path) -> None:
    topic = create_topic(settings)
    events = generate_events(10, seed=22)
    path = tmp_path / "eventos.csv"
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(CSV_COLUMNS))
        writer.writeheader()
        for event in events:
            row = event_to_row(event)
            row["event_id"] = ""  # derived from the content
            writer.writerow(row)
        writer.writerow({**event_to_row(events[0]), "event_id": "", "dai": "028-2025-99-00000001",
                         "stage": "DAI_TRANSMITIDA"})
    publisher = Publisher(settings, topic=topic)
    try:
        first = import_file(path, publisher.publish, show_progress=False)
        second = import_file(path, lambda _events: None, show_progress=False)
    finally:
        publisher.close()
    assert (first.read, first.published, first.rejected) == (len(events) + 1, len(events), 1)
    assert second.published == first.published
    rejected = json.loads((tmp_path / "eventos.rejected.jsonl").read_text().splitlines()[0])
    assert rejected["errors"][0]["field"] == "dai" and "regime" in rejected["errors"][0]["message"]
    records = read_topic(settings, topic, expected=len(events))
    assert len(records) == len(events)
    for (_, value, _, _), event in zip(sorted(records, key=lambda r: r[1]["occurred_at"]),
                                       sorted(events, key=lambda e: e["occurred_at"]), strict=True):
        assert {k: v for k, v in value.items() if k != "event_id"} == \
               {k: v for k, v in event.items() if k != "event_id"}


def test_cli_simulate_then_import_summary_and_exit_codes(settings: Settings, tmp_path: Path) -> None:
    env = {"SENAE_KAFKA_BOOTSTRAP": settings.kafka_bootstrap, "SENAE_KAFKA_PARTITIONS": "4",
           "SENAE_KAFKA_PROFILE": "local"}
    runner = CliRunner()
    out = tmp_path / "sim.jsonl"
    result = runner.invoke(simulate, ["--shipments", "15", "--seed", "23", "--out", str(out)], env=env)
    assert result.exit_code == 0, result.output
    events = [json.loads(line) for line in out.read_text().splitlines()]
    result = runner.invoke(ingest, ["file", str(out)], env=env)
    assert result.exit_code == 0, result.output
    assert f"publicados / published: {len(events)}" in result.output
    assert not (tmp_path / "sim.rejected.jsonl").exists()

    with out.open("a", encoding="utf-8") as fh:
        fh.write('{"stage": "MANIFIESTO"}\n')
    result = runner.invoke(ingest, ["file", str(out)], env=env)
    assert result.exit_code == 1, result.output
    assert "rechazados / rejected: 1" in result.output
    assert (tmp_path / "sim.rejected.jsonl").exists()

    bad = tmp_path / "bad.csv"
    bad.write_text("shipment_id,color\nX,rojo\n")
    result = runner.invoke(ingest, ["file", str(bad)], env=env)
    assert result.exit_code == 2
    assert "color" in result.output

    ids = {e["event_id"] for e in events}
    records = read_topic(settings, STAGE_EVENTS.name, expected=2 * len(events))
    mine = [v["event_id"] for _, v, _, _ in records if v["event_id"] in ids]
    # two runs of the same file: the same ids twice, which the processor drops as duplicates
    assert sorted(mine) == sorted([*ids, *ids])


def test_cli_file_exits_3_when_the_broker_is_down(tmp_path: Path) -> None:
    from senae_tracking.embedded.broker import free_port

    out = tmp_path / "sim.jsonl"
    _write_jsonl(out, generate_events(2, seed=24))
    env = {"SENAE_KAFKA_BOOTSTRAP": f"127.0.0.1:{free_port()}"}
    result = CliRunner().invoke(ingest, ["file", str(out)], env=env)
    assert result.exit_code == 3, result.output
    assert "Broker no disponible / broker unavailable" in result.output
