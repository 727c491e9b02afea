"""``senae-tracking up``: the whole system on one machine with nothing configured.

Starts the embedded broker and creates the topics; each service joins here as it is built.
"""

from __future__ import annotations

import click

from senae_tracking.cli import configure_logging, settings_or_exit, stop_on_sigterm
from senae_tracking.embedded.broker import LocalBroker
from senae_tracking.shared.kafka import admin_client
from senae_tracking.shared.topics import ensure_topics


@click.command()
@click.option("--broker-port", type=click.IntRange(1, 65535), default=None,
              help="Puerto del broker / broker port (default SENAE_BROKER_PORT).")
def up(broker_port: int | None) -> None:
    """Todo el sistema local / run the whole system locally (embedded broker, SQLite)."""
    settings = settings_or_exit()
    configure_logging(settings)
    local = LocalBroker(broker_port or settings.broker_port)
    local.start()
    stop_on_sigterm()
    try:
        settings = settings.model_copy(update={"kafka_bootstrap": local.bootstrap})
        admin = admin_client(settings)
        ensure_topics(admin, partitions=settings.kafka_partitions)
        admin.close()
        click.echo(f"Broker: {local.bootstrap}")
        click.echo("Sistema en marcha / system running (Ctrl-C para salir / to stop)")
        local.wait()
    except KeyboardInterrupt:
        pass
    finally:
        local.stop()
