"""Commands of the ingest service: ``senae-tracking ingest serve|file`` and ``senae-tracking simulate``.

Exit codes of ``ingest file``: 0 all rows published, 1 some rows rejected, 2 unusable input or
configuration, 3 broker unavailable (what was acknowledged stays; re-running is safe).
"""

from __future__ import annotations

import csv
import json
import logging
import sys
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import click

from senae_tracking.cli import configure_logging, settings_or_exit, stop_on_sigterm
from senae_tracking.shared.identifiers import check_ruc
from senae_tracking.shared.settings import Settings

log = logging.getLogger(__name__)


def _ensure_topic(settings: Settings) -> None:
    """Create the stage-events topic if missing (best effort: the broker may not be up yet)."""
    from kafka.errors import KafkaError

    from senae_tracking.services.ingest.publisher import Publisher
    from senae_tracking.shared.topics import STAGE_EVENTS, create_missing_topics

    if not Publisher(settings).reachable():
        log.warning("broker %s not reachable; topic %s not checked", settings.kafka_bootstrap,
                    STAGE_EVENTS.name)
        return
    try:
        create_missing_topics(settings, (STAGE_EVENTS,), client_id="senae-ingest-admin")
    except (KafkaError, OSError) as exc:
        log.warning("could not check topic %s: %s", STAGE_EVENTS.name, exc)


def _quiet_kafka(settings: Settings) -> None:
    """Silence kafka-python's reconnect errors (logged every 100 ms while the broker is down).

    The service logs its own warning when publishing fails; DEBUG keeps the client's logs.
    """
    if settings.log_level != "DEBUG":
        logging.getLogger("kafka").setLevel(logging.CRITICAL)


@click.group()
def ingest() -> None:
    """Ingesta / ingest API and file import."""


@ingest.command()
@click.option("--port", type=click.IntRange(1, 65535), default=None,
              help="Puerto / port (default SENAE_INGEST_PORT, 8001).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Dirección / bind address.")
def serve(port: int | None, host: str) -> None:
    """API HTTP de ingesta / run the ingest HTTP API (POST /v1/stage-events)."""
    import uvicorn

    from senae_tracking.services.ingest.app import create_app

    settings = settings_or_exit()
    configure_logging(settings)
    if not settings.ingest_key_hashes:
        click.echo("Error de configuración / configuration error: SENAE_INGEST_API_KEYS is required "
                   "for this command but not set", err=True)
        sys.exit(2)
    _quiet_kafka(settings)
    _ensure_topic(settings)
    uvicorn.run(create_app(settings), host=host, port=port or settings.ingest_port,
                log_level=settings.log_level.lower(), access_log=settings.log_level == "DEBUG")


@ingest.command("file")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv"]), default=None,
              help="Formato / format (default: from the extension; .csv is CSV, else JSONL).")
@click.option("--chunk", type=click.IntRange(1, 100_000), default=2000, show_default=True,
              help="Eventos por envío / events per producer flush.")
def import_file_command(path: Path, fmt: str | None, chunk: int) -> None:
    """Importar un archivo JSONL o CSV / import a JSONL or CSV file of stage events."""
    from senae_tracking.services.ingest.fileimport import ImportFormatError, import_file
    from senae_tracking.services.ingest.publisher import BrokerUnavailable, Publisher

    settings = settings_or_exit()
    configure_logging(settings)
    _quiet_kafka(settings)
    publisher = Publisher(settings)
    if not publisher.reachable():
        click.echo(f"Broker no disponible / broker unavailable: {settings.kafka_bootstrap} does not "
                   "accept connections; nada publicado / nothing published.", err=True)
        sys.exit(3)
    _ensure_topic(settings)
    stop_on_sigterm()
    try:
        result = import_file(path, publisher.publish, fmt=fmt, chunk=chunk)
    except ImportFormatError as exc:
        click.echo(f"Archivo inválido / invalid file: {exc}", err=True)
        sys.exit(2)
    except BrokerUnavailable as exc:
        click.echo(f"Broker no disponible / broker unavailable: {exc}. Lo publicado queda; puede "
                   "reintentar / what was published stays; re-running the file is safe.", err=True)
        sys.exit(3)
    except KeyboardInterrupt:
        click.echo("Interrumpido / interrupted; re-running the file is safe.", err=True)
        sys.exit(130)
    finally:
        publisher.close()
    click.echo(result.summary())
    if result.rejected_path is not None:
        click.echo(f"Rechazos / rejected rows: {result.rejected_path}", err=True)
        sys.exit(1)


def _plain_key(settings: Settings) -> str | None:
    for entry in (e.strip() for e in settings.ingest_api_keys.split(",")):
        if entry and not entry.startswith("sha256:"):
            return entry
    return None


