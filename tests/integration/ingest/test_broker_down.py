"""A broker that is down gives 503 with Retry-After, and nothing of the batch is delivered later."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from senae_tracking.embedded.broker import LocalBroker, free_port
from senae_tracking.services.ingest.app import create_app
from senae_tracking.services.ingest.publisher import BrokerUnavailable, Publisher
from senae_tracking.services.ingest.simulator import generate_events
from senae_tracking.shared.kafka import admin_client
from senae_tracking.shared.settings import Settings
from senae_tracking.shared.topics import TopicSpec, ensure_topics
from tests.integration.ingest.conftest import API_KEY, create_topic, read_topic, serving

pytestmark = pytest.mark.integration


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[LocalBroker]:
    """A broker private to the test, so that it can be stopped and started again."""
    broker = LocalBroker(free_port(), log_path=tmp_path / "tansu.log")
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


def _settings(broker: LocalBroker) -> Settings:
    return Settings(kafka_bootstrap=broker.bootstrap, kafka_profile="local", kafka_partitions=4,
                    ingest_api_keys=API_KEY)


def test_api_answers_503_when_the_broker_is_down_and_recovers(own_broker: LocalBroker) -> None:
    settings = _settings(own_broker)
    topic = create_topic(settings)
    events = generate_events(10, seed=11)
    app = create_app(settings, publisher_factory=lambda s: Publisher(s, topic=topic, timeout=5))
    with serving(app) as url, httpx.Client(base_url=url, timeout=60,
                                           headers={"Authorization": f"Bearer {API_KEY}"}) as client:
        assert client.post("/v1/stage-events", json=events[:5]).status_code == 202
        own_broker.stop()
        time.sleep(1.2)  # past the publisher's one-second reachability cache
        response = client.post("/v1/stage-events", json=events[5:])
        assert response.status_code == 503, response.text
        assert response.headers["Retry-After"].isdigit()
        assert response.json()["errors"][0]["field"] == "(broker)"
        assert client.get("/readyz").status_code == 503
        assert client.get("/healthz").status_code == 200
        own_broker.start()  # memory-only broker: starts empty
        topic = create_topic(settings)
        app.state.ingest.publisher.topic = topic
        deadline = time.monotonic() + 60
        while (response := client.post("/v1/stage-events", json=events[5:])).status_code == 503:
            assert time.monotonic() < deadline, response.text
            time.sleep(0.5)
        assert response.status_code == 202, response.text
    records = read_topic(settings, topic, expected=len(events) - 5)
    assert sorted(v["event_id"] for _, v, _, _ in records) == sorted(e["event_id"] for e in events[5:])


def test_buffered_records_are_dropped_not_delivered_after_a_failure(own_broker: LocalBroker) -> None:
    """The broker dies after the reachability check: the batch fails and is never sent later."""
    settings = _settings(own_broker)
    topic = create_topic(settings)
    publisher = Publisher(settings, topic=topic, timeout=3)
    try:
        events = generate_events(20, seed=12)
        publisher.publish(events[:1])  # producer built, metadata known, reachability cached
        own_broker.stop()
        with pytest.raises(BrokerUnavailable) as failure:
            publisher.publish(events[1:])
        assert failure.value.acknowledged == []
        own_broker.start()  # memory-only: the topic must be created again, under the same name
        admin = admin_client(settings)
        try:
            ensure_topics(admin, (TopicSpec(topic, "shipment_id", "test"),), partitions=4)
        finally:
            admin.close()
        time.sleep(3)  # give a (wrongly) surviving producer time to deliver its buffer
        assert read_topic(settings, topic, expected=1, timeout=3, settle=0) == []
    finally:
        publisher.close()
