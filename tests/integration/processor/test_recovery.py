"""Recovery: a worker killed mid-stream resumes with the same state; two workers equal one."""

from __future__ import annotations

import json
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from kafka import KafkaConsumer, TopicPartition

from senae_tracking.embedded.broker import LocalBroker, free_port
from senae_tracking.ops import group_lag
from senae_tracking.services.processor import pipeline, workload
from senae_tracking.services.processor.app import APP_ID
from senae_tracking.shared import topics
from senae_tracking.shared.catalog import load_catalog
from senae_tracking.shared.contract import STAGE_ADVANCED, derived_event_id
from senae_tracking.shared.kafka import make_producer
from senae_tracking.shared.settings import Settings
from senae_tracking.shared.topics import create_missing_topics

from .conftest import PARTITIONS, Worker, produce, read_all

pytestmark = pytest.mark.integration


def total_entries(worker: Worker) -> int:
    answer = worker.get("/stats/stages")
    if answer.status_code != 200:
        return -1
    return sum(row["entradas"] for row in answer.json()["rows"])


def counted(worker: Worker, expected: int) -> Callable[[httpx.Response], bool]:
    """A wait condition: the worker's stage counters add up to ``expected``."""
    return lambda _answer: total_entries(worker) == expected


def missing_report(settings: Settings, worker: Worker, events: list[dict[str, Any]]) -> str:
    """Where the events the counters miss got lost: in the input topic, or in the worker."""
    logged = Counter(e["event_id"] for e in read_all(settings, topics.STAGE_EVENTS.name, len(events)))
    lost = [e for e in events if e["event_id"] not in logged]
    behind = []
    for sid in sorted({e["shipment_id"] for e in events}):
        expected = [e["stage"] for e in events if e["shipment_id"] == sid]
        answer = worker.get(f"/shipments/{sid}")
        seen = [t["stage"] for t in answer.json()["timeline"]] if answer.status_code == 200 else []
        if seen != expected:
            behind.append(f"{sid}: {seen} != {expected}")
    return (f"counted {total_entries(worker)} of {len(events)} stage entries; input topic holds "
            f"{len(logged)} distinct events ({sum(logged.values())} records), missing {lost[:5]}; "
            f"shipments whose timeline differs: {behind[:5]}")


def shipment_view(worker: Worker, sid: str) -> dict[str, Any]:
    """The shipment as the view shows it, without broker receive times (they differ per run)."""
    body = worker.wait_for(f"/shipments/{sid}", lambda r: r.status_code == 200).json()
    for entry in body["timeline"]:
        entry.pop("received_at")
    return body


def test_worker_killed_mid_stream_resumes_without_loss_or_double_effects(
        private_settings: Settings, workers) -> None:
    count = 300
    events = workload.interleaved(count)
    first = workers()
    produced = threading.Event()
    killed = threading.Event()

    failures: list[BaseException] = []

    def feed() -> None:
        producer = make_producer(private_settings, linger_ms=5)
        try:
            for i in range(0, len(events), 100):
                if i >= len(events) // 2:
                    killed.wait(timeout=120)  # the second half only after the kill, so it lands mid-stream
                sent = [producer.send(topics.STAGE_EVENTS.name, key=event["shipment_id"], value=event)
                        for event in events[i:i + 100]]
                producer.flush(timeout=60)
                for future in sent:
                    future.get(timeout=30)  # raises what the broker answered, if it refused
                time.sleep(0.1)
        except BaseException as exc:
            failures.append(exc)
        finally:
            producer.close()
            produced.set()

    feeder = threading.Thread(target=feed, daemon=True)
    deadline = time.monotonic() + 90
    first.wait_for("/health", lambda r: r.status_code == 200 and r.json()["status"] == "ok")
    feeder.start()
    while total_entries(first) < len(events) // 5 and time.monotonic() < deadline:
        time.sleep(0.05)
    still_feeding = not produced.is_set()
    first.kill()  # SIGKILL to the process group, mid-stream
    killed.set()
    assert still_feeding, f"the kill must land mid-stream (producer: {failures!r})"
    second = workers()
    feeder.join(timeout=120)
    assert produced.is_set() and not failures, f"the test's producer failed: {failures!r}"
    try:
        second.wait_for("/stats/stages",
                        lambda r: r.status_code == 200 and total_entries(second) == len(events),
                        timeout=120)
    except AssertionError:
        raise AssertionError(missing_report(private_settings, second, events)) from None
    time.sleep(2)  # anything emitted twice would show up by now
    rows = second.get("/stats/stages").json()["rows"]
    by_stage = Counter[str]()
    for row in rows:
        by_stage[row["stage"]] += row["entradas"]
    assert by_stage == Counter(e["stage"] for e in events), "counters are exact despite the replay"

    advanced = read_all(private_settings, topics.STAGE_ADVANCED.name, len(events))
    ids = Counter(a["event_id"] for a in advanced)
    assert set(ids) == {derived_event_id(e["event_id"], STAGE_ADVANCED) for e in events}
    twice = sum(n - 1 for n in ids.values())
    assert twice == 0, f"{twice} records emitted again after the kill"
    assert read_all(private_settings, topics.STAGE_ANOMALIES.name, 0, timeout=3) == [], \
        "redelivered events must not be reported as duplicates"
    for index in range(0, count, 37):
        body = shipment_view(second, workload.shipment_id(index))
        life = workload.shipment_events(index)
        assert [e["stage"] for e in body["timeline"]] == [e["stage"] for e in life]


