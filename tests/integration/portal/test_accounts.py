"""Portal accounts on both databases: Argon2 hashes, named errors, login checks."""

from pathlib import Path

import pytest
from click.testing import CliRunner

from senae_tracking import cli
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
            assert " / " in info.value.message, "Spanish first, then English"
    finally:
        engine.dispose()


def test_an_operator_resets_a_password_from_the_command_line(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'portal.db'}"
    upgrade(url)
    env = {"SENAE_DATABASE_URL": url, "SENAE_PORTAL_PASSWORD": "clave-segura-1"}
    runner = CliRunner()
    added = runner.invoke(cli.main, ["portal", "users", "add", "--username", "importador",
                                     "--ruc", "1790016919001"], env=env)
    assert added.exit_code == 0, added.output
    changed = runner.invoke(cli.main, ["portal", "users", "passwd", "--username", "importador"],
                            env={**env, "SENAE_PORTAL_PASSWORD": "clave-nueva-22"})
    assert changed.exit_code == 0, changed.output
    engine = make_engine(url)
    try:
        accounts = Accounts(engine)
        assert accounts.authenticate("importador", "clave-segura-1") is None
        assert accounts.authenticate("importador", "clave-nueva-22") is not None
    finally:
        engine.dispose()
    for args, needle in [(["--username", "nadie"], "no existe / does not exist"),
                         (["--username", "importador"], "al menos 8 caracteres")]:
        refused = runner.invoke(cli.main, ["portal", "users", "passwd", *args],
                                env={**env, "SENAE_PORTAL_PASSWORD": "corta" if "importador" in args
                                     else "clave-nueva-33"})
        assert refused.exit_code == 1 and needle in refused.output and "Traceback" not in refused.output
