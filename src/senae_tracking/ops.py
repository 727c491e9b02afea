"""Operators' commands: follow a topic (``tail``) and measure consumer-group lag (``lag``).

End offsets are the fetch high watermarks of :mod:`senae_tracking.shared.topiclog` (the embedded
broker's ListOffsets answer is wrong, see DESIGN.md).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

import click

from senae_tracking.cli import settings_or_exit
from senae_tracking.shared.kafka import admin_client, make_consumer
from senae_tracking.shared.settings import Settings
from senae_tracking.shared.topiclog import high_watermarks
from senae_tracking.shared.topics import ALL_TOPICS

TOPIC_ALIASES = {spec.name.split(".")[1]: spec.name for spec in ALL_TOPICS}


def _topic_name(name: str) -> str:
    return TOPIC_ALIASES.get(name, name)


@dataclass(frozen=True)
class PartitionLag:
    """Committed offset, end offset and lag of one partition for one group."""

    topic: str
    partition: int
    committed: int
    end: int

    @property
    def lag(self) -> int:
        """Records not yet processed by the group."""
        return max(0, self.end - self.committed)


def group_lag(settings: Settings, group: str) -> list[PartitionLag]:
    """Lag of ``group`` on every partition it has committed offsets for."""
    admin = admin_client(settings)
    try:
        committed = admin.list_group_offsets(group).get(group, {})
    finally:
        admin.close()
    if not committed:
        return []
    consumer = make_consumer(settings, group_id=None, enable_auto_commit=False)
    try:
        ends = high_watermarks(consumer, sorted(committed))
    finally:
        consumer.close()
    return [PartitionLag(tp.topic, tp.partition, meta.offset, ends.get(tp, meta.offset))
            for tp, meta in sorted(committed.items())]


@click.command()
@click.argument("topic")
@click.option("--from-beginning", is_flag=True, help="Desde el inicio / from the first record.")
@click.option("--follow/--no-follow", default=True, help="Seguir esperando / keep waiting.")
@click.option("--limit", type=int, default=0, help="Máximo de registros / stop after N (0: no limit).")
def tail(topic: str, from_beginning: bool, follow: bool, limit: int) -> None:
    """Muestra los mensajes de un tópico / print a topic's messages as JSON lines.

    TOPIC is a full name or its short form (stage-events, stage-anomalies, notifications, ...).
    """
    settings = settings_or_exit()
    name = _topic_name(topic)
    consumer = make_consumer(settings, group_id=None,
                             auto_offset_reset="earliest" if from_beginning else "latest")
    partitions = consumer.partitions_for_topic(name)
    if not partitions:
        raise click.ClickException(f"el tópico no existe / no such topic: {name}")
    consumer.subscribe([name])
    shown = 0
    idle_since = time.monotonic()
    try:
        while True:
            batch = consumer.poll(timeout_ms=500)
            for records in batch.values():
                for record in records:
                    try:
                        value = json.loads(record.value)
                    except ValueError:
                        value = record.value.decode(errors="replace")
                    key = record.key.decode(errors="replace") if record.key else None
                    click.echo(json.dumps({"partition": record.partition, "offset": record.offset,
                                           "key": key, "value": value}, ensure_ascii=False))
                    shown += 1
                    if limit and shown >= limit:
                        return
                idle_since = time.monotonic()
            if not follow and not batch and time.monotonic() - idle_since > 3:
                return
    except KeyboardInterrupt:
        pass
    finally:
        consumer.close()


@click.command()
@click.argument("group")
@click.option("--json", "as_json", is_flag=True, help="Salida JSON / JSON output.")
def lag(group: str, as_json: bool) -> None:
    """Retraso de un grupo de consumidores / consumer-group lag per partition."""
    settings = settings_or_exit()
    rows = group_lag(settings, group)
    if as_json:
        click.echo(json.dumps([{"topic": r.topic, "partition": r.partition, "committed": r.committed,
                                "end": r.end, "lag": r.lag} for r in rows]))
        return
    if not rows:
        click.echo(f"el grupo no tiene offsets / group has no committed offsets: {group}")
        return
    for r in rows:
        click.echo(f"{r.topic:32} {r.partition:3} committed={r.committed:<10} end={r.end:<10} lag={r.lag}")
    click.echo(f"total lag: {sum(r.lag for r in rows)}")
