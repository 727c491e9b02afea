"""SMS adapter: the twilio SDK (async), or a logger when Twilio is not configured.

``SENAE_TWILIO_BASE_URL`` re-points every SDK request (``https://api.twilio.com/…``) to another host
by a small HTTP-client subclass, which is how tests and ``senae-tracking up`` use a local
Twilio-compatible server. HTTP 429 and 5xx and network errors are transient; other 4xx (e.g. 21211,
invalid 'To' number) permanent.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

import aiohttp
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from senae_tracking.services.notifier.domain import SendError, http_status_is_transient

log = logging.getLogger(__name__)


class SmsSender(Protocol):
    """Anything that sends an SMS and returns the provider's message id."""

    async def send(self, to: str, body: str) -> str:
        """Send ``body`` to ``to`` (E.164)."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...


class _RedirectingHttpClient(AsyncTwilioHttpClient):
    """Sends the SDK's requests to ``base_url`` instead of ``*.twilio.com``, path and query kept."""

    def __init__(self, base_url: str | None, timeout: float) -> None:
        super().__init__(timeout=timeout)
        self._base = urlsplit(base_url) if base_url else None

    async def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Response:
        if self._base is not None:
            parts = urlsplit(url)
            base_path = self._base.path.rstrip("/")
            url = urlunsplit((self._base.scheme, self._base.netloc, base_path + parts.path, parts.query, ""))
        return await super().request(method, url, *args, **kwargs)


class TwilioSender:
    """Sends SMS through Twilio's Messages API, asking for status callbacks at ``status_callback``."""

    def __init__(self, account_sid: str, auth_token: str, from_: str, *, status_callback: str | None,
                 base_url: str | None = None, timeout: float = 15.0) -> None:
        self._args = (account_sid, auth_token)
        self.from_ = from_
        self.status_callback = status_callback
        self.base_url = base_url
        self.timeout = timeout
        self._client: Client | None = None
        self._http: _RedirectingHttpClient | None = None

    def _sdk(self) -> Client:
        if self._client is None:  # built lazily: aiohttp sessions need a running event loop
            self._http = _RedirectingHttpClient(self.base_url, self.timeout)
            self._client = Client(*self._args, http_client=self._http)
        return self._client

    async def send(self, to: str, body: str) -> str:
        """Create the message; return its SID. Raises :class:`SendError`."""
        options: dict[str, Any] = {"to": to, "from_": self.from_, "body": body}
        if self.status_callback:
            options["status_callback"] = self.status_callback
        try:
            message = await self._sdk().messages.create_async(**options)
        except TwilioRestException as exc:
            raise SendError(f"Twilio {exc.status} {exc.code or ''} {exc.msg}".strip(),
                            transient=http_status_is_transient(exc.status)) from exc
        except (TimeoutError, aiohttp.ClientError, OSError, TwilioException) as exc:
            raise SendError(f"Twilio {type(exc).__name__}: {exc}", transient=True) from exc
        return str(message.sid)

    async def close(self) -> None:
        """Close the HTTP session."""
        if self._http is not None:
            await self._http.close()


class LoggingSmsSender:
    """Stands in for Twilio when it is not configured: the SMS is written to the log, not sent."""

    async def send(self, to: str, body: str) -> str:
        """Log the SMS; return a local id."""
        log.info("SMS no enviado (Twilio no configurado) / SMS not sent (Twilio not configured): to=%s %r",
                 to, body)
        return f"log-{uuid.uuid4().hex}"

    async def close(self) -> None:
        """Nothing to release."""
