"""The local broker serves kafka-python and aiokafka clients, consumer groups included."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from kafka import KafkaAdminClient
from kafka.admin import NewTopic

from senae_tracking.embedded.broker import free_port
from senae_tracking.shared.kafka import (
    admin_client,
    aiokafka_consumer_options,
    aiokafka_producer_options,
    make_consumer,
    make_producer,
)
from senae_tracking.shared.settings import Settings
from senae_tracking.shared.topics import ALL_TOPICS, ensure_topics


def _topic(admin: KafkaAdminClient, partitions: int = 3) -> str:
    name = f"test.{uuid.uuid4().hex[:8]}"
    admin.create_topics([NewTopic(name, partitions, 1)])
    return name


def test_ensure_topics_is_idempotent(settings: Settings) -> None:
    admin = admin_client(settings)
    try:
        ensure_topics(admin, partitions=2)
        assert ensure_topics(admin, partitions=2) == []
        assert {t.name for t in ALL_TOPICS} <= set(admin.list_topics())
    finally:
        admin.close()


def test_kafka_python_group_round_trip(settings: Settings) -> None:
    admin = admin_client(settings)
    topic = _topic(admin)
    admin.close()
    producer = make_producer(settings)
    sent = [{"n": i} for i in range(30)]
    for value in sent:
        producer.send(topic, key=f"k{value['n'] % 5}", value=value)
    producer.flush()
    producer.close()

    consumer = make_consumer(settings, topic, group_id=f"g-{uuid.uuid4().hex[:6]}",
                             value_deserializer=json.loads)
    received: list[dict[str, int]] = []
    deadline = time.monotonic() + 30
    try:
        while len(received) < len(sent) and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=500).values():
                received.extend(r.value for r in records)
        consumer.commit()
    finally:
        consumer.close()
    assert sorted(r["n"] for r in received) == list(range(30))


async def test_aiokafka_group_round_trip(settings: Settings) -> None:
    admin = admin_client(settings)
    topic = _topic(admin)
    admin.close()
    producer = AIOKafkaProducer(**aiokafka_producer_options(settings))
    await producer.start()
    try:
        for i in range(20):
            await producer.send_and_wait(topic, json.dumps({"n": i}).encode(), key=b"same")
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(topic, group_id=f"ag-{uuid.uuid4().hex[:6]}",
                                **aiokafka_consumer_options(settings))
    await consumer.start()
    received: list[int] = []
    try:
        async with asyncio.timeout(30):
            while len(received) < 20:
                batch = await consumer.getmany(timeout_ms=500)
                for records in batch.values():
                    received.extend(json.loads(r.value)["n"] for r in records)
        await consumer.commit()
    finally:
        await consumer.stop()
    assert received == list(range(20)), "one key: one partition, in order"


def test_broker_command_serves_clients_and_stops_on_sigterm() -> None:
    port = free_port()
    env = {**os.environ, "SENAE_KAFKA_PARTITIONS": "2"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "senae_tracking.cli", "broker", "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True,
    )
    try:
        assert proc.stdout is not None
        line = ""
        deadline = time.monotonic() + 30
        while "listo" not in line and time.monotonic() < deadline:
            line = proc.stdout.readline()
        assert f"127.0.0.1:{port}" in line, proc.stdout.read() if proc.poll() is not None else line
        admin = KafkaAdminClient(bootstrap_servers=f"127.0.0.1:{port}")
        assert {t.name for t in ALL_TOPICS} <= set(admin.list_topics())
        admin.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0
    assert "stopped" in out
