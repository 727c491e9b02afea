"""The notifier's small HTTP app (FastAPI): Twilio callbacks and one-click unsubscribe.

- ``POST /twilio/status``: Twilio message status callbacks update the delivery log.
- ``POST /twilio/inbound``: an inbound SMS saying STOP or BAJA turns SMS off for that number
  (START or ALTA turns them back on).
- ``GET /unsubscribe?token=…`` shows a confirmation page; ``POST`` to the same URL (the mail
  client's RFC 8058 one-click, or the page's button) turns the subscription off.
- ``GET /health``.

Twilio requests must carry a valid ``X-Twilio-Signature`` (checked with the SDK's
RequestValidator against the public URL in ``SENAE_NOTIFIER_URL``), else 403.
"""

from __future__ import annotations

import asyncio
import html
import logging
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.datastructures import ImmutableMultiDict
from twilio.request_validator import RequestValidator

from senae_tracking.services.notifier.tokens import verify_unsubscribe
from senae_tracking.shared.repository import Repository

log = logging.getLogger(__name__)

STOP_WORDS = frozenset({"STOP", "BAJA", "STOPALL", "UNSUBSCRIBE", "CANCEL", "CANCELAR", "END", "QUIT"})
START_WORDS = frozenset({"START", "ALTA", "UNSTOP", "YES"})
_INVALID = "<p>Enlace inválido o alterado / invalid or altered link.</p>"


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    document = (f'<!DOCTYPE html><html lang="es"><head><meta charset="utf-8"><title>{title}</title></head>'
                f'<body style="font-family: Arial, sans-serif">{body}</body></html>')
    return HTMLResponse(document, status_code=status)


def _twiml(text: str | None) -> Response:
    inner = f"<Message>{html.escape(text)}</Message>" if text else ""
    return Response(f'<?xml version="1.0" encoding="UTF-8"?><Response>{inner}</Response>',
                    media_type="application/xml")


def create_app(repository: Repository, *, secret_key: str, public_base_url: str,
               twilio_auth_token: str | None) -> FastAPI:
    """The webhook app; ``public_base_url`` is the URL Twilio calls (used to check signatures)."""
    app = FastAPI(title="SENAE Tracking notifier webhooks", docs_url=None, redoc_url=None)
    validator = RequestValidator(twilio_auth_token) if twilio_auth_token else None

    async def signed_form(request: Request) -> ImmutableMultiDict[str, str] | Response:
        if validator is None:
            return JSONResponse({"error": "Twilio no configurado / Twilio is not configured"}, 503)
        body = (await request.body()).decode("utf-8", "replace")
        form: ImmutableMultiDict[str, str] = ImmutableMultiDict(parse_qsl(body, keep_blank_values=True))
        url = public_base_url + request.url.path + (f"?{request.url.query}" if request.url.query else "")
        if not validator.validate(url, form, request.headers.get("X-Twilio-Signature", "")):
            log.warning("rejected a Twilio request to %s with an invalid signature", request.url.path)
            return JSONResponse({"error": "Firma inválida / invalid signature"}, 403)
        return form

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/twilio/status")
    async def twilio_status(request: Request) -> Response:
        form = await signed_form(request)
        if isinstance(form, Response):
            return form
        sid, status = form.get("MessageSid") or form.get("SmsSid"), form.get("MessageStatus")
        if not sid or not status:
            return JSONResponse({"error": "Faltan MessageSid o MessageStatus / "
                                          "MessageSid and MessageStatus are required"}, 400)
        error = f"Twilio error {form['ErrorCode']}" if form.get("ErrorCode") else None
        row = await asyncio.to_thread(repository.record_provider_status, sid, status, error)
        if row is None:
            log.info("status callback for unknown message %s (%s)", sid, status)
        return Response(status_code=204)

    @app.post("/twilio/inbound")
    async def twilio_inbound(request: Request) -> Response:
        form = await signed_form(request)
        if isinstance(form, Response):
            return form
        sender, word = form.get("From", ""), form.get("Body", "").strip().upper()
        if not sender:
            return JSONResponse({"error": "Falta From / From is required"}, 400)
        if word in STOP_WORDS:
            changed = await asyncio.to_thread(repository.set_sms_opt_out, sender, True)
            log.info("SMS turned off for %s (%d contact(s))", sender, changed)
            return _twiml("SENAE Tracking: no recibirá más SMS. Responda ALTA para volver. / "
                          "You will get no more SMS. Reply START to resume.")
        if word in START_WORDS:
            await asyncio.to_thread(repository.set_sms_opt_out, sender, False)
            return _twiml("SENAE Tracking: SMS reactivados / SMS resumed.")
        return _twiml(None)

    @app.get("/unsubscribe")
    async def unsubscribe_page(token: str = "") -> HTMLResponse:
        if verify_unsubscribe(secret_key, token) is None:
            return _page("Enlace inválido", _INVALID, 400)
        action = html.escape(f"/unsubscribe?token={token}", quote=True)
        return _page("Dejar de recibir alertas", (
            "<p>¿Dejar de recibir estas alertas? / Stop receiving these alerts?</p>"
            f'<form method="post" action="{action}">'
            '<button type="submit">Confirmar / Confirm</button></form>'))

    @app.post("/unsubscribe")
    async def unsubscribe(token: str = "") -> HTMLResponse:
        subscription_id = verify_unsubscribe(secret_key, token)
        if subscription_id is None:
            return _page("Enlace inválido", _INVALID, 400)
        found = await asyncio.to_thread(repository.set_active, subscription_id, False)
        if not found:
            return _page("No encontrada", "<p>La suscripción ya no existe / "
                                          "the subscription no longer exists.</p>", 404)
        log.info("subscription %d turned off by its unsubscribe link", subscription_id)
        return _page("Suscripción desactivada", "<p>No recibirá más estas alertas / "
                                                "you will not receive these alerts any more.</p>")

    return app
