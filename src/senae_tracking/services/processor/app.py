"""The Faust application: topics, tables and agents, built from Settings by :func:`create_app`.

Agents are thin: they complete each batch with any records Faust skipped (:mod:`backfill`), hand
it to :mod:`pipeline` and carry out the returned plan in a fixed order — send the output messages
not already in the output topics (:mod:`emitted`) and wait for the broker's acknowledgements, then
write table entries to the changelog partition of the *source record* (a batch mixes partitions,
so entries are written with an explicit partition rather than through Faust's current-event
partition).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import faust
import orjson
from aiokafka.partitioner import murmur2
from faust.types import EventT

from senae_tracking.services.processor import counters, pipeline
from senae_tracking.services.processor.backfill import Backfill
from senae_tracking.services.processor.consumer import use_processor_consumer
from senae_tracking.services.processor.emitted import EmittedLog
from senae_tracking.services.processor.outputs import Outputs
from senae_tracking.services.processor.portal_counts import PortalCounter
from senae_tracking.shared import topics
from senae_tracking.shared.catalog import load_catalog
from senae_tracking.shared.kafka import Profile, faust_options
from senae_tracking.shared.settings import Settings

log = logging.getLogger(__name__)

APP_ID = "senae-processor"
#: Events per batch and the longest wait to fill one (seconds); also the latency added at low rates.
BATCH_SIZE = 1000
BATCH_WITHIN = 0.1


@dataclass
class Processor:
    """The app and the handles the views and tests need."""

    app: faust.App
    shipments: Any
    dai_index: Any
    entrega_index: Any
    documento_index: Any
    ruc_index: Any
    stage_counters: Any
    stats: Any
    index_positions: Any
    stats_positions: Any
    outputs: Outputs
    emitted: EmittedLog
    backfill: Backfill
    portal_counter: PortalCounter
    web_port: int
    web_host: str


def _records(events: list[EventT]) -> list[pipeline.Record]:
    return [pipeline.Record(e.message.topic, e.message.partition, e.message.offset,
                            e.message.timestamp, e.value) for e in events]


def _getter(table: Any) -> Any:
    """A ``str -> value`` reader of a table with bytes keys."""
    return lambda key: table.get(key.encode())


def _json(value: Any) -> bytes:
    """Compact UTF-8 JSON, as Faust's json codec reads it back."""
    return orjson.dumps(value)


