"""Session fixtures that start and stop the real parts the tests talk to.

- ``kafka_bootstrap``: a fresh Tansu broker on a free port for the whole session.
- ``postgres_url``: a uniquely named database on the PostgreSQL server named by
  ``SENAE_TEST_POSTGRES_URL`` (default postgresql://postgres@127.0.0.1:5432/test), dropped after.
- ``sqlite_url``: a SQLite file in a temporary directory.
- ``database_url``: parametrised over both, so a test that uses it runs on each database.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from senae_tracking.embedded.broker import LocalBroker, free_port
from senae_tracking.shared.settings import Settings

DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """host:port of a Tansu broker started for this test session."""
    log = tmp_path_factory.mktemp("broker") / "tansu.log"
    broker = LocalBroker(free_port(), log_path=log)
    broker.start()
    try:
        yield broker.bootstrap
    finally:
        broker.stop()


@pytest.fixture
def settings(kafka_bootstrap: str, tmp_path: Path) -> Settings:
    """Settings pointing at the session broker and a per-test SQLite database."""
    return Settings(
        kafka_bootstrap=kafka_bootstrap, kafka_profile="local", kafka_partitions=4,
        database_url=f"sqlite:///{tmp_path / 'senae.db'}", data_dir=str(tmp_path / "data"),
    )


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """URL of a fresh PostgreSQL database for this session; dropped afterwards."""
    server = make_url(os.environ.get("SENAE_TEST_POSTGRES_URL", DEFAULT_PG))
    name = f"senae_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(
        server.set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """URL of a SQLite database file private to the test."""
    return f"sqlite:///{tmp_path / 'test.db'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str:
    """Each test using this runs once on SQLite and once on PostgreSQL."""
    fixture = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    url: str = request.getfixturevalue(fixture)
    return url
