"""``senae-tracking ingest serve`` and ``simulate --url`` as real processes, as ``up`` runs them."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from itertools import islice
from pathlib import Path

import httpx
import pytest

from senae_tracking.embedded.broker import free_port
from senae_tracking.embedded.supervisor import stop_process
from senae_tracking.services.ingest.simulator import live_events
from senae_tracking.shared.settings import Settings
from senae_tracking.shared.topics import STAGE_EVENTS
from tests.integration.ingest.conftest import read_topic

pytestmark = pytest.mark.integration

CLI = str(Path(sys.executable).with_name("senae-tracking"))


def test_serve_and_live_simulator_processes(settings: Settings, tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "SENAE_KAFKA_BOOTSTRAP": settings.kafka_bootstrap, "SENAE_KAFKA_PARTITIONS": "4",
           "SENAE_INGEST_API_KEYS": "clave-demo", "SENAE_LOG_LEVEL": "WARNING"}
    seed = random.randrange(1 << 30)
    log = (tmp_path / "serve.log").open("wb")
    # the simulator starts first and waits (retrying) for the API, as in `senae-tracking up`
    simulator = subprocess.Popen(
        [CLI, "simulate", "--url", f"http://127.0.0.1:{port}", "--rate", "40", "--count", "30",
         "--seed", str(seed)], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    server = subprocess.Popen([CLI, "ingest", "serve", "--port", str(port)], env=env, stdout=log,
                              stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline and server.poll() is None, (tmp_path / "serve.log").read_text()
            time.sleep(0.2)
        assert simulator.wait(90) == 0, (tmp_path / "serve.log").read_text()
        expected = list(islice(live_events(seed), 30))
        ids = {e["event_id"] for e in expected}
        records = read_topic(settings, STAGE_EVENTS.name, expected=30, timeout=30)
        mine = [v for _, v, _, _ in records if v["event_id"] in ids]
        assert sorted(v["event_id"] for v in mine) == sorted(ids)
        first = expected[0]["shipment_id"]
        assert [v["stage"] for v in mine if v["shipment_id"] == first] == \
            [e["stage"] for e in expected if e["shipment_id"] == first]
    finally:
        stop_process(simulator)
        stop_process(server)
        log.close()
    assert server.returncode == 0 or server.returncode == -signal.SIGTERM


def test_serve_refuses_to_start_without_keys(settings: Settings) -> None:
    env = {**os.environ, "SENAE_KAFKA_BOOTSTRAP": settings.kafka_bootstrap, "SENAE_INGEST_API_KEYS": ""}
    result = subprocess.run([CLI, "ingest", "serve", "--port", str(free_port())], env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "SENAE_INGEST_API_KEYS" in result.stderr
