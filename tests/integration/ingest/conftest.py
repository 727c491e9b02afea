"""Fixtures for the ingest integration tests: a unique topic, the API on a real port, a topic reader."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from kafka import TopicPartition

from senae_tracking.embedded.broker import free_port
from senae_tracking.services.ingest.app import create_app
from senae_tracking.services.ingest.publisher import Publisher
from senae_tracking.shared.kafka import admin_client, make_consumer
from senae_tracking.shared.settings import Settings
from senae_tracking.shared.topics import TopicSpec, ensure_topics

API_KEY = "clave-de-prueba"


def create_topic(settings: Settings, partitions: int = 4) -> str:
    """A new, uniquely named topic on the settings' broker."""
    name = f"test.ingest.{uuid.uuid4().hex[:10]}"
    admin = admin_client(settings)
    try:
        ensure_topics(admin, (TopicSpec(name, "shipment_id", "test"),), partitions=partitions)
    finally:
        admin.close()
    return name


def read_topic(settings: Settings, topic: str, expected: int, timeout: float = 60.0,
               settle: float = 2.0) -> list[tuple[str, dict[str, Any], int, int]]:
    """(key, value, partition, offset) of every record, polling until ``expected`` arrived.

    Keeps polling ``settle`` seconds more to catch extra records; does not trust end offsets
    (the embedded broker reports them wrong).
    """
    consumer = make_consumer(settings, group_id=None, enable_auto_commit=False)
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        records: list[tuple[str, dict[str, Any], int, int]] = []
        deadline = time.monotonic() + timeout
        settled_at: float | None = None
        while time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=200).values():
                for r in batch:
                    records.append((r.key.decode(), json.loads(r.value), r.partition, r.offset))
            if len(records) >= expected:
                settled_at = settled_at or time.monotonic() + settle
                if time.monotonic() >= settled_at:
                    break
        return records
    finally:
        consumer.close()


@contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    """Run ``app`` under uvicorn on a free loopback port; yield its base URL; stop it after."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("ingest app did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)


@dataclass
class Api:
    """A running ingest API: base URL, its topic, an authenticated client."""

    url: str
    topic: str
    settings: Settings
    client: httpx.Client

    def post(self, body: Any, *, params: dict[str, str] | None = None, **kwargs: Any) -> httpx.Response:
        """POST ``body`` (JSON-encoded unless ``content=`` is given) to /v1/stage-events."""
        if "content" in kwargs:
            return self.client.post("/v1/stage-events", params=params, **kwargs)
        return self.client.post("/v1/stage-events", json=body, params=params, **kwargs)


@pytest.fixture
def ingest_settings(settings: Settings) -> Settings:
    """The session broker's settings with one API key configured."""
    return settings.model_copy(update={"ingest_api_keys": API_KEY})


@pytest.fixture
def api(ingest_settings: Settings) -> Iterator[Api]:
    """The ingest API on a real port, publishing to a topic private to the test."""
    topic = create_topic(ingest_settings)
    factory: Callable[[Settings], Publisher] = lambda s: Publisher(s, topic=topic)  # noqa: E731
    with serving(create_app(ingest_settings, publisher_factory=factory)) as url, httpx.Client(
        base_url=url, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=60
    ) as client:
        yield Api(url, topic, ingest_settings, client)
