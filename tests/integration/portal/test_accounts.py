"""Portal accounts on both databases: Argon2 hashes, named errors, login checks."""

import pytest

from senae_tracking.shared.accounts import AccountError, Accounts
from senae_tracking.shared.db import make_engine
from senae_tracking.shared.migrations import upgrade


def test_accounts(database_url: str) -> None:
    upgrade(database_url)
    engine = make_engine(database_url)
    try:
        accounts = Accounts(engine)
        created = accounts.create(username="agente.aduana", password="clave-segura-1",
                                  ruc="0992367857001", name="Agente <Aduanas> & Cía")
        assert accounts.get("agente.aduana") == created
        assert accounts.authenticate("agente.aduana", "clave-segura-1") == created
        assert accounts.authenticate("agente.aduana", "otra-clave") is None
        assert accounts.authenticate("nadie", "clave-segura-1") is None
        for kwargs, field in [
            ({"username": "agente.aduana"}, "username"),
            ({"username": "x"}, "username"),
            ({"password": "corta"}, "password"),
            ({"ruc": "1790016918001"}, "ruc"),
        ]:
            values = {"username": "nuevo", "password": "clave-segura-2", "ruc": "1790016919001", **kwargs}
            with pytest.raises(AccountError) as info:
                accounts.create(**values)
            assert info.value.field == field
    finally:
        engine.dispose()
