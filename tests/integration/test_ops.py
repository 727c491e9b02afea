"""Operators' tail and lag commands against the real broker."""

from __future__ import annotations

import json
import time
import uuid

from click.testing import CliRunner
from kafka.admin import NewTopic

from senae_tracking.ops import group_lag, lag, tail
from senae_tracking.shared.kafka import admin_client, make_consumer, make_producer
from senae_tracking.shared.settings import Settings


def _fill(settings: Settings, n: int) -> str:
    topic = f"ops.{uuid.uuid4().hex[:8]}"
    admin = admin_client(settings)
    admin.create_topics([NewTopic(topic, 2, 1)])
    admin.close()
    producer = make_producer(settings)
    for i in range(n):
        producer.send(topic, key=f"k{i % 3}", value={"n": i})
    producer.flush()
    producer.close()
    return topic


def _env(settings: Settings) -> dict[str, str]:
    return {"SENAE_KAFKA_BOOTSTRAP": settings.kafka_bootstrap}


def test_tail_prints_json_lines(settings: Settings) -> None:
    topic = _fill(settings, 7)
    result = CliRunner().invoke(tail, [topic, "--from-beginning", "--limit", "7"], env=_env(settings))
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.output.splitlines()]
    assert sorted(line["value"]["n"] for line in lines) == list(range(7))
    assert CliRunner().invoke(tail, ["no-such-topic"], env=_env(settings)).exit_code == 1


def test_lag_uses_real_end_offsets(settings: Settings) -> None:
    topic = _fill(settings, 40)
    group = f"lag-{uuid.uuid4().hex[:6]}"
    consumer = make_consumer(settings, topic, group_id=group, max_poll_records=10)
    consumed = 0
    deadline = time.monotonic() + 30
    while consumed < 10 and time.monotonic() < deadline:
        consumed += sum(len(r) for r in consumer.poll(timeout_ms=1000, max_records=10).values())
    consumer.commit()
    consumer.close()
    rows = group_lag(settings, group)
    assert {r.partition for r in rows} == {0, 1}, "10 records of 3 keys touch both partitions"
    assert sum(r.end for r in rows) == 40
    assert sum(r.committed for r in rows) == consumed
    assert sum(r.lag for r in rows) == 40 - consumed
    result = CliRunner().invoke(lag, [group, "--json"], env=_env(settings))
    assert result.exit_code == 0, result.output
    assert sum(row["lag"] for row in json.loads(result.output)) == sum(r.lag for r in rows)
