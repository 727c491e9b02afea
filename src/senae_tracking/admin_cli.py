"""Operators' topic commands: create the system's topics and list them."""

from __future__ import annotations

import click

from senae_tracking.cli import settings_or_exit
from senae_tracking.shared.kafka import admin_client
from senae_tracking.shared.topics import ALL_TOPICS, create_missing_topics


@click.group()
def topics() -> None:
    """Tópicos Kafka / Kafka topics."""


@topics.command("create")
def create() -> None:
    """Crea los tópicos que falten / create missing topics (idempotent)."""
    settings = settings_or_exit()
    created = create_missing_topics(settings)
    for name in created:
        click.echo(f"creado / created: {name}")
    click.echo(f"{len(created)} creados, {len(ALL_TOPICS) - len(created)} ya existían / "
               f"created, already present")


@topics.command("list")
def list_topics() -> None:
    """Lista los tópicos del sistema / list the system's topics."""
    settings = settings_or_exit()
    admin = admin_client(settings)
    try:
        existing = set(admin.list_topics())
    finally:
        admin.close()
    for spec in ALL_TOPICS:
        mark = "ok" if spec.name in existing else "falta/missing"
        click.echo(f"{spec.name:32} key={spec.key:12} {mark:14} {spec.description}")
