"""A local mail sink for the embedded system: an SMTP server on loopback that keeps every message
as an ``.eml`` file, and a small web page listing them so that a person can open the alerts.
"""

from __future__ import annotations

import html
import threading
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope, Session


class _SaveHandler:
    """aiosmtpd handler writing each accepted message to ``directory``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._lock = threading.Lock()
        self._count = len(list(directory.glob("*.eml")))

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        with self._lock:
            self._count += 1
            path = self.directory / f"{self._count:06d}.eml"
        content = envelope.original_content or b""
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
        return "250 Message accepted for delivery"


def _read(path: Path) -> EmailMessage:
    message = message_from_bytes(path.read_bytes(), policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


class _Pages(BaseHTTPRequestHandler):
    directory: Path

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the per-request log lines."""

    def do_GET(self) -> None:
        name = self.path.strip("/")
        if not name:
            return self._send(self._index(), "text/html; charset=utf-8")
        path = self.directory / Path(name).name
        if not path.is_file() or path.suffix != ".eml":
            return self._send("<p>No encontrado / not found</p>", "text/html; charset=utf-8", 404)
        body = _read(path).get_body(preferencelist=("html", "plain"))
        content = body.get_content() if body is not None else ""
        if body is not None and body.get_content_type() == "text/plain":
            content = f"<pre>{html.escape(content)}</pre>"
        return self._send(content, "text/html; charset=utf-8")

    def _index(self) -> str:
        rows = []
        for path in sorted(self.directory.glob("*.eml"), reverse=True)[:500]:
            message = _read(path)
            rows.append(
                f"<tr><td>{html.escape(str(message['Date'] or ''))}</td>"
                f"<td>{html.escape(str(message['To'] or ''))}</td>"
                f"<td><a href='/{path.name}'>{html.escape(str(message['Subject'] or ''))}</a></td></tr>"
            )
        return ("<!doctype html><meta charset='utf-8'><title>Correo local / local mail</title>"
                "<h1>Correo local / local mail sink</h1><table border=1 cellpadding=4>"
                "<tr><th>Fecha / date</th><th>Para / to</th><th>Asunto / subject</th></tr>"
                + "".join(rows) + "</table>")

    def _send(self, text: str, content_type: str, status: int = 200) -> None:
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class MailSink:
    """SMTP on ``smtp_port`` and a web page on ``web_port``, both on 127.0.0.1."""

    def __init__(self, directory: Path, smtp_port: int, web_port: int) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.smtp_port = smtp_port
        self.web_port = web_port
        self._controller = Controller(_SaveHandler(directory), hostname="127.0.0.1", port=smtp_port)
        pages = type("Pages", (_Pages,), {"directory": directory})
        self._web = ThreadingHTTPServer(("127.0.0.1", web_port), pages)
        self._thread = threading.Thread(target=self._web.serve_forever, daemon=True)

    @property
    def smtp_url(self) -> str:
        """``SENAE_SMTP_URL`` value for the notifier."""
        return f"smtp://127.0.0.1:{self.smtp_port}"

    @property
    def web_url(self) -> str:
        """Where a person opens the received mail."""
        return f"http://127.0.0.1:{self.web_port}/"

    def start(self) -> MailSink:
        """Start both servers."""
        self._controller.start()
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop both servers."""
        self._controller.stop()
        self._web.shutdown()
        self._web.server_close()
