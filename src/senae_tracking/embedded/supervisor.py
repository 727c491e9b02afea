"""Start the system's services as child processes, watch them, and stop them all together."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from senae_tracking.embedded.broker import die_with_parent

log = logging.getLogger(__name__)


def stop_process(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM,
                 timeout: float = 20) -> None:
    """Send ``sig`` to a child started with ``start_new_session`` (its whole process group), and
    SIGKILL the group if it is still there after ``timeout`` seconds."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@dataclass
class Child:
    """A running service: its name, command line and process."""

    name: str
    args: list[str]
    process: subprocess.Popen[bytes]


@dataclass
class Supervisor:
    """Runs ``senae-tracking`` subcommands with a shared environment; stops them in reverse order."""

    env: dict[str, str]
    log_dir: Path
    children: list[Child] = field(default_factory=list)

    def _command(self, args: list[str]) -> list[str]:
        return [sys.executable, "-m", "senae_tracking.cli", *args]

    def run(self, name: str, args: list[str], timeout: float = 120) -> None:
        """Run a subcommand to completion; raise RuntimeError with its output if it fails."""
        result = subprocess.run(self._command(args), env=self.env, capture_output=True,
                                timeout=timeout, check=False)
        if result.returncode != 0:
            output = (result.stdout + result.stderr).decode(errors="replace")
            raise RuntimeError(f"{name} failed ({result.returncode}): {output[-2000:]}")

    def start(self, name: str, args: list[str]) -> Child:
        """Start a long-running subcommand; its output goes to ``<log_dir>/<name>.log``."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        out = (self.log_dir / f"{name}.log").open("ab")
        process = subprocess.Popen(self._command(args), env=self.env, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True,
                                   preexec_fn=die_with_parent())
        child = Child(name, args, process)
        self.children.append(child)
        return child

    def wait_http(self, name: str, url: str, timeout: float = 90) -> None:
        """Wait until ``url`` answers (any status below 500) or the child dies."""
        deadline = time.monotonic() + timeout
        child = next(c for c in self.children if c.name == name)
        while time.monotonic() < deadline:
            if child.process.poll() is not None:
                raise RuntimeError(f"{name} exited with {child.process.returncode}; "
                                   f"see {self.log_dir / (name + '.log')}")
            try:
                if httpx.get(url, timeout=2).status_code < 500:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise TimeoutError(f"{name} did not answer on {url} within {timeout:.0f} s")

    def first_exited(self) -> Child | None:
        """A child that has stopped, if any."""
        return next((c for c in self.children if c.process.poll() is not None), None)

    def stop_all(self, timeout: float = 15) -> None:
        """SIGTERM every child's process group, newest first; SIGKILL what outlives ``timeout``."""
        for child in reversed(self.children):
            if child.process.poll() is None:
                os.killpg(child.process.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for child in reversed(self.children):
            try:
                child.process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop in time; killing it", child.name)
                os.killpg(child.process.pid, signal.SIGKILL)
                child.process.wait()
        self.children.clear()
