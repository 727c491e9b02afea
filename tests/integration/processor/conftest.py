"""Fixtures for the processor's integration tests: a private broker per test, worker subprocesses.

Each test gets its own Tansu broker (about a second to start), so that consumer-group offsets,
changelogs and counters of one test never leak into another, nor into other services' tests.
Workers run as ``python -m senae_tracking.cli processor worker`` in their own process group, which
the fixture kills in ``finally``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from kafka import KafkaConsumer, TopicPartition

from senae_tracking.embedded.broker import LocalBroker, free_port
from senae_tracking.embedded.supervisor import stop_process
from senae_tracking.shared.kafka import make_producer
from senae_tracking.shared.settings import Settings
from senae_tracking.shared.topics import create_missing_topics

PARTITIONS = 4


class Worker:
    """A processor worker subprocess."""

    def __init__(self, settings: Settings, log_path: Path, env: dict[str, str] | None = None) -> None:
        self.settings = settings
        self.env = env or {}
        self.port = free_port()
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Worker:
        env = {**os.environ, "SENAE_KAFKA_BOOTSTRAP": self.settings.kafka_bootstrap,
               "SENAE_KAFKA_PROFILE": "local", "SENAE_KAFKA_PARTITIONS": str(PARTITIONS),
               "SENAE_DATA_DIR": self.settings.data_dir,
               "SENAE_LOG_LEVEL": os.environ.get("SENAE_TEST_WORKER_LOG_LEVEL", "WARNING"), **self.env}
        out = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "senae_tracking.cli", "processor", "worker",
             "--web-port", str(self.port)],
            env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
        return self

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.process is not None:
            stop_process(self.process, sig, timeout=30)

    def get(self, path: str) -> httpx.Response:
        return httpx.get(self.url + path, timeout=10)

    def wait_for(self, path: str, accept: Callable[[httpx.Response], bool],
                 timeout: float = 60.0) -> httpx.Response:
        """Poll ``path`` until ``accept`` holds for the answer (or fail with the last one)."""
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            assert self.process is not None and self.process.poll() is None, self.log_path.read_text()
            try:
                last = self.get(path)
                if accept(last):
                    return last
            except httpx.HTTPError as exc:
                last = exc
            time.sleep(0.3)
        raise AssertionError(f"{path}: last answer {getattr(last, 'text', last)!r}")


@pytest.fixture
def private_settings(tmp_path: Path) -> Iterator[Settings]:
    """Settings for a broker private to this test, with the system's topics created."""
    broker = LocalBroker(free_port(), log_path=tmp_path / "tansu.log")
    broker.start()
    try:
        settings = Settings(kafka_bootstrap=broker.bootstrap, kafka_profile="local",
                            kafka_partitions=PARTITIONS, data_dir=str(tmp_path / "data"))
        create_missing_topics(settings)
        yield settings
    finally:
        broker.stop()


@pytest.fixture
def workers(private_settings: Settings, tmp_path: Path) -> Iterator[Callable[..., Worker]]:
    """A factory of started workers (extra ``SENAE_*`` variables as keywords); all killed at the end."""
    started: list[Worker] = []

    def start(**env: str) -> Worker:
        worker = Worker(private_settings, tmp_path / f"worker-{len(started)}.log", env).start()
        started.append(worker)
        return worker

    try:
        yield start
    finally:
        for worker in started:
            worker.kill()


def produce(settings: Settings, topic: str, messages: list[tuple[str, dict[str, Any]]]) -> None:
    """Publish (key, value) pairs and wait until all are acknowledged."""
    producer = make_producer(settings, linger_ms=20)
    try:
        for key, value in messages:
            producer.send(topic, key=key, value=value)
        producer.flush(timeout=60)
    finally:
        producer.close()


def read_all(settings: Settings, topic: str, expected: int, timeout: float = 60.0) -> list[dict[str, Any]]:
    """Read a topic from the start until ``expected`` records arrived and 1 s passed quietly."""
    consumer = KafkaConsumer(bootstrap_servers=settings.bootstrap_servers, enable_auto_commit=False,
                             value_deserializer=json.loads)
    try:
        parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or []]
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        records: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        quiet_since = time.monotonic()
        while time.monotonic() < deadline:
            batch = consumer.poll(timeout_ms=300)
            for items in batch.values():
                records.extend(r.value for r in items)
                quiet_since = time.monotonic()
            if len(records) >= expected and time.monotonic() - quiet_since > 1.0:
                break
        return records
    finally:
        consumer.close()
