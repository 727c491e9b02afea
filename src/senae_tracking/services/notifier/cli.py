"""Commands of the notifier: ``notifier run|webhooks``, ``db upgrade``, ``subscriptions add|list|remove``."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import click

from senae_tracking.cli import configure_logging, settings_or_exit
from senae_tracking.shared.settings import Settings

if TYPE_CHECKING:
    from senae_tracking.shared.repository import Repository


@contextmanager
def _repository(settings: Settings) -> Iterator[Repository]:
    """The repository over a migrated database; its engine is disposed on exit."""
    from senae_tracking.shared.db import make_engine
    from senae_tracking.shared.repository import Repository

    _require_migrated(settings)
    repo = Repository(make_engine(settings.database_url))
    try:
        yield repo
    finally:
        repo.engine.dispose()


def _require_migrated(settings: Settings) -> None:
    from sqlalchemy.exc import SQLAlchemyError

    logging.getLogger("alembic").setLevel(logging.WARNING)  # its INFO lines say nothing to operators
    from senae_tracking.shared.migrations import current

    try:
        revision = current(settings.database_url)
    except SQLAlchemyError as exc:
        raise click.ClickException(
            f"base de datos inaccesible / database unreachable ({settings.database_url}): {exc}") from None
    if revision is None:
        raise click.ClickException(
            "base de datos sin migrar / database not migrated: run `senae-tracking db upgrade`")


@click.group()
def notifier() -> None:
    """Notificador / E-mail and SMS alerts when cargo advances."""


@notifier.command()
@click.option("--no-webhooks", is_flag=True,
              help="Sin la app HTTP / do not serve the webhooks in this process.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Dirección / bind address (webhooks).")
@click.option("--port", type=click.IntRange(1, 65535), default=None,
              help="Puerto / port of the webhooks (default SENAE_NOTIFIER_PORT, 8002).")
@click.option("--group", default="senae-notifier", show_default=True, help="Grupo Kafka / consumer group.")
@click.option("--smtp-connections", type=click.IntRange(1, 100), default=8, show_default=True,
              help="Conexiones SMTP simultáneas / concurrent SMTP connections.")
def run(no_webhooks: bool, host: str, port: int | None, group: str, smtp_connections: int) -> None:
    """Consume cambios de etapa y notifica / consume stage changes and notify (and serve webhooks)."""
    from senae_tracking.services.notifier.app import run_notifier
    from senae_tracking.services.notifier.mail import parse_smtp_url

    settings = settings_or_exit()
    configure_logging(settings)
    if settings.smtp_url:
        try:
            parse_smtp_url(settings.smtp_url)
        except ValueError as exc:
            click.echo(f"Error de configuración / configuration error: {exc}", err=True)
            sys.exit(2)
    _require_migrated(settings)
    _ensure_topics(settings)
    asyncio.run(run_notifier(settings, webhooks=not no_webhooks, host=host, port=port, group_id=group,
                             smtp_connections=smtp_connections))


def _ensure_topics(settings: Settings) -> None:
    from kafka.errors import KafkaError

    from senae_tracking.shared.topics import NOTIFICATIONS_DLQ, STAGE_ADVANCED, create_missing_topics

    try:
        create_missing_topics(settings, (STAGE_ADVANCED, NOTIFICATIONS_DLQ),
                              client_id="senae-notifier-admin")
    except KafkaError as exc:
        raise click.ClickException(
            f"broker Kafka inaccesible / Kafka broker unreachable ({settings.kafka_bootstrap}): {exc}"
        ) from None


@notifier.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Dirección / bind address.")
@click.option("--port", type=click.IntRange(1, 65535), default=None,
              help="Puerto / port (default SENAE_NOTIFIER_PORT, 8002).")
def webhooks(host: str, port: int | None) -> None:
    """Solo la app HTTP / only the webhooks (Twilio callbacks, unsubscribe links)."""
    from senae_tracking.services.notifier.app import run_webhooks

    settings = settings_or_exit()
    configure_logging(settings)
    _require_migrated(settings)
    asyncio.run(run_webhooks(settings, host=host, port=port))


@click.group()
def db() -> None:
    """Base de datos / Database migrations."""


@db.command()
def upgrade() -> None:
    """Migra la base de datos / migrate the database to the latest schema (safe to run again)."""
    from sqlalchemy.exc import SQLAlchemyError

    from senae_tracking.shared.migrations import current
    from senae_tracking.shared.migrations import upgrade as migrate

    settings = settings_or_exit()
    try:
        migrate(settings.database_url)
        revision = current(settings.database_url)
    except SQLAlchemyError as exc:
        raise click.ClickException(f"migración fallida / migration failed: {exc}") from None
    click.echo(f"Base de datos al día / database up to date (revision {revision})")


@click.group()
def subscriptions() -> None:
    """Suscripciones / Manage alert subscriptions."""


@subscriptions.command()
@click.option("--ruc", required=True, help="RUC del operador / operator's RUC (13 digits).")
@click.option("--email", required=True, help="Correo / e-mail address.")
@click.option("--phone", default=None, help="Celular E.164 / mobile phone, e.g. +593991234567 (adds SMS).")
@click.option("--shipment", default=None,
              help="Solo esta carga / only this shipment (id, DAI, número de entrega or document).")
@click.option("--lang", type=click.Choice(["es", "en"]), default=None, help="Idioma / language (default es).")
@click.option("--name", default=None, help="Razón social / operator's name.")
@click.option("--role", type=click.Choice(["ANY", "IMPORTER", "AGENT"]), default="ANY", show_default=True,
              help="Como importador, agente o ambos / as importer, customs agent or either.")
@click.option("--channels", default=None, help="EMAIL,SMS (default EMAIL, plus SMS with --phone).")
@click.option("--events", default=None, help="Códigos / stage and event codes, comma-separated "
              "(default DAI_ACEPTADA,OBSERVACION,PAGO,SALIDA_AUTORIZADA,SALIDA).")
def add(ruc: str, email: str, phone: str | None, shipment: str | None, lang: str | None, name: str | None,
        role: str, channels: str | None, events: str | None) -> None:
    """Suscribe un contacto / subscribe a contact (defaults: every shipment of the RUC, main events)."""
    from senae_tracking.shared.repository import RepositoryError

    settings = settings_or_exit()
    try:
        with _repository(settings) as repo:
            view = repo.add_subscription(
                ruc=ruc.strip(), email=email, phone=phone, shipment=shipment, lang=lang, name=name,
                role=role, channels=_codes(channels), events=_codes(events))
    except RepositoryError as exc:
        raise click.ClickException(f"Dato inválido / invalid value: {exc.field}: {exc.message}") from None
    scope = f"carga / shipment {view.shipment_ref}" if view.shipment_ref else f"RUC {view.ruc} ({view.role})"
    click.echo(f"Suscripción {view.id} activa / subscription {view.id} active: {view.email}"
               f"{' ' + view.phone if view.phone else ''}, {scope}, {','.join(view.channels)}: "
               f"{','.join(view.events)}")


def _codes(value: str | None) -> list[str] | None:
    return [c.strip().upper() for c in value.split(",") if c.strip()] if value else None


@subscriptions.command(name="list")
@click.option("--ruc", default=None, help="Solo este RUC / only this RUC.")
@click.option("--json", "as_json", is_flag=True, help="Salida JSON / JSON output.")
def list_(ruc: str | None, as_json: bool) -> None:
    """Lista las suscripciones / list subscriptions."""
    with _repository(settings_or_exit()) as repo:
        views = repo.list_subscriptions(ruc)
    if as_json:
        click.echo(json.dumps([v.as_dict() for v in views], ensure_ascii=False, indent=2))
        return
    if not views:
        click.echo("Sin suscripciones / no subscriptions")
        return
    for v in views:
        scope = v.shipment_ref if v.shipment_ref else f"RUC:{v.role}"
        state = "activa/active" if v.active else "inactiva/off"
        sms = f" {v.phone}{' (STOP)' if v.sms_opt_out else ''}" if v.phone else ""
        click.echo(f"{v.id:>5}  {v.ruc}  {v.lang}  {v.email}{sms}  {scope}  {','.join(v.channels)}  "
                   f"{','.join(v.events)}  {state}")


@subscriptions.command()
@click.argument("subscription_id", type=int)
def remove(subscription_id: int) -> None:
    """Elimina una suscripción / remove a subscription by id."""
    with _repository(settings_or_exit()) as repo:
        removed = repo.remove_subscription(subscription_id)
    if not removed:
        raise click.ClickException(f"no existe la suscripción / no subscription {subscription_id}")
    click.echo(f"Suscripción {subscription_id} eliminada / subscription {subscription_id} removed")
