"""The whole system, started once for the e2e tests by ``senae-tracking up`` on free ports."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from senae_tracking.embedded.broker import free_port
from senae_tracking.embedded.supervisor import stop_process


def wait_for(what: str, check: Callable[[], Any], timeout: float = 120) -> Any:
    """Poll ``check`` until it returns something truthy; fail naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                return result
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


@dataclass(frozen=True)
class System:
    """Where the running system answers."""

    ingest: str
    processor: str
    portal: str
    notifier: str
    mail_dir: Path
    api_key: str
    log: Path


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    tmp = tmp_path_factory.mktemp("up")
    ports = {name: free_port() for name in
             ("broker", "ingest", "processor", "notifier", "portal", "mail", "web")}
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("SENAE_")},
           "SENAE_DATA_DIR": str(tmp / "data"), "SENAE_INGEST_API_KEYS": "e2e-key",
           "SENAE_INGEST_PORT": str(ports["ingest"]), "SENAE_PROCESSOR_PORT": str(ports["processor"]),
           "SENAE_NOTIFIER_PORT": str(ports["notifier"]), "SENAE_PORTAL_PORT": str(ports["portal"]),
           "SENAE_PUBLIC_URL": f"http://127.0.0.1:{ports['portal']}", "SENAE_KAFKA_PARTITIONS": "4"}
    log_path = tmp / "up.log"
    log = log_path.open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "senae_tracking.cli", "up", "--broker-port", str(ports["broker"]),
         "--mail-port", str(ports["mail"]), "--mail-web-port", str(ports["web"]), "--rate", "0"],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for("the system to start", lambda: proc.poll() is not None or "Ctrl-C" in log_path.read_text(),
                 180)
        assert proc.poll() is None, log_path.read_text()[-4000:]
        yield System(f"http://127.0.0.1:{ports['ingest']}", f"http://127.0.0.1:{ports['processor']}",
                     f"http://127.0.0.1:{ports['portal']}", f"http://127.0.0.1:{ports['notifier']}",
                     tmp / "data" / "mail", "e2e-key", log_path)
    finally:
        stop_process(proc, timeout=60)
        log.close()
    assert proc.returncode == 0, log_path.read_text()[-4000:]
