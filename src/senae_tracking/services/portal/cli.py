"""``senae-tracking portal …``: serve the OCE portal and manage its user accounts."""

from __future__ import annotations

import click

from senae_tracking.cli import configure_logging, settings_or_exit


@click.group()
def portal() -> None:
    """Portal de operadores (OCE) / operators' web portal."""


@portal.command()
@click.option("--port", type=click.IntRange(1, 65535), default=None,
              help="Puerto / port (default SENAE_PORTAL_PORT, 8003).")
@click.option("--host", default="127.0.0.1", show_default=True)
def serve(port: int | None, host: str) -> None:
    """Sirve el portal / serve the portal."""
    import uvicorn

    from senae_tracking.services.portal.app import Portal, create_app
    from senae_tracking.services.portal.events import PortalEvents
    from senae_tracking.services.portal.processor_client import ProcessorClient
    from senae_tracking.shared.accounts import Accounts
    from senae_tracking.shared.db import make_engine
    from senae_tracking.shared.repository import Repository
    from senae_tracking.shared.settings import SettingsError

    settings = settings_or_exit()
    try:
        settings.require("secret_key")
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from exc
    configure_logging(settings)
    engine = make_engine(settings.database_url)
    wiring = Portal(Accounts(engine), Repository(engine), ProcessorClient(settings.processor_url),
                    PortalEvents(settings))
    assert settings.secret_key is not None
    app = create_app(wiring, settings.secret_key.get_secret_value(),
                     https_only=settings.public_url.startswith("https://"))
    uvicorn.run(app, host=host, port=port or settings.portal_port, log_level="warning")


@portal.group()
def users() -> None:
    """Cuentas del portal / portal accounts."""


@users.command("add")
@click.option("--username", required=True, help="Usuario Ecuapass / Ecuapass user.")
@click.option("--ruc", required=True)
@click.option("--name", default="", help="Razón social / company name.")
@click.option("--email", default=None, help="Correo para alertas / e-mail for alerts.")
@click.option("--lang", type=click.Choice(["es", "en"]), default="es", show_default=True)
@click.password_option(envvar="SENAE_PORTAL_PASSWORD",
                       help="Contraseña (o SENAE_PORTAL_PASSWORD) / password.")
def add_user(username: str, ruc: str, name: str, email: str | None, lang: str, password: str) -> None:
    """Crea una cuenta / create an account."""
    from senae_tracking.shared.accounts import AccountError, Accounts
    from senae_tracking.shared.db import make_engine

    settings = settings_or_exit()
    try:
        account = Accounts(make_engine(settings.database_url)).create(
            username=username, password=password, ruc=ruc, name=name, email=email, lang=lang)
    except AccountError as exc:
        raise click.ClickException(f"dato inválido / invalid value — {exc}") from exc
    click.echo(f"Cuenta creada / account created: {account.username} (RUC {account.ruc})")


@users.command("passwd")
@click.option("--username", required=True, help="Usuario Ecuapass / Ecuapass user.")
@click.password_option(envvar="SENAE_PORTAL_PASSWORD",
                       help="Contraseña nueva (o SENAE_PORTAL_PASSWORD) / new password.")
def set_password(username: str, password: str) -> None:
    """Cambia la contraseña de una cuenta / reset an account's password."""
    from senae_tracking.shared.accounts import AccountError, Accounts
    from senae_tracking.shared.db import make_engine

    settings = settings_or_exit()
    engine = make_engine(settings.database_url)
    try:
        account = Accounts(engine).set_password(username, password)
    except AccountError as exc:
        raise click.ClickException(f"dato inválido / invalid value — {exc}") from exc
    finally:
        engine.dispose()
    click.echo(f"Contraseña cambiada / password changed: {account.username}")
