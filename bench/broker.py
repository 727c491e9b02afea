"""Raw broker rates on the local Tansu broker: the baseline every other benchmark compares with.

Prints kafka-python and aiokafka produce rates and the aiokafka consume + JSON decode rate for
300-byte JSON records. Run: ``.venv/bin/python bench/broker.py [--records N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from kafka.admin import NewTopic

from senae_tracking.embedded.broker import LocalBroker, free_port
from senae_tracking.shared.kafka import (
    admin_client,
    aiokafka_consumer_options,
    aiokafka_producer_options,
    make_producer,
)
from senae_tracking.shared.settings import Settings


def payload(i: int) -> dict[str, object]:
    """A record about the size of a stage event."""
    return {"event_id": str(uuid.uuid4()), "shipment_id": f"SHIP{i % 5000:06d}", "stage": "ARRIBO",
            "occurred_at": "2025-03-10T08:15:00-05:00", "pad": "x" * 150}


def kafka_python_produce(settings: Settings, topic: str, n: int) -> float:
    """Records/s produced by kafka-python (acks=all, idempotent, as ingest uses it)."""
    producer = make_producer(settings, compression_type=None)
    start = time.perf_counter()
    for i in range(n):
        producer.send(topic, key=f"SHIP{i % 5000:06d}", value=payload(i))
    producer.flush()
    elapsed = time.perf_counter() - start
    producer.close()
    return n / elapsed


async def aiokafka_produce(settings: Settings, topic: str, n: int) -> float:
    """Records/s produced by aiokafka in batches of futures."""
    producer = AIOKafkaProducer(**aiokafka_producer_options(settings))
    await producer.start()
    try:
        start = time.perf_counter()
        futures = []
        for i in range(n):
            value = json.dumps(payload(i)).encode()
            futures.append(await producer.send(topic, value, key=f"SHIP{i % 5000:06d}".encode()))
        await asyncio.gather(*futures)
        return n / (time.perf_counter() - start)
    finally:
        await producer.stop()


async def aiokafka_consume(settings: Settings, topic: str, n: int) -> float:
    """Records/s consumed and JSON-decoded by aiokafka in a consumer group."""
    consumer = AIOKafkaConsumer(topic, group_id=f"bench-{uuid.uuid4().hex[:6]}",
                                **aiokafka_consumer_options(settings), max_partition_fetch_bytes=4 << 20)
    await consumer.start()
    try:
        seen = 0
        first = await consumer.getmany(timeout_ms=10000, max_records=1)
        seen += sum(len(v) for v in first.values())
        start = time.perf_counter()
        while seen < n:
            batch = await consumer.getmany(timeout_ms=2000, max_records=10000)
            for records in batch.values():
                for record in records:
                    json.loads(record.value)
                seen += len(records)
        return (seen - 1) / (time.perf_counter() - start)
    finally:
        await consumer.stop()


def main() -> None:
    """Start a broker, measure, print, stop."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=100_000)
    args = parser.parse_args()
    with LocalBroker(free_port()) as broker:
        settings = Settings(kafka_bootstrap=broker.bootstrap)
        admin = admin_client(settings)
        admin.create_topics([NewTopic("bench.kp", 12, 1), NewTopic("bench.ak", 12, 1)])
        admin.close()
        kp = kafka_python_produce(settings, "bench.kp", args.records)
        ak = asyncio.run(aiokafka_produce(settings, "bench.ak", args.records))
        consume = asyncio.run(aiokafka_consume(settings, "bench.ak", args.records))
    print(f"records: {args.records} (~300 B JSON, 12 partitions, local Tansu broker)")
    print(f"kafka-python produce (acks=all, idempotent): {kp:10.0f} rec/s")
    print(f"aiokafka produce (acks=all):                 {ak:10.0f} rec/s")
    print(f"aiokafka consume + JSON decode:              {consume:10.0f} rec/s")


if __name__ == "__main__":
    main()
