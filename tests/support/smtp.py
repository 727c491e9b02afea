"""An aiosmtpd SMTP server on loopback that records what it accepts and can be told to fail.

Usage::

    with SmtpSink() as sink:                 # listens on 127.0.0.1:<free port>
        env["SENAE_SMTP_URL"] = sink.url     # smtp://127.0.0.1:PORT
        ...
        mails = sink.wait_for(3, timeout=30) # list[ReceivedMail], parsed with email.policy.default
        sink.fail(451, times=2)              # next 2 messages answered "451 …" (transient)
        sink.fail(554)                       # every message answered 554 until sink.clear_failures()
        sink.fail_recipient("x@y.ec", 550)   # RCPT TO refused for one address
        sink.down(); sink.up()               # stop listening (connection refused), then listen again
        sink.delay = 0.02                    # answer each DATA after 20 ms (a slower server)
"""

from __future__ import annotations

import asyncio
import email
import re
import socket
import threading
import time
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import default
from functools import cached_property
from typing import Any

from aiosmtpd.controller import Controller


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


_MESSAGE_ID = re.compile(rb"^Message-ID:\s*(<[^>\r\n]*>)", re.IGNORECASE | re.MULTILINE)


@dataclass(frozen=True)
class ReceivedMail:
    """One accepted message: envelope, raw bytes, when it was accepted; ``message`` parses it."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes
    received_at: float  # time.time() when the server answered 250 to DATA

    @cached_property
    def message(self) -> EmailMessage:
        """The message parsed with ``email.policy.default`` (on first use)."""
        parsed = email.message_from_bytes(self.data, policy=default)
        assert isinstance(parsed, EmailMessage)
        return parsed

    @property
    def message_id(self) -> str:
        """The Message-ID header, e.g. ``<id@domain>`` (read without parsing the whole message)."""
        head = self.data.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
        found = _MESSAGE_ID.search(head)
        return found.group(1).decode() if found else ""


class _Handler:
    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          rcpt_options: list[str]) -> str:
        code = self.sink._recipient_failures.get(address.lower())
        if code is not None:
            return f"{code} {'4.2.0' if code < 500 else '5.1.1'} recipient refused (test)"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.sink.delay:
            await asyncio.sleep(self.sink.delay)
        with self.sink._lock:
            failure = self.sink._failure
            if failure is not None:
                code, remaining = failure
                if remaining is not None:
                    self.sink._failure = (code, remaining - 1) if remaining > 1 else None
                self.sink.rejected += 1
                return f"{code} {'4.3.0' if code < 500 else '5.7.1'} rejected by test sink"
            raw = bytes(envelope.content if isinstance(envelope.content, bytes)
                        else str(envelope.content).encode())
            self.sink.messages.append(ReceivedMail(
                mail_from=str(envelope.mail_from), rcpt_tos=tuple(envelope.rcpt_tos), data=raw,
                received_at=time.time(),
            ))
            self.sink._arrived.notify_all()
        return "250 OK queued"


class SmtpSink:
    """A recording SMTP server on 127.0.0.1 (see the module docstring)."""

    def __init__(self, port: int | None = None, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = port or _free_port()
        self.messages: list[ReceivedMail] = []
        self.rejected = 0
        self.delay = 0.0
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._failure: tuple[int, int | None] | None = None
        self._recipient_failures: dict[str, int] = {}
        self._controller: Controller | None = None

    @property
    def url(self) -> str:
        """Value for SENAE_SMTP_URL."""
        return f"smtp://{self.host}:{self.port}"

    def start(self) -> SmtpSink:
        """Start listening."""
        self.up()
        return self

    def up(self) -> None:
        """Listen (again) on the same port."""
        if self._controller is not None:
            return
        controller = Controller(_Handler(self), hostname=self.host, port=self.port,
                                decode_data=False, data_size_limit=10_000_000)
        deadline = time.monotonic() + 10
        while True:
            try:
                controller.start()
                break
            except (OSError, RuntimeError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        self._controller = controller

    def down(self) -> None:
        """Stop listening: clients get connection refused until :meth:`up`."""
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()

    stop = down

    def fail(self, code: int = 451, times: int | None = None) -> None:
        """Answer the next ``times`` messages (None: all, until cleared) with SMTP ``code``."""
        with self._lock:
            self._failure = (code, times)

    def fail_recipient(self, address: str, code: int = 550) -> None:
        """Refuse RCPT TO ``address`` with ``code``."""
        self._recipient_failures[address.lower()] = code

    def clear_failures(self) -> None:
        """Accept everything again."""
        with self._lock:
            self._failure = None
        self._recipient_failures.clear()

    def wait_for(self, count: int, timeout: float = 60.0) -> list[ReceivedMail]:
        """Wait until at least ``count`` messages arrived; return them all (AssertionError on timeout)."""
        deadline = time.monotonic() + timeout
        with self._arrived:
            while len(self.messages) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"expected {count} e-mails, got {len(self.messages)} in {timeout} s")
                self._arrived.wait(left)
            return list(self.messages)

    def to(self, address: str) -> list[ReceivedMail]:
        """Messages accepted for ``address``."""
        with self._lock:
            return [m for m in self.messages if address.lower() in (r.lower() for r in m.rcpt_tos)]

    def __enter__(self) -> SmtpSink:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.down()
