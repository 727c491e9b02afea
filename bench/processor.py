"""Processor benchmark on the local broker: raw consume rate, processor rates, baseline, 72-month replay.

Run: ``.venv/bin/python bench/processor.py [--shipments N] [--divisor D]``. It starts its own Tansu
broker and worker subprocesses, and stops them all. Figures printed:

- raw aiokafka consume + JSON decode rate of the stage events (the ceiling on this machine);
- a plain Faust agent (one event at a time, one table write per event; terminal spinner off) on the
  same events: the baseline;
- the processor worker on stage events (state machine, outputs, look-ups, counters), events/s;
- the processor on the attention/complaint log generated from the transparency table
  (``--divisor 1``: the full 3.92 M records of 72 months), events/s and total time, and whether
  ``GET /stats/monthly`` reproduces the published table exactly.

Rates are measured from the first to the last processed record (start-up and group joins
excluded). Other developers' tests may run on the same 2 cores: note it when reading the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from senae_tracking.embedded.broker import LocalBroker, free_port
from senae_tracking.embedded.supervisor import stop_process
from senae_tracking.services.processor import transparency, workload
from senae_tracking.shared import topics
from senae_tracking.shared.kafka import aiokafka_producer_options, json_bytes
from senae_tracking.shared.settings import Settings
from senae_tracking.shared.topics import create_missing_topics

REPO = Path(__file__).resolve().parents[1]
PARTITIONS = 12


async def produce(settings: Settings, messages: list[tuple[str, str, dict[str, Any]]]) -> float:
    """Publish (topic, key, message) with aiokafka; return messages/s."""
    options = {**aiokafka_producer_options(settings), "linger_ms": 20, "max_batch_size": 512 * 1024}
    producer = AIOKafkaProducer(**options)
    await producer.start()
    started = time.perf_counter()
    try:
        pending = []
        for topic, key, message in messages:
            pending.append(await producer.send(topic, json_bytes(message), key=key.encode()))
            if len(pending) >= 20000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return len(messages) / (time.perf_counter() - started)


async def raw_consume(settings: Settings, topic: str, expected: int) -> float:
    """Read ``expected`` records from the start of ``topic`` and JSON-decode each; records/s."""
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, enable_auto_commit=False,
                                max_partition_fetch_bytes=4 * 1024 * 1024)
    await consumer.start()
    try:
        parts = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        seen = 0
        started = time.perf_counter()
        while seen < expected:
            batches = await consumer.getmany(timeout_ms=1000, max_records=10000)
            for records in batches.values():
                for record in records:
                    json.loads(record.value)
                seen += sum(len(r) for r in batches.values())
        return seen / (time.perf_counter() - started)
    finally:
        await consumer.stop()


def start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, *args], env={**os.environ, **env},
                            stdout=log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True)


def stop(process: subprocess.Popen[bytes]) -> None:
    stop_process(process, signal.SIGKILL)


def measure(url: str, progress: Any, expected: int, timeout: float = 1800.0) -> tuple[float, float, float]:
    """Poll ``progress(url)`` until it reaches ``expected``.

    Returns (events/s from the first progress seen, those seconds, seconds since the call: the
    worker was started just before, so this includes its start-up and group join).
    """
    called = time.monotonic()
    deadline = called + timeout
    first_at = None
    first_value = 0
    while time.monotonic() < deadline:
        try:
            value = progress(url)
        except (httpx.HTTPError, ValueError, KeyError):
            value = 0
        now = time.monotonic()
        if value > 0 and first_at is None:
            first_at, first_value = now, value
        if value >= expected and first_at is not None:
            seconds = max(now - first_at, 1e-6)
            return (expected - first_value) / seconds, seconds, now - called
        time.sleep(0.1)
    raise TimeoutError(f"{url}: progress stalled below {expected}")


def stage_progress(url: str) -> int:
    rows = httpx.get(f"{url}/stats/stages", timeout=10).json()["rows"]
    return sum(r["entradas"] for r in rows)


def monthly_progress(url: str) -> int:
    rows = httpx.get(f"{url}/stats/monthly", timeout=30).json()["rows"]
    return sum(r["atenciones"] + r["quejas"] for r in rows)


# --- the baseline: a plain Faust agent, one event at a time, one table write per event -----------

def baseline_worker(bootstrap: str, port: int) -> None:
    """Run the baseline Faust app (in a subprocess)."""
    import faust

    from senae_tracking.shared.kafka import faust_options

    settings = Settings(kafka_bootstrap=bootstrap, kafka_profile="local", kafka_partitions=PARTITIONS)
    app = faust.App("bench-baseline", **faust_options(settings, "local"), store="memory://",
                    web_port=port, web_host="127.0.0.1", canonical_url=f"http://127.0.0.1:{port}",
                    datadir=f"/tmp/bench-baseline-{port}")
    events = app.topic(topics.STAGE_EVENTS.name, key_type=bytes, value_serializer="raw")
    stages = app.Table("stages", default=None, partitions=PARTITIONS, key_type=bytes)
    processed = [0]

    @app.agent(events)
    async def handle(stream: Any) -> None:
        async for event in stream.events():
            value = json.loads(event.value)
            stages[event.key] = value["stage"]
            processed[0] += 1

    @app.page("/count")
    async def count(view: Any, request: Any) -> Any:
        return view.json({"processed": processed[0]})

    worker = faust.Worker(app, loglevel="WARNING", redirect_stdouts=False, quiet=True)
    worker.spinner = None
    worker.execute_from_commandline()


def stage_phase(settings: Settings, env: dict[str, str], tmp: Path, shipments: int,
                processes: list[subprocess.Popen[bytes]], port: int) -> None:
    """Raw rate, baseline and processor on the stage events of ``shipments`` shipments."""
    events = workload.interleaved(shipments)
    broker_bootstrap = settings.kafka_bootstrap
    rate = asyncio.run(produce(settings, [(topics.STAGE_EVENTS.name, e["shipment_id"], e)
                                          for e in events]))
    print(f"stage events produced: {len(events)} ({rate:,.0f} msg/s, aiokafka)")
    raw = asyncio.run(raw_consume(settings, topics.STAGE_EVENTS.name, len(events)))
    print(f"raw aiokafka consume + JSON decode: {raw:,.0f} events/s")

    base_port = free_port()
    base = start([str(Path(__file__).resolve()), "--baseline-worker", broker_bootstrap, str(base_port)],
                 env, tmp / "baseline.log")
    processes.append(base)
    base_rate, base_s, _ = measure(f"http://127.0.0.1:{base_port}",
                                lambda u: httpx.get(f"{u}/count", timeout=10).json()["processed"],
                                len(events))
    stop(base)
    print(f"baseline plain Faust agent (1 event at a time, 1 table write each): "
          f"{base_rate:,.0f} events/s ({base_s:.1f} s)")

    worker = start(["-m", "senae_tracking.cli", "processor", "worker", "--web-port", str(port)],
                   env, tmp / "worker.log")
    processes.append(worker)
    stage_rate, stage_s, stage_total = measure(f"http://127.0.0.1:{port}", stage_progress, len(events))
    print(f"processor, stage events: {stage_rate:,.0f} events/s ({stage_s:.1f} s; {stage_total:.1f} s "
          f"from worker start); x{stage_rate / base_rate:.2f} the baseline; {stage_rate / raw:.1%} of raw")
    stop(worker)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shipments", type=int, default=12000, help="shipments (about 9 events each)")
    parser.add_argument("--divisor", type=int, default=1, help="divide the attentions (1 = full log)")
    parser.add_argument("--no-stages", action="store_true", help="only the attention log")
    parser.add_argument("--no-log", action="store_true", help="only the stage events")
    parser.add_argument("--baseline-worker", nargs=2, metavar=("BOOTSTRAP", "PORT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.baseline_worker:
        baseline_worker(args.baseline_worker[0], int(args.baseline_worker[1]))
        return
    tmp = Path(f"/tmp/bench-processor-{os.getpid()}")
    tmp.mkdir(parents=True, exist_ok=True)
    broker = LocalBroker(free_port(), log_path=tmp / "tansu.log").start()
    processes: list[subprocess.Popen[bytes]] = []
    try:
        settings = Settings(kafka_bootstrap=broker.bootstrap, kafka_profile="local",
                            kafka_partitions=PARTITIONS, data_dir=str(tmp / "data"))
        create_missing_topics(settings)
        env = {"SENAE_KAFKA_BOOTSTRAP": broker.bootstrap, "SENAE_KAFKA_PROFILE": "local",
               "SENAE_KAFKA_PARTITIONS": str(PARTITIONS), "SENAE_DATA_DIR": str(tmp / "data"),
               "SENAE_LOG_LEVEL": "WARNING"}

        port = free_port()
        url = f"http://127.0.0.1:{port}"
        if not args.no_stages:
            stage_phase(settings, env, tmp, args.shipments, processes, port)
        if args.no_log:
            return

        table = transparency.read_table(REPO / "data" / "senae-tracking-transparencia.csv")
        table = transparency.scale_table(table, args.divisor)
        started = time.perf_counter()
        log = list(transparency.generate_log(table))
        print(f"attention/complaint log generated: {len(log):,} records "
              f"({time.perf_counter() - started:.1f} s)")
        rate = asyncio.run(produce(settings, log))
        attentions = sum(1 for t, _k, _m in log if t == topics.ATTENTIONS.name)
        del log
        print(f"log produced at {rate:,.0f} msg/s (aiokafka)")
        raw_att = asyncio.run(raw_consume(settings, topics.ATTENTIONS.name, attentions))
        print(f"raw aiokafka consume + JSON decode (attentions): {raw_att:,.0f} records/s")
        worker = start(["-m", "senae_tracking.cli", "processor", "worker", "--web-port", str(port)],
                       env, tmp / "worker2.log")
        processes.append(worker)
        total = sum(r.quejas + r.atenciones for r in table)
        _rate, _seconds, att_total = measure(url, monthly_progress, total)
        att_rate = total / att_total
        print(f"processor, attentions+complaints: {total:,} records counted in {att_total:.1f} s from "
              f"worker start (start-up and group join included): {att_rate:,.0f} records/s, "
              f"{att_rate / raw_att:.1%} of raw")
        csv_text = httpx.get(f"{url}/stats/monthly?format=csv", timeout=30).text
        exact = csv_text == transparency.table_csv(table)
        print(f"GET /stats/monthly reproduces the table exactly: {exact}")
    finally:
        for process in processes:
            stop(process)
        broker.stop()


if __name__ == "__main__":
    main()
