"""``senae-tracking processor``: run a processor worker (several workers share the partitions)."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import TextIO

import click

from senae_tracking.cli import configure_logging, settings_or_exit


@click.group()
def processor() -> None:
    """Procesador Faust / Faust processor: shipment state, look-ups, counters."""


@processor.command()
@click.option("--web-port", type=click.IntRange(1, 65535), default=None,
              help="Puerto de las vistas / port of the web views (default SENAE_PROCESSOR_PORT).")
@click.option("--web-host", default="127.0.0.1", show_default=True,
              help="Dirección anunciada a los otros workers / address other workers reach this one at.")
def worker(web_port: int | None, web_host: str) -> None:
    """Inicia un worker / start a worker (stops on Ctrl-C or SIGTERM)."""
    import faust
    from kafka.errors import KafkaError

    from senae_tracking.services.processor.app import create_app
    from senae_tracking.shared.kafka import detect_profile
    from senae_tracking.shared.topics import create_missing_topics

    settings = settings_or_exit()
    configure_logging(settings)
    try:
        profile = detect_profile(settings)
        create_missing_topics(settings, client_id="senae-processor-admin")
    except KafkaError as exc:
        click.echo(f"Broker no disponible / broker unavailable at {settings.kafka_bootstrap}: {exc}",
                   err=True)
        sys.exit(1)
    proc = create_app(settings, profile, web_port=web_port, web_host=web_host)
    faust_worker = faust.Worker(proc.app, proc.outputs, proc.portal_counter, loglevel=settings.log_level,
                                redirect_stdouts=False, quiet=True)
    # Faust's terminal spinner switches on per-message debug logging, which costs throughput.
    faust_worker.spinner = None
    logging.getLogger("faust").setLevel(max(logging.INFO, logging.getLevelName(settings.log_level)))
    faust_worker.execute_from_commandline()


@processor.command("generate-log")
@click.option("--table", "table_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=Path("data/senae-tracking-transparencia.csv"), show_default=True,
              help="Tabla publicada / published monthly table (anio,mes,quejas,atenciones).")
@click.option("--divisor", type=click.IntRange(1), default=1, show_default=True,
              help="Divide las atenciones / divide attentions by this (a scaled-down log).")
@click.option("--seed", type=int, default=2025, show_default=True)
@click.option("--output", type=click.File("w"), default=None,
              help="Archivo JSONL / JSONL file ('-' for stdout) instead of publishing.")
@click.option("--publish", is_flag=True, help="Publicar en Kafka / publish to the topics.")
def generate_log(table_path: Path, divisor: int, seed: int, output: TextIO | None, publish: bool) -> None:
    """Genera el registro de atenciones y quejas / generate the attention and complaint log."""
    from tqdm import tqdm

    from senae_tracking.services.processor import transparency
    from senae_tracking.shared.kafka import json_bytes, make_producer

    if output is None and not publish:
        raise click.UsageError("indique --output o --publish / give --output or --publish")
    rows = transparency.scale_table(transparency.read_table(table_path), divisor)
    total = sum(r.quejas + r.atenciones for r in rows)
    producer = None
    if publish:
        settings = settings_or_exit()
        configure_logging(settings)
        producer = make_producer(settings, linger_ms=20, batch_size=256 * 1024)
    try:
        for topic, key, message in tqdm(transparency.generate_log(rows, seed), total=total,
                                        unit="msg", disable=output is not None and output.name == "<stdout>"):
            if producer is not None:
                producer.send(topic, key=key, value=message)
            if output is not None:
                output.write(json_bytes(message).decode() + "\n")
        if producer is not None:
            producer.flush(timeout=120)
    finally:
        if producer is not None:
            producer.close()
    click.echo(f"{total} mensajes / messages", err=True)


@processor.command()
@click.option("--out", "out", type=click.File("w"), required=True,
              help="Estados reconstruidos, JSONL / rebuilt shipment states, JSONL ('-' for stdout).")
@click.option("--stages", "stages", type=click.File("w"), default=None,
              help="Entradas por etapa, CSV / stage entries per month, district and stage, CSV.")
def replay(out: TextIO, stages: TextIO | None) -> None:
    """Reconstruye el estado desde el registro / rebuild every shipment's state from the event log.

    Lee senae.stage-events.v1 desde el inicio hasta su fin actual con las reglas del worker, sin
    emitir nada. / Reads the topic from its start to its current end with the worker's rules and
    emits nothing; each line is what GET /shipments/{id} answers.
    """
    from kafka.errors import KafkaError
    from tqdm import tqdm

    from senae_tracking.services.processor import counters, pipeline
    from senae_tracking.services.processor.replay import rebuild
    from senae_tracking.shared import topics
    from senae_tracking.shared.catalog import load_catalog
    from senae_tracking.shared.kafka import json_bytes
    from senae_tracking.shared.topiclog import read_records

    settings = settings_or_exit()
    configure_logging(settings)
    catalog = load_catalog()
    records = (pipeline.Record(r.topic, r.partition, r.offset, r.timestamp / 1000, r.value)
               for r in read_records(settings, topics.STAGE_EVENTS.name))
    try:
        rebuilt = rebuild(catalog, tqdm(records, unit="ev", disable=not sys.stderr.isatty()),
                          advanced_topic=topics.STAGE_ADVANCED.name,
                          anomalies_topic=topics.STAGE_ANOMALIES.name)
    except (KafkaError, LookupError, TimeoutError) as exc:
        click.echo(f"No se pudo leer el registro / could not read the log at {settings.kafka_bootstrap}: "
                   f"{exc}", err=True)
        sys.exit(1)
    shipments = rebuilt.shipments(catalog)
    for shipment in shipments:
        out.write(json_bytes(shipment).decode() + "\n")
    if stages is not None:
        stages.write(counters.to_csv(rebuilt.stage_rows(topics.STAGE_EVENTS.name), counters.STAGE_COLUMNS))
    click.echo(f"{rebuilt.records} eventos / events, {len(shipments)} embarques / shipments, "
               f"{rebuilt.advanced} avances / stage changes, {rebuilt.anomalies} anomalías / anomalies, "
               f"{rebuilt.invalid} inválidos / invalid", err=True)
