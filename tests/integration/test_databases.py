"""Both databases the system supports are reachable through the shared engine factory."""

from sqlalchemy import text

from senae_tracking.shared.db import make_engine


def test_engine_round_trip(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE probe (id INTEGER PRIMARY KEY, label VARCHAR(20))"))
            conn.execute(text("INSERT INTO probe (id, label) VALUES (1, 'aforo físico')"))
        with engine.connect() as conn:
            assert conn.execute(text("SELECT label FROM probe")).scalar_one() == "aforo físico"
    finally:
        engine.dispose()