def create_app(settings: Settings, profile: Profile, *, web_port: int | None = None,
               web_host: str = "127.0.0.1") -> Processor:
    """Build the processor's Faust app; nothing connects until the worker starts it."""
    catalog = load_catalog()
    port = web_port or settings.processor_port
    partitions = settings.kafka_partitions
    datadir = Path(settings.data_dir) / "processor"
    datadir.mkdir(parents=True, exist_ok=True)
    app = faust.App(
        APP_ID, **faust_options(settings, profile), store="memory://", datadir=str(datadir),
        web_port=port, web_host=web_host, web_bind=web_host, canonical_url=f"http://{web_host}:{port}",
        topic_allow_declare=True, table_cleanup_interval=3600.0, web_in_thread=False,
        stream_buffer_maxsize=32768, broker_max_poll_records=10000,
        broker_commit_interval=settings.processor_commit_interval,
    )
    use_processor_consumer(app, short_fetch_waits=profile == "local")
    raw: dict[str, Any] = {"key_serializer": "raw", "value_serializer": "raw"}
    stage_events = app.topic(topics.STAGE_EVENTS.name, **raw)
    index_topic = app.topic(f"{APP_ID}-index", internal=True, partitions=partitions, **raw)
    stats_topic = app.topic(f"{APP_ID}-stats", internal=True, partitions=1, **raw)

    def table(name: str, parts: int = partitions) -> Any:
        # bytes keys serialize raw, so the router hashes them exactly as producers partition them.
        return app.Table(name, default=None, partitions=parts, key_type=bytes)

    proc = Processor(
        app=app, shipments=table("shipments"), dai_index=table("dai-index"),
        entrega_index=table("entrega-index"), documento_index=table("documento-index"),
        ruc_index=table("ruc-index"), stage_counters=table("stage-counters"), stats=table("stats", 1),
        index_positions=table("index-positions"), stats_positions=table("stats-positions", 1),
        outputs=(outputs := Outputs(settings, end_markers=profile == "local")),
        emitted=EmittedLog(settings, [topics.STAGE_ADVANCED.name, topics.STAGE_ANOMALIES.name]),
        backfill=Backfill(settings),
        portal_counter=PortalCounter(settings, outputs, stats_topic.get_topic_name()),
        web_port=port, web_host=web_host,
    )
    stats_name = stats_topic.get_topic_name()
    index_name = index_topic.get_topic_name()

    def changelog(table: Any, entries: dict[str, tuple[int, dict[str, Any]]]
                  ) -> list[tuple[str, bytes, bytes | None, int | None]]:
        """Apply entries to the table's local store; return the changelog records to write."""
        topic = table.changelog_topic.get_topic_name()
        records: list[tuple[str, bytes, bytes | None, int | None]] = []
        for key, (partition, value) in entries.items():
            table.data[key.encode()] = value
            records.append((topic, key.encode(), _json(value), partition))
        return records

    def stats_records(plan: pipeline.Plan) -> list[tuple[str, bytes, bytes | None, int | None]]:
        return [(stats_name, b"stats", _json({"source": s, "wm": snap["wm"], "counts": snap["counts"]}),
                 None) for s, (_p, snap) in plan.snapshots.items()]

    def crash(exc: BaseException) -> NoReturn:
        # Faust's take_events acknowledges a batch when its loop is left, even by an exception, and
        # a later commit would skip the unfinished batch. Exit at once instead, like a kill: nothing
        # more is committed and the restarted worker reprocesses the batch (effects are idempotent).
        log.critical("lote fallido, el worker termina / batch failed, the worker exits: %r", exc,
                     exc_info=exc)
        logging.shutdown()
        os._exit(70)

    def index_records(plan: pipeline.Plan) -> list[tuple[str, bytes, bytes | None, int | None]]:
        """Look-up entries, one message per index partition (the partition each key hashes to),
        so that the index agent handles a few messages per batch instead of one per key."""
        by_partition: dict[int, list[dict[str, Any]]] = {}
        for entry in plan.index_entries:
            partition = (murmur2(entry["key"].encode()) & 0x7FFFFFFF) % partitions
            by_partition.setdefault(partition, []).append(entry)
        return [(index_name, b"index", _json({"entries": entries}), partition)
                for partition, entries in sorted(by_partition.items())]

    @app.on_partitions_assigned.connect
    async def on_assigned(_app: Any, /, *args: Any, signal: Any, **_kwargs: Any) -> None:
        # args is (assigned,). A partition may come back after another worker died holding it:
        # read its outputs again before processing it.
        proc.emitted.forget(f"{tp.topic}:{tp.partition}" for tp in args[0])

    @app.agent(stage_events)
    async def process_stage_events(stream: Any) -> None:
        async for events in stream.take_events(BATCH_SIZE, within=BATCH_WITHIN):
            try:
                records = await proc.backfill.complete(_records(events), _getter(proc.stage_counters))
                await proc.emitted.prepare({pipeline.source_key(r) for r in records},
                                           _getter(proc.stage_counters))
                plan = pipeline.plan_stage_batch(
                    catalog, records, _getter(proc.shipments), _getter(proc.stage_counters),
                    advanced_topic=topics.STAGE_ADVANCED.name,
                    anomalies_topic=topics.STAGE_ANOMALIES.name,
                )
                out = proc.emitted.ends()
                for _partition, snapshot in plan.snapshots.values():
                    snapshot["out"] = out
                # Outputs first, acknowledged; then the state that makes their re-emission a no-op.
                sends = [(s.topic, s.key.encode(), s.value, None)
                         for s in proc.emitted.unsent(plan.sends)]
                proc.emitted.advance(await outputs.send(sends + stats_records(plan)
                                                        + index_records(plan)))
                await outputs.write_changelog(changelog(proc.stage_counters, plan.snapshots)
                                              + changelog(proc.shipments, plan.states))
            except BaseException as exc:
                crash(exc)

    index_tables = {"dai": proc.dai_index, "entrega": proc.entrega_index,
                    "documento": proc.documento_index, "ruc": proc.ruc_index}

    def positions(records: list[pipeline.Record]) -> dict[str, tuple[int, dict[str, Any]]]:
        """The last offset handled per source partition, for the backfill of the next batch."""
        last: dict[str, tuple[int, dict[str, Any]]] = {}
        for record in records:
            source = pipeline.source_key(record)
            handled = last[source][1]["wm"] if source in last else -1
            last[source] = (record.partition, {"wm": max(handled, record.offset)})
        return last

    @app.agent(index_topic)
    async def update_indexes(stream: Any) -> None:
        async for events in stream.take_events(BATCH_SIZE, within=BATCH_WITHIN):
            try:
                records = await proc.backfill.complete(_records(events), _getter(proc.index_positions))
                changed: dict[str, dict[str, tuple[int, Any]]] = {kind: {} for kind in index_tables}
                for record in records:
                    if not record.value:
                        continue
                    for message in orjson.loads(record.value)["entries"]:
                        kind, key = message["kind"], message["key"]
                        pending = changed[kind]
                        current = (pending[key][1] if key in pending
                                   else index_tables[kind].get(key.encode()))
                        updated = pipeline.index_update(current, message)
                        if updated is not None:
                            pending[key] = (record.partition, updated)
                entries = changelog(proc.index_positions, positions(records))
                for kind, table_ in index_tables.items():
                    entries += changelog(table_, changed[kind])
                await outputs.write_changelog(entries)
            except BaseException as exc:
                crash(exc)

    @app.agent(stats_topic)
    async def merge_stats(stream: Any) -> None:
        async for events in stream.take_events(BATCH_SIZE, within=BATCH_WITHIN):
            try:
                records = await proc.backfill.complete(_records(events), _getter(proc.stats_positions))
                newest: dict[str, tuple[int, dict[str, Any]]] = {}
                for record in records:
                    if not record.value:
                        continue
                    snap = orjson.loads(record.value)
                    source = snap.pop("source")
                    current = newest[source][1] if source in newest else proc.stats.get(source.encode())
                    if counters.newer(current, snap):
                        newest[source] = (record.partition, snap)
                await outputs.write_changelog(changelog(proc.stats_positions, positions(records))
                                              + changelog(proc.stats, newest))
            except BaseException as exc:
                crash(exc)

    from senae_tracking.services.processor import views

    views.register(proc)
    return proc
