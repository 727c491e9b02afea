"""Notifier benchmark: latency from a stage change accepted by the broker to its e-mail accepted by SMTP.

Run: ``.venv/bin/python bench/notify.py [--rates 50,500] [--seconds 10] [--database-url URL]``

Starts its own Tansu broker, an aiosmtpd server on loopback (in a child process, so that producing
here does not slow it down) and ``senae-tracking notifier run`` as a subprocess (SQLite by default),
subscribes one e-mail contact per RUC, then:

1. for each rate, produces ``senae.stage-advanced.v1`` records (one recipient each) at that rate for
   ``--seconds`` and reports p50/p95/p99/max of (SMTP server accepted the e-mail) - (broker
   acknowledged the stage-advanced record);
2. produces a burst and reports the notifier's sustained sends/s, next to a raw aiosmtplib client
   pushing the same messages to the same server with the same number of connections (the ceiling).

Measured from the stage-advanced record, NOT from the ingest API: ingest and processor add their own
latency upstream. Everything shares this machine's CPUs with the broker, the SMTP server, the
producer and any other tests running concurrently, so figures are pessimistic for production.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import queue
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from email.message import EmailMessage
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.notifier import stage_advanced, unique_ruc  # noqa: E402
from tests.support.smtp import SmtpSink  # noqa: E402

from senae_tracking.embedded.broker import LocalBroker, free_port  # noqa: E402
from senae_tracking.embedded.supervisor import stop_process  # noqa: E402
from senae_tracking.shared.db import make_engine  # noqa: E402
from senae_tracking.shared.kafka import make_producer  # noqa: E402
from senae_tracking.shared.migrations import upgrade  # noqa: E402
from senae_tracking.shared.repository import Repository, delivery_id  # noqa: E402
from senae_tracking.shared.settings import Settings  # noqa: E402
from senae_tracking.shared.topics import create_missing_topics  # noqa: E402

TOPIC = "senae.stage-advanced.v1"


def percentile(values: list[float], q: float) -> float:
    """The q-quantile (0..1) by nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def sink_process(ports: Any, accepted: Any, stop: Any) -> None:
    """Child process: run the SMTP sink; report (delivery id, acceptance time) of every message."""
    sink = SmtpSink().start()
    ports.put(sink.port)
    reported = 0
    try:
        while not stop.is_set():
            fresh = sink.messages[reported:]
            if fresh:
                accepted.put([(m.message_id.strip("<>").split("@")[0], m.received_at) for m in fresh])
                reported += len(fresh)
            time.sleep(0.02)
    finally:
        sink.stop()


class Run:
    """Produces stage changes and matches them to the e-mails the SMTP server accepted."""

    def __init__(self, settings: Settings, accepted_queue: Any, rucs: list[str]) -> None:
        self.producer = make_producer(settings, linger_ms=0)
        self.queue = accepted_queue
        self.rucs = rucs
        self.acked: dict[str, float] = {}  # delivery id -> broker ack time
        self._lock = threading.Lock()
        self._next = 0
        self.accepted: dict[str, float] = {}  # delivery id -> SMTP acceptance time

    def produce(self, count: int, rate: float | None) -> list[str]:
        """Send ``count`` records at ``rate`` per second (None: as fast as possible)."""
        ids: list[str] = []
        events = []
        for _ in range(count):  # built (and schema-checked) before the clock starts
            ruc = self.rucs[self._next % len(self.rucs)]
            self._next += 1
            event = stage_advanced(ruc_importador=ruc, canal="FISICO")
            events.append((event, delivery_id(event["event_id"], "EMAIL", f"bench-{ruc}@example.ec")))
        start = time.perf_counter()
        for i, (event, key) in enumerate(events):
            if rate:
                delay = start + i / rate - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
            ids.append(key)

            def acked(_metadata: Any, key: str = key) -> None:
                with self._lock:
                    self.acked[key] = time.time()

            self.producer.send(TOPIC, key=event["shipment_id"], value=event).add_callback(acked)
        self.producer.flush(60)
        return ids

    def latencies(self, ids: list[str], timeout: float = 180) -> tuple[list[float], float]:
        """Wait for the e-mails of ``ids``; return their latencies (s) and the last acceptance time."""
        wanted = set(ids)
        deadline = time.monotonic() + timeout
        seen = self.accepted
        while time.monotonic() < deadline:
            try:
                for key, when in self.queue.get(timeout=0.1):
                    seen.setdefault(key, when)
            except queue.Empty:
                pass
            if wanted <= seen.keys():
                break
        if not wanted <= seen.keys():
            arrived = len(wanted & seen.keys())
            raise SystemExit(f"only {arrived} of {len(wanted)} e-mails arrived within {timeout:.0f} s")
        with self._lock:
            values = [seen[k] - self.acked[k] for k in ids]
        return values, max(seen[k] for k in ids)


