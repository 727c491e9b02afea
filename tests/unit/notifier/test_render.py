"""Rendering and message building: both languages, escaping, SMS length, headers."""

from __future__ import annotations

from email import message_from_bytes
from email.policy import default

import pytest

from senae_tracking.services.notifier.domain import sms_segments
from senae_tracking.services.notifier.mail import build_message, parse_smtp_url
from senae_tracking.services.notifier.render import Rendered, render
from senae_tracking.shared.contract import envelope

EVENT = envelope("stage-advanced", {
    "shipment_id": "CEC2025MSCU0012345", "source_event_id": "b7e3f0a1-3c2d-4e5f-8a9b-1c2d3e4f5a6b",
    "kind": "STAGE", "previous_stage": "DAI_TRANSMITIDA", "stage": "DAI_ACEPTADA", "canal": "FISICO",
    "ruc_importador": "1790016919001", "dai": "028-2025-10-00012345",
}, event_id="0b6f1f0e-9d8c-5b7a-8e6f-5d4c3b2a1f0e", occurred_at="2025-03-15T09:30:00Z")

CODES = ["MANIFIESTO", "ARRIBO", "INGRESO_DEPOSITO", "DAI_TRANSMITIDA", "DAI_ACEPTADA", "AFORO", "PAGO",
         "SALIDA_AUTORIZADA", "SALIDA", "ABANDONO", "ANULACION", "OBSERVACION", "CORRECCION"]


def _render(event: dict, lang: str = "es", name: str = "Importadora Ñandú") -> Rendered:
    return render(event, lang=lang, name=name, ruc="1790016919001", public_url="https://portal.senae.example",
                  unsubscribe_link="https://n.example/unsubscribe?token=t")


@pytest.mark.parametrize("lang", ["es", "en"])
@pytest.mark.parametrize("code", CODES)
@pytest.mark.parametrize("canal", [None, "FISICO", "AUTOMATICO"])
def test_every_kind_renders_in_both_languages_and_sms_fits(lang: str, code: str, canal: str | None) -> None:
    document = {"tipo": "BL", "numero": "MSCU" + "9" * 30}
    event = {**EVENT, "stage": code, "canal": canal, "documento_transporte": document}
    if canal is None:
        del event["canal"]
    del event["dai"]  # the longest reference: a transport document
    rendered = _render(event, lang)
    assert rendered.subject and "\n" not in rendered.subject
    assert sms_segments(rendered.sms) <= 2
    assert rendered.sms.endswith("https://portal.senae.example/shipments/CEC2025MSCU0012345")


def test_spanish_is_default_and_physical_inspection_stands_out() -> None:
    es, en, unknown = _render(EVENT, "es"), _render(EVENT, "en"), _render(EVENT, "fr")
    assert "AFORO FÍSICO" in es.subject and "PHYSICAL INSPECTION" in en.subject
    assert unknown == es
    assert "15/03/2025 04:30" in es.text  # Ecuador time (UTC-5)


def test_user_text_is_inert() -> None:
    hostile = "<script>x()</script> {{ 7*7 }} {% if 1 %}y{% endif %}"
    event = {**EVENT, "stage": "OBSERVACION", "observacion": hostile}
    rendered = _render(event, name="<b>Evil</b> {{ config }}")
    assert "<script>" not in rendered.html and "&lt;script&gt;" in rendered.html
    assert "&lt;b&gt;Evil&lt;/b&gt; {{ config }}" in rendered.html
    assert "{{ 7*7 }}" in rendered.text and "{% if 1 %}y{% endif %}" in rendered.text


def test_message_headers_and_parts() -> None:
    rendered = _render(EVENT)
    message = build_message(rendered, mail_from="SENAE Tracking <no-reply@senae.example>",
                            to_address="ops@acme.ec", to_name="ACME \r\nBcc: x@evil.ec", message_id="abc",
                            unsubscribe_url="https://n.example/u?token=t", lang="es")
    parsed = message_from_bytes(bytes(message), policy=default)
    assert parsed["Message-ID"] == "<abc@senae.example>"
    assert parsed["Bcc"] is None and "ACME Bcc: x@evil.ec" in str(parsed["To"])
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert parsed.get_content_type() == "multipart/alternative"
    assert "AFORO FÍSICO" in str(parsed["Subject"])


def test_smtp_urls() -> None:
    cfg = parse_smtp_url("smtp://user%40x:p%3Ass@mail.example:2525?starttls=1")
    assert (cfg.host, cfg.port, cfg.username, cfg.password, cfg.start_tls, cfg.use_tls) == (
        "mail.example", 2525, "user@x", "p:ss", True, False)
    assert parse_smtp_url("smtps://mail.example").port == 465 and parse_smtp_url("smtps://m.example").use_tls
    assert parse_smtp_url("smtp://127.0.0.1").port == 25
    for bad in ("http://x", "smtps://h?starttls=1", "smtp://"):
        with pytest.raises(ValueError):
            parse_smtp_url(bad)
