"""Ingest throughput on the local broker, next to the raw kafka-python producer in the same run.

Run: ``.venv/bin/python bench/ingest.py [--shipments N]``. Starts its own Tansu broker and an
``senae-tracking ingest serve`` process, and stops both. Measures, in events/s:

- raw: kafka-python producer from ``shared.kafka.make_producer`` (acks=all, idempotent, gzip),
  the same simulated events keyed by shipment id, one flush at the end;
- batch: ``POST /v1/stage-events`` with 1000 events per request (2 client threads), each answered
  only after the broker acknowledged every event;
- single: one event per request (4 client threads);
- file: ``import_file`` of a JSONL file written by the simulator (in-process, chunks of 2000).

Ratios are against the raw rate. The machine has 2 cores shared by the broker, the API, the
clients and anything else running (other developers' tests): figures vary from run to run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path
from typing import Any

import httpx

from senae_tracking.embedded.broker import LocalBroker, free_port
from senae_tracking.embedded.supervisor import stop_process
from senae_tracking.services.ingest.fileimport import import_file
from senae_tracking.services.ingest.publisher import Publisher
from senae_tracking.services.ingest.simulator import generate_events
from senae_tracking.shared.kafka import admin_client, make_producer
from senae_tracking.shared.settings import Settings
from senae_tracking.shared.topics import STAGE_EVENTS, TopicSpec, ensure_topics

KEY = "clave-bench"
CLI = str(Path(sys.executable).with_name("senae-tracking"))


def raw_rate(settings: Settings, topic: str, events: list[dict[str, Any]]) -> float:
    producer = make_producer(settings)
    try:
        producer.send(topic, value=events[0], key=events[0]["shipment_id"]).get(30)  # warm-up
        started = time.perf_counter()
        futures = [producer.send(topic, value=e, key=e["shipment_id"]) for e in events]
        producer.flush(120)
        elapsed = time.perf_counter() - started
        assert all(f.succeeded() for f in futures)
    finally:
        producer.close(10)
    return len(events) / elapsed


def _parallel(url: str, bodies: list[Any], threads: int) -> float:
    """Post ``bodies`` from ``threads`` clients; return elapsed seconds (all must get 202)."""
    chunks = [bodies[i::threads] for i in range(threads)]
    failures: list[str] = []

    def run(part: list[Any]) -> None:
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {KEY}"}, timeout=120) as client:
            for body in part:
                response = client.post("/v1/stage-events", json=body)
                if response.status_code != 202:
                    failures.append(response.text[:300])

    workers = [threading.Thread(target=run, args=(c,)) for c in chunks]
    started = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - started
    if failures:
        raise RuntimeError(f"{len(failures)} requests failed, e.g. {failures[0]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shipments", type=int, default=3000, help="shipments per measurement")
    parser.add_argument("--single", type=int, default=3000, help="events posted one by one")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", category=DeprecationWarning)  # kafka-python's serializer notice

    broker = LocalBroker(free_port())
    broker.start()
    server: subprocess.Popen[bytes] | None = None
    try:
        settings = Settings(kafka_bootstrap=broker.bootstrap, kafka_profile="local",
                            ingest_api_keys=KEY)
        admin = admin_client(settings)
        specs = (STAGE_EVENTS, *(TopicSpec(f"bench.{n}", "shipment_id", n) for n in ("raw", "file")))
        ensure_topics(admin, specs, partitions=settings.kafka_partitions)
        admin.close()

        raw_events = generate_events(args.shipments, seed=1)
        batch_events = generate_events(args.shipments, seed=2)
        file_events = generate_events(args.shipments, seed=3)
        single_events = generate_events(args.shipments, seed=4)[: args.single]
        print(f"events per measurement: {len(raw_events)} (single posts: {len(single_events)})")

        raw = raw_rate(settings, "bench.raw", raw_events)
        print(f"raw kafka-python producer : {raw:10,.0f} events/s")

        port = free_port()
        env = {**os.environ, "SENAE_KAFKA_BOOTSTRAP": broker.bootstrap, "SENAE_INGEST_API_KEYS": KEY,
               "SENAE_LOG_LEVEL": "WARNING"}
        server = subprocess.Popen([CLI, "ingest", "serve", "--port", str(port)], env=env,
                                  start_new_session=True)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("ingest API did not become ready")
            time.sleep(0.2)
        _parallel(url, [generate_events(5, seed=5)], 1)  # warm-up: producer and connections

        batches = [batch_events[i:i + 1000] for i in range(0, len(batch_events), 1000)]
        batch = len(batch_events) / _parallel(url, batches, 2)
        print(f"API batches of 1000       : {batch:10,.0f} events/s   ({batch / raw:5.1%} of raw)")

        single = len(single_events) / _parallel(url, single_events, 4)
        print(f"API single events         : {single:10,.0f} events/s   ({single / raw:5.1%} of raw)")

        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "bench.jsonl"
            with path.open("w", encoding="utf-8") as fh:
                for event in file_events:
                    fh.write(json.dumps(event, ensure_ascii=False) + "\n")
            publisher = Publisher(settings, topic="bench.file")
            try:
                started = time.perf_counter()
                result = import_file(path, publisher.publish, show_progress=False)
                elapsed = time.perf_counter() - started
            finally:
                publisher.close()
            assert result.published == len(file_events), result.summary()
        file_rate = len(file_events) / elapsed
        print(f"file import (JSONL)       : {file_rate:10,.0f} events/s   ({file_rate / raw:5.1%} of raw)")
        print(f"target: batch >= 50% of raw -> {'met' if batch >= 0.5 * raw else 'NOT met'}")
    finally:
        if server is not None:
            stop_process(server)
        broker.stop()


if __name__ == "__main__":
    main()