def test_worker_killed_before_its_first_commit_loses_nothing(private_settings: Settings,
                                                              workers) -> None:
    """No committed offset at restart: records fetched while the tables recover are not skipped."""
    events = workload.interleaved(500)
    head, backlog = events[:len(events) // 4], events[len(events) // 4:]
    produce(private_settings, topics.STAGE_EVENTS.name, [(e["shipment_id"], e) for e in head])
    first = workers(SENAE_PROCESSOR_COMMIT_INTERVAL="600")  # it never commits
    first.wait_for("/stats/stages", counted(first, len(head)))
    first.kill()
    assert committed_offsets(private_settings) == {}, "the first worker must not have committed"
    # Several batches wait while the restarted worker recovers its tables.
    produce(private_settings, topics.STAGE_EVENTS.name, [(e["shipment_id"], e) for e in backlog])
    second = workers()
    try:
        second.wait_for("/stats/stages", counted(second, len(events)), timeout=90)
    except AssertionError:
        raise AssertionError(missing_report(private_settings, second, events)) from None
    for index in range(0, 500, 37):
        body = shipment_view(second, workload.shipment_id(index))
        assert [e["stage"] for e in body["timeline"]] == [e["stage"] for e in workload.shipment_events(index)]


def committed_offsets(settings: Settings) -> dict[int, int]:
    """The processor group's committed offsets on the stage-events topic."""
    return {lag.partition: lag.committed for lag in group_lag(settings, APP_ID)
            if lag.topic == topics.STAGE_EVENTS.name and lag.committed > 0}


def outputs_of_a_killed_batch(settings: Settings, events: list[dict[str, Any]]) -> int:
    """Send what a worker killed between its outputs and its state write would have left behind.

    The events are read back from the topic (with their positions) and planned with the worker's
    own pipeline on an empty state; the planned outputs are sent, the state is not written.
    """
    wanted = {e["event_id"] for e in events}
    consumer = KafkaConsumer(bootstrap_servers=settings.bootstrap_servers, enable_auto_commit=False)
    try:
        parts = [TopicPartition(topics.STAGE_EVENTS.name, p)
                 for p in consumer.partitions_for_topic(topics.STAGE_EVENTS.name) or []]
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        records: list[pipeline.Record] = []
        deadline = time.monotonic() + 30
        while len(records) < len(wanted) and time.monotonic() < deadline:
            for items in consumer.poll(timeout_ms=300).values():
                records += [pipeline.Record(r.topic, r.partition, r.offset, r.timestamp / 1000, r.value)
                            for r in items if json.loads(r.value)["event_id"] in wanted]
    finally:
        consumer.close()
    assert len(records) == len(wanted)
    plan = pipeline.plan_stage_batch(load_catalog(), records, lambda _sid: None, lambda _src: None,
                                     advanced_topic=topics.STAGE_ADVANCED.name,
                                     anomalies_topic=topics.STAGE_ANOMALIES.name)
    producer = make_producer(settings, key_serializer=None, value_serializer=None)
    try:
        for send in plan.sends:
            producer.send(send.topic, key=send.key.encode(), value=send.value)
        producer.flush(timeout=30)
    finally:
        producer.close()
    return len(plan.sends)


def test_outputs_acknowledged_before_a_kill_are_not_sent_again(private_settings: Settings,
                                                               workers) -> None:
    """The window the kill test rarely hits, made certain: outputs in the topic, no state."""
    advanced_ids = Counter[str]()

    def emitted_once(expected: int) -> None:
        advanced = read_all(private_settings, topics.STAGE_ADVANCED.name, expected, timeout=20)
        advanced_ids.clear()
        advanced_ids.update(a["event_id"] for a in advanced)
        assert len(advanced) == expected and max(advanced_ids.values()) == 1, advanced_ids.most_common(3)

    # No snapshot yet: the first worker of a source partition reads its outputs from the start.
    first = [e for i in range(4) for e in workload.shipment_events(i)]
    produce(private_settings, topics.STAGE_EVENTS.name, [(e["shipment_id"], e) for e in first])
    assert outputs_of_a_killed_batch(private_settings, first) == len(first)
    worker = workers()
    worker.wait_for("/stats/stages", counted(worker, len(first)))
    emitted_once(len(first))
    worker.kill(signal.SIGTERM)

    # With snapshots: the restarted worker reads its outputs from the offsets the snapshots keep.
    later = [e for i in range(4, 8) for e in workload.shipment_events(i)]
    produce(private_settings, topics.STAGE_EVENTS.name, [(e["shipment_id"], e) for e in later])
    assert outputs_of_a_killed_batch(private_settings, later) == len(later)
    again = workers()
    again.wait_for("/stats/stages", counted(again, len(first) + len(later)))
    newest = [e for i in range(8, 10) for e in workload.shipment_events(i)]
    produce(private_settings, topics.STAGE_EVENTS.name, [(e["shipment_id"], e) for e in newest])
    again.wait_for("/stats/stages", counted(again, len(first) + len(later) + len(newest)))
    emitted_once(len(first) + len(later) + len(newest))
    assert set(advanced_ids) == {derived_event_id(e["event_id"], STAGE_ADVANCED)
                                 for e in first + later + newest}


def test_two_workers_give_the_same_final_state_as_one(private_settings: Settings, workers,
                                                      tmp_path: Path) -> None:
    count = 60
    events = workload.interleaved(count)
    single = workers()
    produce(private_settings, topics.STAGE_EVENTS.name, [(e["shipment_id"], e) for e in events])
    single.wait_for("/stats/stages", lambda r: total_entries(single) == len(events))
    reference = {workload.shipment_id(i): shipment_view(single, workload.shipment_id(i))
                 for i in range(count)}
    reference_stats = single.get("/stats/stages").json()

    broker = LocalBroker(free_port(), log_path=tmp_path / "tansu-b.log").start()
    pair: list[Worker] = []
    try:
        settings = Settings(kafka_bootstrap=broker.bootstrap, kafka_profile="local",
                            kafka_partitions=PARTITIONS, data_dir=str(tmp_path / "data-b"))
        create_missing_topics(settings)
        pair = [Worker(settings, tmp_path / f"pair-{i}.log").start() for i in range(2)]
        produce(settings, topics.STAGE_EVENTS.name, [(e["shipment_id"], e) for e in events])
        for worker in pair:
            worker.wait_for("/stats/stages", counted(worker, len(events)), timeout=120)
        for i in range(count):
            sid = workload.shipment_id(i)
            assert shipment_view(pair[i % 2], sid) == reference[sid]
        assert pair[1].get("/stats/stages").json() == reference_stats
        dai = workload.shipment_events(7)[3]["dai"]
        for worker in pair:
            found = worker.wait_for(f"/dai/{dai}", lambda r: r.status_code == 200).json()
            assert found["shipment_ids"] == [workload.shipment_id(7)]
        advanced = read_all(settings, topics.STAGE_ADVANCED.name, len(events))
        assert sorted(a["event_id"] for a in advanced) == sorted(
            derived_event_id(e["event_id"], STAGE_ADVANCED) for e in events)
    finally:
        for worker in pair:
            worker.kill()
        broker.stop()


def test_clean_stop_and_restart_emit_nothing_twice(private_settings: Settings, workers) -> None:
    first_batch = workload.interleaved(20)
    later = [e for i in range(20, 26) for e in workload.shipment_events(i)]
    worker = workers()
    produce(private_settings, topics.STAGE_EVENTS.name, [(e["shipment_id"], e) for e in first_batch])
    worker.wait_for("/stats/stages", counted(worker, len(first_batch)))
    worker.kill(signal.SIGTERM)  # clean stop: the broker may still redeliver the last records
    assert worker.process is not None and worker.process.returncode is not None
    again = workers()
    produce(private_settings, topics.STAGE_EVENTS.name, [(e["shipment_id"], e) for e in later])
    again.wait_for("/stats/stages", counted(again, len(first_batch) + len(later)))
    time.sleep(2)
    assert total_entries(again) == len(first_batch) + len(later)
    advanced = read_all(private_settings, topics.STAGE_ADVANCED.name, len(first_batch) + len(later))
    ids = [a["event_id"] for a in advanced]
    assert len(ids) == len(set(ids)) == len(first_batch) + len(later)
    assert read_all(private_settings, topics.STAGE_ANOMALIES.name, 0, timeout=3) == []
