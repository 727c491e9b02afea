"""Analysts' replay benchmark: rebuild every shipment's state offline from the stage-event log.

Run: ``.venv/bin/python bench/replay.py [--shipments N]``. It starts its own Tansu broker,
publishes the whole lives of N synthetic shipments (about 8.75 events each), then times:

- reading the topic to its end with the shared reader alone (kafka-python, the ceiling here);
- ``senae-tracking processor replay --out FILE --stages FILE`` as a user runs it (process start,
  read, state machine, JSON lines written), and the same in-process without the writing.

Figures are events/s and the replay's share of the raw read.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from processor import produce  # the benchmark next door publishes the same way
from senae_tracking.embedded.broker import LocalBroker, free_port
from senae_tracking.services.processor import pipeline, replay, workload
from senae_tracking.shared import topics
from senae_tracking.shared.catalog import load_catalog
from senae_tracking.shared.settings import Settings
from senae_tracking.shared.topiclog import read_records
from senae_tracking.shared.topics import create_missing_topics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--shipments", type=int, default=12000)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        broker = LocalBroker(free_port(), log_path=Path(tmp) / "tansu.log").start()
        try:
            settings = Settings(kafka_bootstrap=broker.bootstrap, kafka_profile="local",
                                data_dir=str(Path(tmp) / "data"))
            create_missing_topics(settings)
            events = workload.interleaved(args.shipments)
            rate = asyncio.run(produce(settings, [(topics.STAGE_EVENTS.name, e["shipment_id"], e)
                                                  for e in events]))
            print(f"stage events produced: {len(events)} ({rate:,.0f} msg/s)")

            started = time.perf_counter()
            count = sum(1 for _ in read_records(settings, topics.STAGE_EVENTS.name))
            raw = count / (time.perf_counter() - started)
            print(f"raw read to the end (shared reader): {raw:,.0f} events/s")

            started = time.perf_counter()
            records = (pipeline.Record(r.topic, r.partition, r.offset, r.timestamp / 1000, r.value)
                       for r in read_records(settings, topics.STAGE_EVENTS.name))
            rebuilt = replay.rebuild(load_catalog(), records, advanced_topic=topics.STAGE_ADVANCED.name,
                                     anomalies_topic=topics.STAGE_ANOMALIES.name)
            inside = rebuilt.records / (time.perf_counter() - started)
            print(f"rebuild in process: {inside:,.0f} events/s ({inside / raw:.0%} of raw), "
                  f"{len(rebuilt.states)} shipments, {rebuilt.anomalies} anomalies")

            env = {**os.environ, "SENAE_KAFKA_BOOTSTRAP": broker.bootstrap, "SENAE_KAFKA_PROFILE": "local",
                   "SENAE_DATA_DIR": settings.data_dir}
            started = time.perf_counter()
            done = subprocess.run([sys.executable, "-m", "senae_tracking.cli", "processor", "replay",
                                   "--out", str(Path(tmp) / "states.jsonl"),
                                   "--stages", str(Path(tmp) / "stages.csv")],
                                  env=env, capture_output=True, text=True, check=True)
            elapsed = time.perf_counter() - started
            print(f"`processor replay` command: {len(events) / elapsed:,.0f} events/s "
                  f"({elapsed:.1f} s with process start and output) — {done.stderr.strip()}")
        finally:
            broker.stop()


if __name__ == "__main__":
    main()
