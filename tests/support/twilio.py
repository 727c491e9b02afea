"""A local HTTP server speaking Twilio's Messages API, for tests (aiohttp, on 127.0.0.1).

Usage::

    with FakeTwilio() as twilio:            # account_sid / auth_token / from_number attributes
        env["SENAE_TWILIO_BASE_URL"] = twilio.base_url
        env["SENAE_TWILIO_ACCOUNT_SID"] = twilio.account_sid   # and _AUTH_TOKEN, _FROM
        ...
        sms = twilio.wait_for(2)             # list[SmsRequest] (to, from_, body, status_callback, sid)
        twilio.attempts_by_number["+593…"]   # create calls per 'To' number, failed ones included
        twilio.fail_next(500, times=2)       # next 2 creates answer HTTP 500 (code 20500)
        twilio.fail_next(429, code=20429)    # rate limited
        twilio.invalid_numbers.add("+15005550001")  # answers 400, code 21211 (invalid 'To')
        twilio.send_signed(url, {"From": "+5939…", "Body": "BAJA"})  # signed POST, returns status

After each accepted message, when it has a StatusCallback, the server posts the statuses in
``callback_statuses`` (default ``sent``, ``delivered``) there, signed with ``X-Twilio-Signature``
as Twilio does; results are in ``callbacks``.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import aiohttp
from aiohttp import web
from twilio.request_validator import RequestValidator


@dataclass(frozen=True)
class SmsRequest:
    """One accepted Messages API create call."""

    sid: str
    to: str
    from_: str
    body: str
    status_callback: str | None
    received_at: float


@dataclass(frozen=True)
class Callback:
    """A status callback the server sent and the HTTP status it got back."""

    url: str
    params: dict[str, str]
    status: int


class FakeTwilio:
    """The fake Messages API (see the module docstring)."""

    def __init__(self, account_sid: str = "AC" + "0" * 32, auth_token: str = "test-auth-token",
                 from_number: str = "+15005550006", host: str = "127.0.0.1") -> None:
        self.account_sid, self.auth_token = account_sid, auth_token
        self.from_number, self.host = from_number, host
        self.port = 0
        self.requests: list[SmsRequest] = []
        self.attempts = 0
        self.attempts_by_number: dict[str, int] = {}
        self.callbacks: list[Callback] = []
        self.invalid_numbers: set[str] = set()
        self.callback_statuses: tuple[str, ...] = ("sent", "delivered")
        self._failures: list[tuple[int, int]] = []
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None

    @property
    def base_url(self) -> str:
        """Value for SENAE_TWILIO_BASE_URL."""
        return f"http://{self.host}:{self.port}"

    def env(self) -> dict[str, str]:
        """The SENAE_TWILIO_* variables that point the notifier here."""
        return {"SENAE_TWILIO_BASE_URL": self.base_url, "SENAE_TWILIO_ACCOUNT_SID": self.account_sid,
                "SENAE_TWILIO_AUTH_TOKEN": self.auth_token, "SENAE_TWILIO_FROM": self.from_number}

    def sign(self, url: str, params: dict[str, str]) -> str:
        """X-Twilio-Signature of a POST of ``params`` to ``url``."""
        return str(RequestValidator(self.auth_token).compute_signature(url, params))

    def fail_next(self, status: int, code: int | None = None, times: int = 1) -> None:
        """Answer the next ``times`` creates with HTTP ``status`` and Twilio error ``code``."""
        with self._lock:
            self._failures.extend([(status, code or (20429 if status == 429 else 20500))] * times)

    # -- server ------------------------------------------------------------------------------

    async def _create(self, request: web.Request) -> web.Response:
        auth = aiohttp.BasicAuth.decode(request.headers.get("Authorization", ""))
        if auth.login != self.account_sid or auth.password != self.auth_token \
                or request.match_info["sid"] != self.account_sid:
            return self._error(401, 20003, "Authenticate")
        form = dict(parse_qsl(await request.text(), keep_blank_values=True))
        with self._lock:
            self.attempts += 1
            number = form.get("To", "")
            self.attempts_by_number[number] = self.attempts_by_number.get(number, 0) + 1
            failure = self._failures.pop(0) if self._failures else None
        if failure is not None:
            return self._error(failure[0], failure[1], "Simulated failure")
        to = form.get("To", "")
        if not to or to in self.invalid_numbers:
            return self._error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        if not form.get("Body"):
            return self._error(400, 21602, "Message body is required.")
        sid = "SM" + uuid.uuid4().hex
        sms = SmsRequest(sid, to, form.get("From", ""), form["Body"], form.get("StatusCallback"), time.time())
        with self._lock:
            self.requests.append(sms)
        if sms.status_callback:
            asyncio.get_running_loop().create_task(self._callbacks(sms))
        return web.json_response(self._resource(sms, "queued"), status=201)

    def _resource(self, sms: SmsRequest, status: str) -> dict[str, Any]:
        return {"sid": sms.sid, "account_sid": self.account_sid, "to": sms.to, "from": sms.from_,
                "body": sms.body, "status": status, "num_segments": "1", "direction": "outbound-api",
                "api_version": "2010-04-01", "price": None, "error_code": None, "error_message": None,
                "date_created": "Thu, 01 Jan 2026 00:00:00 +0000",
                "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sms.sid}.json"}

    @staticmethod
    def _error(status: int, code: int, message: str) -> web.Response:
        return web.json_response({"code": code, "message": message, "status": status,
                                  "more_info": f"https://www.twilio.com/docs/errors/{code}"}, status=status)

    async def _callbacks(self, sms: SmsRequest) -> None:
        assert sms.status_callback is not None
        for status in self.callback_statuses:
            await asyncio.sleep(0.05)
            params = {"MessageSid": sms.sid, "SmsSid": sms.sid, "AccountSid": self.account_sid,
                      "From": sms.from_, "To": sms.to, "MessageStatus": status, "SmsStatus": status,
                      "ApiVersion": "2010-04-01"}
            if status in ("failed", "undelivered"):
                params["ErrorCode"] = "30003"
            code = await self._post(sms.status_callback, params)
            with self._lock:
                self.callbacks.append(Callback(sms.status_callback, params, code))

    async def _post(self, url: str, params: dict[str, str], signature: str | None = None) -> int:
        assert self._session is not None
        headers = {"X-Twilio-Signature": signature if signature is not None else self.sign(url, params)}
        try:
            async with self._session.post(url, data=params, headers=headers) as response:
                await response.read()
                return response.status
        except aiohttp.ClientError:
            return 0

    def send_signed(self, url: str, params: dict[str, str], signature: str | None = None) -> int:
        """POST ``params`` to ``url`` signed like Twilio (or with ``signature``); the HTTP status."""
        assert self._loop is not None
        future = asyncio.run_coroutine_threadsafe(self._post(url, params, signature), self._loop)
        return future.result(30)

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> FakeTwilio:
        """Start serving on a free port in a background thread."""
        ready = threading.Event()
        self._loop = asyncio.new_event_loop()

        async def boot() -> None:
            app = web.Application()
            app.router.add_post("/2010-04-01/Accounts/{sid}/Messages.json", self._create)
            self._runner = web.AppRunner(app, access_log=None)
            await self._runner.setup()
            site = web.TCPSite(self._runner, self.host, 0)
            await site.start()
            self.port = int(self._runner.addresses[0][1])
            self._session = aiohttp.ClientSession()

        def main() -> None:
            assert self._loop is not None
            asyncio.set_event_loop(self._loop)
            self._loop.run_until_complete(boot())
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=main, name="fake-twilio", daemon=True)
        self._thread.start()
        if not ready.wait(15):
            raise RuntimeError("fake Twilio server did not start")
        return self

    def stop(self) -> None:
        """Stop the server and its thread."""
        loop, self._loop = self._loop, None
        if loop is None:
            return

        async def shutdown() -> None:
            if self._session is not None:
                await self._session.close()
            if self._runner is not None:
                await self._runner.cleanup()

        asyncio.run_coroutine_threadsafe(shutdown(), loop).result(15)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(15)
        loop.close()

    def wait_for(self, count: int, timeout: float = 60.0) -> list[SmsRequest]:
        """Wait until ``count`` messages were accepted; return them all (AssertionError on timeout)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.requests) >= count:
                    return list(self.requests)
            time.sleep(0.05)
        raise AssertionError(f"expected {count} SMS, got {len(self.requests)} in {timeout} s")

    def __enter__(self) -> FakeTwilio:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
