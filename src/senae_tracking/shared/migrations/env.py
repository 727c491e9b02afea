"""Alembic environment: runs the migrations on the connection handed over by ``migrations.upgrade``."""

from __future__ import annotations

from alembic import context

from senae_tracking.shared.db import make_engine
from senae_tracking.shared.models import Base

config = context.config
target_metadata = Base.metadata


def run() -> None:
    """Online migrations only: the caller passes a connection (or a URL to open one)."""
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=target_metadata,
                          render_as_batch=connection.dialect.name == "sqlite")
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = make_engine(config.attributes["database_url"])
    try:
        with engine.begin() as conn:
            context.configure(connection=conn, target_metadata=target_metadata,
                              render_as_batch=conn.dialect.name == "sqlite")
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


run()
