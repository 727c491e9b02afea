"""End-to-end alert latency: stage event accepted by the ingest API -> e-mail accepted by SMTP.

Run: ``.venv/bin/python bench/e2e.py [--rates 50,500] [--seconds 10]``

Starts its own Tansu broker, an aiosmtpd server on loopback (in a child process), a SQLite database
with one e-mail subscriber per importer RUC, and the real services as child processes: the
processor worker, the notifier and the ingest API. Shipments are first brought up to
DAI_TRANSMITIDA (no alert); then, for each rate, one DAI_ACEPTADA event per shipment (an alert for
every subscriber) is posted to the ingest API in batches every 100 ms, and each e-mail's latency is
(SMTP server accepted it) - (ingest answered 202 for its event). Everything shares this machine's
two CPUs, so figures are pessimistic for production.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.notify import percentile, sink_process  # noqa: E402

from senae_tracking.embedded.broker import LocalBroker, free_port  # noqa: E402
from senae_tracking.embedded.supervisor import Supervisor  # noqa: E402
from senae_tracking.shared.contract import STAGE_ADVANCED, derived_event_id  # noqa: E402
from senae_tracking.shared.db import make_engine  # noqa: E402
from senae_tracking.shared.identifiers import ruc_with_check_digit  # noqa: E402
from senae_tracking.shared.migrations import upgrade  # noqa: E402
from senae_tracking.shared.repository import Repository, delivery_id  # noqa: E402
from senae_tracking.shared.settings import Settings  # noqa: E402
from senae_tracking.shared.topics import create_missing_topics  # noqa: E402

KEY = "bench-e2e-key"


def event(shipment: str, stage: str, **fields: Any) -> dict[str, Any]:
    """A stage event happening now."""
    return {"schema": {"name": "senae.stage-event", "version": 1}, "event_id": str(uuid.uuid4()),
            "occurred_at": datetime.now(UTC).isoformat(), "shipment_id": shipment, "stage": stage,
            **fields}


class Stack:
    """Posts to the ingest API and matches each alert e-mail to its stage event."""

    def __init__(self, ingest: str, processor: str, accepted: Any) -> None:
        self.client = httpx.Client(base_url=ingest, headers={"Authorization": f"Bearer {KEY}"},
                                   timeout=60)
        self.processor = httpx.Client(base_url=processor, timeout=30)
        self.accepted_queue = accepted
        self.accepted: dict[str, float] = {}

    def post(self, events: list[dict[str, Any]]) -> float:
        """Post a batch; return when ingest answered 202."""
        response = self.client.post("/v1/stage-events", json=events)
        if response.status_code != 202:
            raise SystemExit(f"ingest answered {response.status_code}: {response.text[:500]}")
        return time.time()

    def prepare(self, shipments: list[tuple[str, str, str]]) -> None:
        """Bring shipments to DAI_TRANSMITIDA and wait until the processor has applied them."""
        for start in range(0, len(shipments), 100):
            batch: list[dict[str, Any]] = []
            for sid, ruc, dai in shipments[start:start + 100]:
                batch += [event(sid, "MANIFIESTO", ruc_importador=ruc, distrito="028",
                                documento_transporte={"tipo": "BL", "numero": f"B{sid[-10:]}"}),
                          event(sid, "ARRIBO"), event(sid, "INGRESO_DEPOSITO"),
                          event(sid, "DAI_TRANSMITIDA", dai=dai)]
            self.post(batch)
        deadline = time.monotonic() + 300
        for sid, _, _ in shipments:
            while self.processor.get(f"/shipments/{sid}").json().get("stage") != "DAI_TRANSMITIDA":
                if time.monotonic() > deadline:
                    raise SystemExit(f"processor did not apply {sid} in time")
                time.sleep(0.05)

    def fire(self, shipments: list[tuple[str, str, str]], rate: float) -> dict[str, float]:
        """Post DAI_ACEPTADA for each shipment at ``rate``/s; delivery id -> 202 time."""
        accepted_at: dict[str, float] = {}
        per_tick = max(1, round(rate / 10))
        start = time.perf_counter()
        for tick, first in enumerate(range(0, len(shipments), per_tick)):
            delay = start + tick * per_tick / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            batch = [(event(sid, "DAI_ACEPTADA", canal="FISICO"), ruc)
                     for sid, ruc, _ in shipments[first:first + per_tick]]
            when = self.post([e for e, _ in batch])
            for e, ruc in batch:
                advanced = derived_event_id(e["event_id"], STAGE_ADVANCED)
                accepted_at[delivery_id(advanced, "EMAIL", f"bench-{ruc}@example.ec")] = when
        return accepted_at

    def latencies(self, sent: dict[str, float], timeout: float = 300) -> list[float]:
        """Seconds from 202 to SMTP acceptance for every delivery in ``sent``."""
        deadline = time.monotonic() + timeout
        while not sent.keys() <= self.accepted.keys() and time.monotonic() < deadline:
            try:
                for key, when in self.accepted_queue.get(timeout=0.2):
                    self.accepted.setdefault(key, when)
            except Exception:  # queue.Empty
                pass
        missing = sent.keys() - self.accepted.keys()
        if missing:
            raise SystemExit(f"{len(missing)} of {len(sent)} e-mails did not arrive in {timeout:.0f} s")
        return [self.accepted[k] - t for k, t in sent.items()]


def main() -> None:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="50,500", help="stage changes per second, comma-separated")
    parser.add_argument("--seconds", type=float, default=10.0, help="duration of each rate")
    args = parser.parse_args()
    rates = [float(r) for r in args.rates.split(",")]
    tmp = Path(tempfile.mkdtemp(prefix="bench-e2e-"))
    url = f"sqlite:///{tmp / 'bench.db'}"
    context = multiprocessing.get_context("spawn")
    ports, accepted, stop = context.Queue(), context.Queue(), context.Event()
    sink = context.Process(target=sink_process, args=(ports, accepted, stop), daemon=True)
    sink.start()
    sink_port = ports.get(timeout=60)
    broker = LocalBroker(free_port(), log_path=tmp / "tansu.log").start()
    web, ingest_port = free_port(), free_port()
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("SENAE_")},
           "SENAE_KAFKA_BOOTSTRAP": broker.bootstrap, "SENAE_KAFKA_PROFILE": "local",
           "SENAE_DATABASE_URL": url, "SENAE_SMTP_URL": f"smtp://127.0.0.1:{sink_port}",
           "SENAE_NOTIFIER_PORT": str(free_port()), "SENAE_SECRET_KEY": "bench",
           "SENAE_INGEST_API_KEYS": KEY, "SENAE_DATA_DIR": str(tmp / "data"), "SENAE_LOG_LEVEL": "WARNING"}
    supervisor = Supervisor(env, tmp / "logs")
    try:
        settings = Settings(kafka_bootstrap=broker.bootstrap, kafka_profile="local", database_url=url)
        create_missing_topics(settings)
        upgrade(url)
        engine = make_engine(url)
        repo = Repository(engine)
        rucs = [ruc_with_check_digit(f"171{i:06d}") for i in range(200)]
        for ruc in rucs:
            repo.add_subscription(ruc=ruc, email=f"bench-{ruc}@example.ec", name="Importadora Bench")
        engine.dispose()
        supervisor.start("processor", ["processor", "worker", "--web-port", str(web)])
        supervisor.start("notifier", ["notifier", "run"])
        supervisor.start("ingest", ["ingest", "serve", "--port", str(ingest_port)])
        supervisor.wait_http("ingest", f"http://127.0.0.1:{ingest_port}/healthz")
        supervisor.wait_http("processor", f"http://127.0.0.1:{web}/stats/monthly")
        stack = Stack(f"http://127.0.0.1:{ingest_port}", f"http://127.0.0.1:{web}", accepted)
        counts = [20] + [max(1, int(rate * args.seconds)) for rate in rates]
        plans = [[(f"E2E{n:02d}{i:06d}", rucs[i % len(rucs)], f"028-2026-10-{n * 1_000_000 + i + 1:08d}")
                  for i in range(count)] for n, count in enumerate(counts)]
        for plan in plans:
            stack.prepare(plan)
        stack.latencies(stack.fire(plans[0], 20))  # warm-up: connections, caches
        print("senae-tracking end-to-end alert latency (local Tansu broker, SQLite, aiosmtpd on loopback; "
              f"ingest, processor and notifier as processes; {os.cpu_count()} CPUs shared by all)")
        print("latency = SMTP server accepted the e-mail - ingest API answered 202 for its stage event")
        for rate, plan in zip(rates, plans[1:], strict=True):
            ms = [v * 1000 for v in stack.latencies(stack.fire(plan, rate))]
            print(f"  {rate:>6.0f} stage changes/s x {args.seconds:.0f} s ({len(ms)} e-mails): "
                  f"p50 {percentile(ms, .50):8.1f} ms  p95 {percentile(ms, .95):8.1f} ms  "
                  f"p99 {percentile(ms, .99):8.1f} ms  max {max(ms):8.1f} ms")
    finally:
        supervisor.stop_all()
        stop.set()
        sink.join(15)
        broker.stop()


if __name__ == "__main__":
    main()
