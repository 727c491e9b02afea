"""The ``senae-tracking`` console command.

Subcommands live with their service and are imported only when invoked, so ``--help`` stays fast
and no service's dependencies load for another's command. To add one, name it in ``COMMANDS``.
"""

from __future__ import annotations

import importlib
import logging
import signal
import sys
from typing import Any

import click

from senae_tracking import __version__
from senae_tracking.shared.settings import Settings, SettingsError, load_settings

#: subcommand name -> "module:attribute" of its click command, and its one-line help.
COMMANDS: dict[str, tuple[str, str]] = {
    "version": ("senae_tracking.cli:version", "Imprime la versión / Print the version."),
    "broker": ("senae_tracking.cli:broker", "Broker Kafka local / Run the local Kafka broker."),
    "topics": ("senae_tracking.admin_cli:topics", "Tópicos Kafka / Create and list topics."),
    "tail": ("senae_tracking.ops:tail", "Ver un tópico / Print a topic's messages."),
    "lag": ("senae_tracking.ops:lag", "Retraso / Consumer-group lag."),
    "report": ("senae_tracking.analytics.cli:report", "Informes / Monthly table and dwell times."),
    "export": ("senae_tracking.analytics.cli:export", "Exportar / Export a topic to JSONL."),
    "up": ("senae_tracking.embedded.up:up", "Todo el sistema local / Run the whole system locally."),
    "ingest": ("senae_tracking.services.ingest.cli:ingest", "Ingesta / Ingest API and file import."),
    "simulate": ("senae_tracking.services.ingest.cli:simulate", "Simulador / Traffic simulator."),
    "processor": ("senae_tracking.services.processor.cli:processor", "Procesador / Faust processor."),
    "notifier": ("senae_tracking.services.notifier.cli:notifier", "Notificador / E-mail and SMS alerts."),
    "db": ("senae_tracking.services.notifier.cli:db", "Base de datos / Database migrations."),
    "portal": ("senae_tracking.services.portal.cli:portal", "Portal OCE / Operators' web portal."),
    "subscriptions": ("senae_tracking.services.notifier.cli:subscriptions",
                      "Suscripciones / Manage alert subscriptions."),
}


class LazyGroup(click.Group):
    """A click group that imports each subcommand's module only when it is used."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module_name, attr = COMMANDS[cmd_name][0].split(":")
        command: click.Command = getattr(importlib.import_module(module_name), attr)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][1]) for name in self.list_commands(ctx)]
        with formatter.section("Comandos / Commands"):
            formatter.write_dl(rows)


def settings_or_exit() -> Settings:
    """Load the settings, or print the one-line reason and exit with status 2."""
    try:
        return load_settings()
    except SettingsError as exc:
        click.echo(f"Error de configuración / configuration error: {exc}", err=True)
        sys.exit(2)


def configure_logging(settings: Settings) -> None:
    """Plain, timestamped logs on stderr at the configured level."""
    logging.basicConfig(
        level=settings.log_level, stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for noisy in ("kafka", "aiokafka"):
        level = logging.getLevelNamesMapping()[settings.log_level]
        logging.getLogger(noisy).setLevel(max(logging.WARNING, level))
    # kafka-python warns whenever its caller spends over 100 ms between polls, which the topic
    # readers do by design (they process each fetch before the next).
    logging.getLogger("kafka.net.selector").setLevel(logging.ERROR)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """SENAE Tracking: seguimiento de importaciones / import tracking through customs."""


@click.command()
def version() -> None:
    """Imprime la versión / Print the version."""
    click.echo(f"senae-tracking {__version__}")


@click.command()
@click.option("--port", type=click.IntRange(1, 65535), default=None,
              help="Puerto / port (default SENAE_BROKER_PORT, 9092).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Dirección / bind address.")
@click.option("--no-topics", is_flag=True, help="No crear los tópicos / do not create topics.")
def broker(port: int | None, host: str, no_topics: bool) -> None:
    """Broker Kafka local (Tansu, en memoria) / Run the local in-memory Kafka-compatible broker."""
    from senae_tracking.embedded.broker import LocalBroker
    from senae_tracking.shared.topics import create_missing_topics

    settings = settings_or_exit()
    configure_logging(settings)
    local = LocalBroker(port or settings.broker_port, host)
    stop_on_sigterm()
    try:
        local.start()
    except (RuntimeError, TimeoutError) as exc:
        message = f"no se pudo iniciar el broker / broker did not start: {exc}"
        raise click.ClickException(message) from exc
    except KeyboardInterrupt:
        local.stop()
        return
    try:
        if not no_topics:
            create_missing_topics(settings.model_copy(update={"kafka_bootstrap": local.bootstrap}))
        click.echo(f"Broker listo / broker ready on {local.bootstrap} (Ctrl-C para salir / to stop)")
        local.wait()
    except KeyboardInterrupt:
        pass
    finally:
        local.stop()
        click.echo("Broker detenido / broker stopped")


def stop_on_sigterm() -> None:
    """Turn SIGTERM into KeyboardInterrupt so that ``finally`` blocks stop child processes."""

    def handler(_signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


if __name__ == "__main__":
    main()