async def raw_smtp(host: str, port: int, count: int, connections: int) -> float:
    """Messages/s a bare aiosmtplib client reaches against the same server (the ceiling)."""
    import aiosmtplib

    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(count):
        queue.put_nowait(i)

    async def worker() -> None:
        client = aiosmtplib.SMTP(hostname=host, port=port)
        await client.connect()
        while not queue.empty():
            i = queue.get_nowait()
            message = EmailMessage()
            message["From"], message["To"], message["Subject"] = "a@x.ec", "b@x.ec", f"raw {i}"
            message["Message-ID"] = f"<raw-{i}@x.ec>"
            message.set_content("Su carga avanzó / your shipment advanced " * 20)
            message.add_alternative("<p>Su carga avanzó</p>" * 20, subtype="html")
            await client.send_message(message)
        await client.quit()

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(connections)))
    return count / (time.perf_counter() - start)


def main() -> None:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="50,500", help="stage changes per second, comma-separated")
    parser.add_argument("--seconds", type=float, default=10.0, help="duration of each rate")
    parser.add_argument("--burst", type=int, default=3000, help="records in the throughput burst")
    parser.add_argument("--database-url", default=None, help="default: SQLite in a temporary directory")
    args = parser.parse_args()
    rates = [float(r) for r in args.rates.split(",")]
    tmp = Path(tempfile.mkdtemp(prefix="bench-notify-"))
    url = args.database_url or f"sqlite:///{tmp / 'bench.db'}"
    context = multiprocessing.get_context("spawn")
    ports, accepted, stop = context.Queue(), context.Queue(), context.Event()
    sink = context.Process(target=sink_process, args=(ports, accepted, stop), daemon=True)
    sink.start()
    sink_port = ports.get(timeout=60)
    sink_url = f"smtp://127.0.0.1:{sink_port}"
    broker = LocalBroker(free_port(), log_path=tmp / "tansu.log").start()
    process: subprocess.Popen[bytes] | None = None
    try:
        settings = Settings(kafka_bootstrap=broker.bootstrap, kafka_profile="local", database_url=url)
        create_missing_topics(settings)
        upgrade(url)
        engine = make_engine(url)
        repo = Repository(engine)
        rucs = [unique_ruc() for _ in range(200)]
        for ruc in rucs:
            repo.add_subscription(ruc=ruc, email=f"bench-{ruc}@example.ec", name="Importadora Bench S.A.")
        engine.dispose()
        env = {**os.environ, "SENAE_KAFKA_BOOTSTRAP": broker.bootstrap, "SENAE_KAFKA_PROFILE": "local",
               "SENAE_DATABASE_URL": url, "SENAE_SMTP_URL": sink_url, "SENAE_NOTIFIER_PORT": str(free_port()),
               "SENAE_SECRET_KEY": "bench", "SENAE_LOG_LEVEL": "WARNING"}
        for name in ("SENAE_TWILIO_ACCOUNT_SID", "SENAE_TWILIO_AUTH_TOKEN", "SENAE_TWILIO_FROM"):
            env.pop(name, None)
        process = subprocess.Popen(
            [sys.executable, "-m", "senae_tracking.cli", "notifier", "run"], env=env,
            stdout=(tmp / "notifier.log").open("wb"), stderr=subprocess.STDOUT, start_new_session=True)
        run = Run(settings, accepted, rucs)
        run.latencies(run.produce(20, None), timeout=120)  # warm-up: group join, connections
        print("senae-tracking notifier benchmark (local Tansu broker, aiosmtpd on loopback, "
              f"{'SQLite' if url.startswith('sqlite') else 'PostgreSQL'}, {os.cpu_count()} CPUs shared "
              "with broker, SMTP server, producer and whatever else runs here)")
        print("latency = SMTP server accepted the e-mail - broker acknowledged the stage-advanced record")
        print("(measured from the stage-advanced record, not from the ingest API)")
        for rate in rates:
            count = max(1, int(rate * args.seconds))
            ids = run.produce(count, rate)
            values, _ = run.latencies(ids)
            ms = [v * 1000 for v in values]
            print(f"  {rate:>6.0f} stage changes/s x {args.seconds:.0f} s ({count} e-mails): "
                  f"p50 {percentile(ms, .50):7.1f} ms  p95 {percentile(ms, .95):7.1f} ms  "
                  f"p99 {percentile(ms, .99):7.1f} ms  max {max(ms):7.1f} ms  "
                  f"mean {statistics.mean(ms):7.1f} ms")
        start = time.time()
        ids = run.produce(args.burst, None)
        _, last = run.latencies(ids)
        notifier_rate = args.burst / (last - start)
        raw_rate = asyncio.run(raw_smtp("127.0.0.1", sink_port, args.burst, 8))
        print(f"  throughput: {args.burst} stage changes produced at once -> {notifier_rate:,.0f} e-mails/s "
              f"sent by the notifier (consume, match in SQL, delivery log, render, SMTP)")
        print(f"  raw aiosmtplib client, same server, 8 connections (as the notifier): "
              f"{raw_rate:,.0f} e-mails/s; "
              f"notifier / raw = {notifier_rate / raw_rate:.2f}")
    finally:
        if process is not None:
            stop_process(process, timeout=30)
        stop.set()
        sink.join(15)
        broker.stop()


if __name__ == "__main__":
    main()
