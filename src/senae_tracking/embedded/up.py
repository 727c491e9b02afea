"""``senae-tracking up``: the whole system on one machine with nothing configured.

Starts the embedded broker and a local mail sink, migrates a SQLite database, subscribes a demo
operator, then runs the processor, the notifier, the ingest API and the live traffic simulator as
child processes sharing one environment. Ctrl-C (or SIGTERM) stops everything it started.
"""

from __future__ import annotations

import os
import secrets
import signal
import time
from pathlib import Path

import click

from senae_tracking.cli import configure_logging, settings_or_exit, stop_on_sigterm
from senae_tracking.embedded.broker import LocalBroker
from senae_tracking.embedded.mailsink import MailSink
from senae_tracking.embedded.supervisor import Supervisor
from senae_tracking.shared.accounts import Accounts
from senae_tracking.shared.db import make_engine
from senae_tracking.shared.settings import Settings
from senae_tracking.shared.topics import create_missing_topics

DEMO_RUC = "1790016919001"
DEMO_EMAIL = "demo@senae-tracking.local"
DEMO_NAME = "Importadora Demo S.A."
DEMO_USERNAME = "demo"
DEMO_PASSWORD = "demo-senae-2026"


def _child_env(settings_env: dict[str, str]) -> dict[str, str]:
    """The caller's environment (its SENAE_* settings included), with the embedded system's
    addresses and credentials on top."""
    return {**os.environ, **settings_env, "PYTHONUNBUFFERED": "1"}


@click.command()
@click.option("--broker-port", type=click.IntRange(1, 65535), default=None,
              help="Puerto del broker / broker port (default SENAE_BROKER_PORT).")
@click.option("--mail-port", type=click.IntRange(1, 65535), default=2525, show_default=True,
              help="Puerto SMTP del buzón local / local mail sink SMTP port.")
@click.option("--mail-web-port", type=click.IntRange(1, 65535), default=8025, show_default=True,
              help="Página del buzón local / local mail sink web page port.")
@click.option("--rate", type=float, default=2.0, show_default=True,
              help="Eventos simulados por segundo / simulated events per second (0: none).")
def up(broker_port: int | None, mail_port: int, mail_web_port: int, rate: float) -> None:
    """Todo el sistema local / run the whole system locally (embedded broker, SQLite, mail sink)."""
    settings = settings_or_exit()
    configure_logging(settings)
    data = Path(settings.data_dir).resolve()
    data.mkdir(parents=True, exist_ok=True)
    broker = LocalBroker(broker_port or settings.broker_port, log_path=data / "broker.log")
    sink = MailSink(data / "mail", mail_port, mail_web_port)
    api_key = os.environ.get("SENAE_INGEST_API_KEYS") or f"demo-{secrets.token_urlsafe(12)}"
    database_url = os.environ.get("SENAE_DATABASE_URL") or f"sqlite:///{data / 'senae-tracking.db'}"
    env = _child_env({
        "SENAE_KAFKA_BOOTSTRAP": f"127.0.0.1:{broker.port}",
        "SENAE_KAFKA_PROFILE": "local",
        "SENAE_DATABASE_URL": database_url,
        "SENAE_DATA_DIR": str(data),
        "SENAE_SMTP_URL": sink.smtp_url,
        "SENAE_INGEST_API_KEYS": api_key,
        "SENAE_SECRET_KEY": os.environ.get("SENAE_SECRET_KEY") or secrets.token_urlsafe(32),
        "SENAE_PROCESSOR_URL": f"http://127.0.0.1:{settings.processor_port}",
        "SENAE_NOTIFIER_PORT": str(settings.notifier_port),
        "SENAE_PUBLIC_URL": os.environ.get("SENAE_PUBLIC_URL") or f"http://127.0.0.1:{settings.portal_port}",
        "SENAE_LOG_LEVEL": settings.log_level,
    })
    supervisor = Supervisor(env, data / "logs")
    stop_on_sigterm()
    try:
        broker.start()
        sink.start()
        create_missing_topics(settings.model_copy(update={"kafka_bootstrap": broker.bootstrap}))
        supervisor.run("db", ["db", "upgrade"])
        supervisor.run("subscriptions", ["subscriptions", "add", "--ruc", DEMO_RUC,
                                         "--email", DEMO_EMAIL, "--lang", "es", "--name", DEMO_NAME])
        _demo_account(database_url)
        supervisor.start("processor", ["processor", "worker", "--web-port",
                                       str(settings.processor_port)])
        supervisor.start("notifier", ["notifier", "run"])
        supervisor.start("ingest", ["ingest", "serve", "--port", str(settings.ingest_port)])
        supervisor.start("portal", ["portal", "serve", "--port", str(settings.portal_port)])
        ingest_url = f"http://127.0.0.1:{settings.ingest_port}"
        supervisor.wait_http("ingest", f"{ingest_url}/healthz")
        supervisor.wait_http("portal", f"http://127.0.0.1:{settings.portal_port}/healthz")
        supervisor.wait_http("processor", f"http://127.0.0.1:{settings.processor_port}/stats/monthly")
        if rate > 0:
            supervisor.start("simulator", ["simulate", "--url", ingest_url,
                                           "--api-key", api_key.split(",")[0], "--rate", str(rate),
                                           "--ruc", DEMO_RUC, "--active", "8"])
        _banner(broker.bootstrap, ingest_url, settings, sink, api_key, data)
        while (child := supervisor.first_exited()) is None:
            time.sleep(0.5)
        raise click.ClickException(
            f"{child.name} terminó / exited with {child.process.returncode}; "
            f"log: {data / 'logs' / (child.name + '.log')}")
    except KeyboardInterrupt:
        click.echo("Deteniendo / stopping…")
    except (RuntimeError, TimeoutError) as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):  # a second signal must not cut the clean-up short
            signal.signal(signum, signal.SIG_IGN)
        supervisor.stop_all()
        sink.stop()
        broker.stop()


def _demo_account(database_url: str) -> None:
    """The demo operator's portal account (kept if it already exists)."""
    engine = make_engine(database_url)
    try:
        accounts = Accounts(engine)
        if accounts.get(DEMO_USERNAME) is None:
            accounts.create(username=DEMO_USERNAME, password=DEMO_PASSWORD, ruc=DEMO_RUC,
                            name=DEMO_NAME, email=DEMO_EMAIL)
    finally:
        engine.dispose()


def _banner(bootstrap: str, ingest_url: str, settings: Settings, sink: MailSink, api_key: str,
            data: Path) -> None:
    click.echo(f"""
SENAE Tracking en marcha / running (Ctrl-C para salir / to stop)
  Portal OCE / operators' portal:     http://127.0.0.1:{settings.portal_port}/  (usuario / user
                                      {DEMO_USERNAME}, contraseña / password {DEMO_PASSWORD})
  Correo recibido / received mail:    {sink.web_url}
  API de ingesta / ingest API:        {ingest_url}  (Authorization: Bearer {api_key})
  Consultas / processor views:        http://127.0.0.1:{settings.processor_port}/ruc/{DEMO_RUC}/shipments
  Broker Kafka:                       {bootstrap}
  Operador demo / demo operator:      RUC {DEMO_RUC}, {DEMO_EMAIL}
  Registros / logs:                   {data / 'logs'}
""")
