"""Login throttling in the portal app: a guessed account is locked, a good login clears it."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.testclient import TestClient

from senae_tracking.services.portal.app import Portal, create_app
from senae_tracking.services.portal.events import PortalEvents
from senae_tracking.services.portal.processor_client import ProcessorClient
from senae_tracking.services.portal.throttle import LoginThrottle
from senae_tracking.shared.accounts import Accounts
from senae_tracking.shared.db import make_engine
from senae_tracking.shared.migrations import upgrade
from senae_tracking.shared.repository import Repository
from senae_tracking.shared.settings import Settings


def login(client: TestClient, username: str, password: str) -> int:
    token = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text)
    assert token is not None
    answer = client.post("/login", data={"csrf": token.group(1), "username": username,
                                         "password": password}, follow_redirects=False)
    return answer.status_code


def test_repeated_failures_lock_the_name_and_success_clears_them(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'portal.db'}"
    upgrade(url)
    engine = make_engine(url)
    try:
        accounts = Accounts(engine)
        accounts.create(username="importador", password="clave-segura-1", ruc="1790016919001")
        settings = Settings(kafka_bootstrap="127.0.0.1:1", database_url=url)
        portal = Portal(accounts, Repository(engine), ProcessorClient("http://127.0.0.1:1"),
                        PortalEvents(settings), LoginThrottle(per_user="3/15minutes",
                                                              per_address="5/15minutes"))
        with TestClient(create_app(portal, "s" * 32)) as client:
            assert [login(client, "importador", "mala") for _ in range(3)] == [401, 401, 401]
            token = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text)
            assert token is not None
            locked = client.post("/login", data={"csrf": token.group(1), "username": "Importador",
                                                 "password": "clave-segura-1"})
            assert locked.status_code == 429, "even the right password waits once the name is locked"
            assert int(locked.headers["Retry-After"]) > 0
            assert "Demasiados intentos fallidos" in locked.text and "too many failed" in locked.text

            # other names still get their answer, until the address used its 5 attempts
            assert [login(client, name, "mala") for name in ("otro", "otro2", "otro3")] == [401, 401, 429]

        fresh = Portal(accounts, Repository(engine), ProcessorClient("http://127.0.0.1:1"),
                       PortalEvents(settings), LoginThrottle(per_user="3/15minutes"))
        with TestClient(create_app(fresh, "s" * 32)) as client:
            assert [login(client, "importador", "mala") for _ in range(2)] == [401, 401]
            assert login(client, "importador", "clave-segura-1") == 303
            assert [login(client, "importador", "mala") for _ in range(2)] == [401, 401], \
                "a good login starts the count again"
    finally:
        engine.dispose()
