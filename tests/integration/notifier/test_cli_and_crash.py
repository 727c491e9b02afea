"""The notifier's commands: ``db upgrade``, ``subscriptions add|list|remove`` and ``notifier run`` as a
real subprocess that is killed with SIGKILL mid-batch and restarted."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from senae_tracking.cli import main
from senae_tracking.embedded.broker import free_port
from senae_tracking.shared.db import make_engine
from senae_tracking.shared.kafka import make_producer
from senae_tracking.shared.repository import Repository
from senae_tracking.shared.settings import Settings
from senae_tracking.shared.topics import STAGE_ADVANCED
from tests.support.notifier import stage_advanced, unique_ruc
from tests.support.smtp import SmtpSink

pytestmark = pytest.mark.integration


def _cli(env: dict[str, str], *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)
    return result.exit_code, result.output


def test_db_upgrade_and_subscription_commands(database_url: str) -> None:
    env = {"SENAE_DATABASE_URL": database_url}
    code, out = _cli(env, "subscriptions", "list")
    assert code != 0 and "db upgrade" in out
    for _ in range(2):  # idempotent
        code, out = _cli(env, "db", "upgrade")
        assert code == 0, out
        assert "database up to date (revision" in out

    ruc = unique_ruc()
    code, out = _cli(env, "subscriptions", "add", "--ruc", ruc, "--email", "ops@importadora.ec",
                     "--phone", "+593 99 123 4567", "--lang", "en", "--name", "Importadora Andina")
    assert code == 0, out
    code, out = _cli(env, "subscriptions", "add", "--ruc", ruc, "--email", "ops@importadora.ec",
                     "--shipment", "028-2025-10-00012345")
    assert code == 0, out
    code, out = _cli(env, "subscriptions", "list", "--json")
    assert code == 0, out
    listed = [s for s in json.loads(out) if s["ruc"] == ruc]
    assert len(listed) == 2
    first, second = listed
    assert first["scope"] == "RUC" and first["channels"] == ["EMAIL", "SMS"]
    assert first["phone"] == "+593991234567" and first["lang"] == "en" and first["active"] is True
    assert first["events"] == ["DAI_ACEPTADA", "OBSERVACION", "PAGO", "SALIDA_AUTORIZADA", "SALIDA"]
    assert second["scope"] == "SHIPMENT" and second["shipment_ref"] == "028-2025-10-00012345"

    for args, field in [
        (["--ruc", "1790016918001", "--email", "a@b.ec"], "ruc"),
        (["--ruc", ruc, "--email", "not-an-email"], "email"),
        (["--ruc", ruc, "--email", "a@b.ec", "--phone", "0991234567"], "phone"),
        (["--ruc", ruc, "--email", "a@b.ec", "--events", "DAI_ACEPTADA,LLEGADA"], "events"),
    ]:
        code, out = _cli(env, "subscriptions", "add", *args)
        assert code != 0 and f"invalid value: {field}:" in out and "Traceback" not in out, out
    after = json.loads(_cli(env, "subscriptions", "list", "--json")[1])
    assert len([s for s in after if s["ruc"] == ruc]) == 2

    code, out = _cli(env, "subscriptions", "remove", str(second["id"]))
    assert code == 0, out
    code, out = _cli(env, "subscriptions", "remove", str(second["id"]))
    assert code != 0 and "no subscription" in out
    code, out = _cli(env, "subscriptions", "list", "--ruc", ruc)
    assert code == 0 and ruc in out and "028-2025-10-00012345" not in out


@pytest.fixture
def slow_sink() -> Iterator[SmtpSink]:
    with SmtpSink() as sink:
        sink.delay = 0.02
        yield sink


def _start_notifier(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "senae_tracking.cli", "notifier", "run", "--group", env["TEST_GROUP"]],
        env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True,
    )


def _kill(process: subprocess.Popen[bytes], sig: int = signal.SIGKILL) -> None:
    if process.poll() is None:
        os.killpg(process.pid, sig)
        process.wait(30)


def test_notifier_killed_mid_batch_and_restarted_sends_nothing_twice_and_skips_no_one(
    database_url: str, kafka_bootstrap: str, slow_sink: SmtpSink, tmp_path: Path,
) -> None:
    count = 150
    env = {
        **os.environ, "SENAE_KAFKA_BOOTSTRAP": kafka_bootstrap, "SENAE_KAFKA_PROFILE": "local",
        "SENAE_KAFKA_PARTITIONS": "4", "SENAE_DATABASE_URL": database_url, "SENAE_SMTP_URL": slow_sink.url,
        "SENAE_NOTIFIER_PORT": str(free_port()), "SENAE_SECRET_KEY": "crash-test",
        "SENAE_NOTIFY_RETRY_BASE_SECONDS": "0.2", "TEST_GROUP": f"crash-{os.getpid()}-{time.time_ns()}",
    }
    for name in ("SENAE_TWILIO_ACCOUNT_SID", "SENAE_TWILIO_AUTH_TOKEN", "SENAE_TWILIO_FROM"):
        env.pop(name, None)
    assert _cli({"SENAE_DATABASE_URL": database_url}, "db", "upgrade")[0] == 0
    engine = make_engine(database_url)
    repo = Repository(engine)
    rucs = [unique_ruc() for _ in range(count)]
    for i, ruc in enumerate(rucs):
        repo.add_subscription(ruc=ruc, email=f"crash{i}-{ruc}@example.ec")
    settings = Settings(kafka_bootstrap=kafka_bootstrap, kafka_profile="local", database_url=database_url)
    producer = make_producer(settings)
    events = [stage_advanced(ruc_importador=ruc) for ruc in rucs]
    for event in events:
        producer.send(STAGE_ADVANCED.name, key=event["shipment_id"], value=event)
    producer.flush(30)
    producer.close(5)
    log = tmp_path / "notifier.log"
    process = _start_notifier(env, log)
    restarted: subprocess.Popen[bytes] | None = None
    try:
        deadline = time.monotonic() + 90
        while len(slow_sink.messages) < 20 and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.01)
        assert len(slow_sink.messages) >= 20, log.read_text()
        _kill(process)  # mid-batch: some sent, some in flight, offsets partly committed
        received_before = len(slow_sink.messages)
        event_ids = {e["event_id"] for e in events}
        in_doubt = {r.id for r in repo.deliveries() if r.event_id in event_ids and r.status == "SENDING"}
        assert received_before < count, "the kill came too late to be mid-batch"

        restarted = _start_notifier(env, log)
        slow_sink.wait_for(count, timeout=120)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            rows = [r for r in repo.deliveries() if r.event_id in event_ids]
            if len(rows) == count and all(r.status == "SENT" for r in rows):
                break
            time.sleep(0.1)
        rows = [r for r in repo.deliveries() if r.event_id in event_ids]
        assert len(rows) == count and all(r.status == "SENT" for r in rows), Counter(r.status for r in rows)
        time.sleep(1.0)  # anything sent twice would arrive now
        ids = Counter(m.message_id.strip("<>").split("@")[0] for m in slow_sink.messages)
        assert set(ids) == {r.id for r in rows}  # nobody skipped
        duplicates = {i for i, n in ids.items() if n > 1}
        # Only a message whose acceptance the killed process could not record may come twice
        # (same Message-ID); everything recorded as sent is never sent again.
        assert duplicates <= in_doubt, (duplicates, in_doubt)
        assert len(slow_sink.messages) - len(set(ids)) == sum(ids[i] - 1 for i in duplicates)
    finally:
        _kill(process)
        if restarted is not None:
            _kill(restarted, signal.SIGTERM)
        engine.dispose()
    assert "Traceback" not in log.read_text()