@click.command()
@click.option("--shipments", type=click.IntRange(1), default=100, show_default=True,
              help="Cargas a simular / shipments (file mode).")
@click.option("--seed", type=int, default=0, show_default=True, help="Semilla / random seed.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Archivo de salida / output file ('-': stdout, the default without --url).")
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv"]), default="jsonl",
              show_default=True, help="Formato del archivo / file format.")
@click.option("--end", type=click.DateTime(["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S"]),
              default=None, help="Fin de los tiempos / time of the newest events (default now; "
                                 "without offset: UTC).")
@click.option("--order", type=click.Choice(["time", "shipment"]), default="time", show_default=True,
              help="time: all interleaved by time (in memory); shipment: one after another (streamed).")
@click.option("--url", default=None, help="Modo en vivo / live mode: base URL of the ingest API.")
@click.option("--rate", type=click.FloatRange(0.01, 100_000), default=5.0, show_default=True,
              help="Eventos por segundo / events per second (live mode).")
@click.option("--api-key", default=None,
              help="Clave / API key (live mode; default the first plain key in SENAE_INGEST_API_KEYS).")
@click.option("--count", type=click.IntRange(1), default=None, help="Eventos a enviar / stop after N (live).")
@click.option("--duration", type=click.FloatRange(0), default=None, help="Segundos / stop after S s (live).")
@click.option("--ruc", "featured", multiple=True,
              help="Importador destacado / importer RUC given to about 1 in 4 shipments (live).")
@click.option("--active", type=click.IntRange(1), default=50, show_default=True,
              help="Cargas simultáneas / shipments advancing at once (live mode).")
def simulate(shipments: int, seed: int, out: Path | None, fmt: str, end: datetime | None, order: str,
             url: str | None, rate: float, api_key: str | None, count: int | None,
             duration: float | None, active: int, featured: tuple[str, ...]) -> None:
    """Simulador de tráfico / generate realistic stage events to a file, or post them live."""
    from datetime import UTC

    from senae_tracking.services.ingest import simulator

    if url is not None:
        if out is not None:
            raise click.UsageError("--out y --url se excluyen / use either --out or --url")
        settings = settings_or_exit()
        configure_logging(settings)
        key = api_key or _plain_key(settings)
        if not key:
            raise click.UsageError("falta la clave / --api-key is required (or a plain key in "
                                   "SENAE_INGEST_API_KEYS)")
        for ruc in featured:
            if (reason := check_ruc(ruc)) is not None:
                raise click.BadParameter(f"{ruc}: {reason}", param_hint="--ruc")
        _simulate_live(url, key, rate, seed, count, duration, active, featured)
        return
    if end is not None and end.tzinfo is None:
        end = end.replace(tzinfo=UTC)
    handle: IO[str] = sys.stdout
    if out is not None and str(out) != "-":
        handle = out.open("w", encoding="utf-8", newline="")
    try:
        groups: Iterable[list[dict[str, Any]]]
        if order == "time":
            groups = [simulator.generate_events(shipments, seed, end)]
        else:
            groups = simulator.iter_shipment_events(shipments, seed, end)
        written = _write_events(handle, groups, fmt)
    finally:
        if handle is not sys.stdout:
            handle.close()
    if handle is not sys.stdout:
        click.echo(f"Escritos / written: {written} eventos de / events of {shipments} cargas / "
                   f"shipments -> {out}", err=True)


def _write_events(handle: IO[str], groups: Iterable[Iterable[dict[str, Any]]], fmt: str) -> int:
    from senae_tracking.services.ingest.domain import CSV_COLUMNS, event_to_row

    written = 0
    writer = csv.DictWriter(handle, fieldnames=list(CSV_COLUMNS)) if fmt == "csv" else None
    if writer is not None:
        writer.writeheader()
    for group in groups:
        for event in group:
            if writer is not None:
                writer.writerow(event_to_row(event))
            else:
                handle.write(json.dumps(event, ensure_ascii=False, separators=(",", ":")) + "\n")
            written += 1
    return written


def _simulate_live(url: str, key: str, rate: float, seed: int, count: int | None,
                   duration: float | None, active: int, featured: tuple[str, ...]) -> None:
    from senae_tracking.services.ingest.live import LiveError, post_live
    from senae_tracking.services.ingest.simulator import live_events

    stop_on_sigterm()
    click.echo(f"Simulador en vivo / live simulator -> {url} at {rate:g} events/s "
               "(Ctrl-C para salir / to stop)", err=True)
    try:
        stats = post_live(live_events(seed, active=active, featured=featured), url, key, rate, count=count,
                          duration=duration)
    except LiveError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        click.echo("Simulador detenido / simulator stopped", err=True)
        return
    click.echo(f"Enviados / sent: {stats.sent} · reintentos / retries: {stats.retries} · "
               f"rechazados / refused: {stats.rejected}", err=True)
