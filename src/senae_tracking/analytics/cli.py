"""``senae-tracking report …`` and ``export``: statistics and exports computed from the event log."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import click
from tqdm import tqdm

from senae_tracking.analytics.stats import MONTHLY_COLUMNS, DwellTimes, MonthlyTable
from senae_tracking.cli import settings_or_exit
from senae_tracking.ops import TOPIC_ALIASES
from senae_tracking.shared.catalog import load_catalog
from senae_tracking.shared.topiclog import read_topic
from senae_tracking.shared.topics import ATTENTIONS, COMPLAINTS, STAGE_ADVANCED


@click.group()
def report() -> None:
    """Informes desde el registro de eventos / reports computed from the event log."""


@report.command("monthly")
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default="csv", show_default=True)
def monthly(fmt: str) -> None:
    """Quejas y atenciones por mes / monthly complaints and attentions (the published table)."""
    settings = settings_or_exit()
    table = MonthlyTable()
    for kind, topic in (("complaint", COMPLAINTS.name), ("attention", ATTENTIONS.name)):
        for message in tqdm(read_topic(settings, topic), desc=topic, unit=" ev", disable=None,
                            file=sys.stderr):
            table.add(kind, message)
    rows = table.rows()
    if fmt == "json":
        click.echo(json.dumps(rows))
        return
    writer = csv.DictWriter(sys.stdout, fieldnames=MONTHLY_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({**row, "mes": f"{row['mes']:02d}"})


@report.command("dwell")
@click.option("--lang", type=click.Choice(["es", "en"]), default="es", show_default=True)
def dwell(lang: str) -> None:
    """Tiempo de permanencia por etapa / time shipments spend in each stage."""
    settings = settings_or_exit()
    catalog = load_catalog()
    times = DwellTimes()
    for message in tqdm(read_topic(settings, STAGE_ADVANCED.name), unit=" ev", disable=None,
                        file=sys.stderr):
        times.add(message)
    order = sorted(catalog.stages, key=lambda code: catalog.stages[code].order)
    click.echo(f"{'etapa / stage':45} {'n':>7} {'media h':>9} {'mediana h':>9} {'p90 h':>9}")
    for row in times.summary(order):
        click.echo(f"{catalog.label(row.stage, lang):45} {row.count:7d} {row.mean_hours:9.1f} "
                   f"{row.median_hours:9.1f} {row.p90_hours:9.1f}")


@click.command()
@click.argument("topic")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Archivo JSONL / JSONL file to write.")
def export(topic: str, out: Path) -> None:
    """Exporta un tópico a JSONL / export a topic's records to a JSONL file."""
    settings = settings_or_exit()
    name = TOPIC_ALIASES.get(topic, topic)
    count = 0
    try:
        with out.open("w", encoding="utf-8") as fh:
            for message in tqdm(read_topic(settings, name), unit=" ev", disable=None, file=sys.stderr):
                fh.write(json.dumps(message, ensure_ascii=False) + "\n")
                count += 1
    except LookupError as exc:
        raise click.ClickException(f"el tópico no existe / {exc}") from exc
    click.echo(f"{count} registros exportados / records exported to {out}")
