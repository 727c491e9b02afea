"""Analysts' replay: the state rebuilt offline from the log equals what the workers serve."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from senae_tracking.services.processor import workload
from senae_tracking.shared import topics
from senae_tracking.shared.settings import Settings

from .conftest import produce

pytestmark = pytest.mark.integration


def run_replay(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SENAE_KAFKA_BOOTSTRAP": settings.kafka_bootstrap, "SENAE_KAFKA_PROFILE": "local",
           "SENAE_DATA_DIR": settings.data_dir}
    return subprocess.run([sys.executable, "-m", "senae_tracking.cli", "processor", "replay", *args],
                          env=env, capture_output=True, text=True, timeout=120, check=False)


def test_replay_rebuilds_the_served_state_and_counters(private_settings: Settings, workers,
                                                       tmp_path: Path) -> None:
    events = workload.interleaved(10)
    open_life = workload.shipment_events(100)[:5]
    stale = {**open_life[1], "event_id": str(uuid.uuid4())}
    everything = [*events, *open_life, dict(events[3]), stale]
    produce(private_settings, topics.STAGE_EVENTS.name, [(e["shipment_id"], e) for e in everything])
    worker = workers()
    entries = len(events) + len(open_life)
    worker.wait_for("/stats/stages", lambda r: r.status_code == 200 and sum(
        row["entradas"] for row in r.json()["rows"]) == entries)

    out, stages = tmp_path / "states.jsonl", tmp_path / "stages.csv"
    result = run_replay(private_settings, "--out", str(out), "--stages", str(stages))
    assert result.returncode == 0, result.stderr
    assert f"{len(everything)} eventos / events, 11 embarques / shipments" in result.stderr
    assert f"{entries} avances / stage changes, 2 anomalías / anomalies" in result.stderr

    rebuilt = [json.loads(line) for line in out.read_text().splitlines()]
    assert [s["shipment_id"] for s in rebuilt] == sorted(
        {e["shipment_id"] for e in everything})
    for shipment in rebuilt:
        served = worker.wait_for(f"/shipments/{shipment['shipment_id']}", lambda r: r.status_code == 200)
        assert shipment == served.json()
    served_csv = worker.get("/stats/stages?format=csv").text
    assert stages.read_text() == served_csv


def test_replay_explains_an_unreachable_broker(tmp_path: Path) -> None:
    settings = Settings(kafka_bootstrap="127.0.0.1:1", data_dir=str(tmp_path))
    result = run_replay(settings, "--out", str(tmp_path / "states.jsonl"))
    assert result.returncode == 1
    assert "could not read the log" in result.stderr and "Traceback" not in result.stderr
