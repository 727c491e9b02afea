"""``senae-tracking processor``: run a processor worker (several workers share the partitions)."""

from __future__ import annotations

import logging
import sys

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
    from senae_tracking.shared.kafka import admin_client, detect_profile
    from senae_tracking.shared.topics import ensure_topics

    settings = settings_or_exit()
    configure_logging(settings)
    try:
        profile = detect_profile(settings)
        admin = admin_client(settings, client_id="senae-processor-admin")
        try:
            ensure_topics(admin, partitions=settings.kafka_partitions,
                          replication=settings.kafka_replication)
        finally:
            admin.close()
    except KafkaError as exc:
        click.echo(f"Broker no disponible / broker unavailable at {settings.kafka_bootstrap}: {exc}",
                   err=True)
        sys.exit(1)
    proc = create_app(settings, profile, web_port=web_port, web_host=web_host)
    faust_worker = faust.Worker(proc.app, loglevel=settings.log_level, redirect_stdouts=False,
                                quiet=True)
    # Faust's terminal spinner switches on per-message debug logging, which costs throughput.
    faust_worker.spinner = None
    logging.getLogger("faust").setLevel(max(logging.INFO, logging.getLevelName(settings.log_level)))
    faust_worker.execute_from_commandline()
