"""Jinja2 rendering of alerts: per event kind and language, a subject, text and HTML bodies and an SMS.

Templates live in ``templates/<lang>/`` (Spanish default). HTML templates autoescape; values are
passed as data, never compiled, so text a user typed (company names, observations) can neither
inject markup nor template code. Labels come from the stage catalog.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from senae_tracking.services.notifier.domain import clean_header_text, fit_sms
from senae_tracking.shared.catalog import load_catalog
from senae_tracking.shared.contract import parse_time

LANGS = ("es", "en")
ECUADOR = ZoneInfo("America/Guayaquil")


@dataclass(frozen=True)
class Rendered:
    """The texts of one alert."""

    subject: str
    text: str
    html: str
    sms: str


@cache
def environment() -> Environment:
    """The template environment (built once)."""
    return Environment(
        loader=PackageLoader("senae_tracking.services.notifier", "templates"),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=True, default=False),
        undefined=StrictUndefined, auto_reload=False,
    )


def shipment_label(event: Mapping[str, Any]) -> str:
    """How people know the shipment: its DAI, else its transport document, else its id."""
    if event.get("dai"):
        return f"DAI {event['dai']}"
    document = event.get("documento_transporte")
    if isinstance(document, Mapping) and document.get("numero"):
        return f"{document.get('tipo', '')} {document['numero']}".strip()
    return str(event["shipment_id"])


def portal_link(public_url: str, event: Mapping[str, Any]) -> str:
    """Link to the shipment's page in the portal."""
    return f"{public_url}/shipments/{quote(str(event['shipment_id']), safe='')}"


def render(
    event: Mapping[str, Any], *, lang: str, name: str, ruc: str, public_url: str, unsubscribe_link: str,
) -> Rendered:
    """Render the alert for a ``senae.stage-advanced`` message ``event`` to a recipient."""
    lang = lang if lang in LANGS else "es"
    catalog = load_catalog()
    code = str(event["stage"])
    canal = event.get("canal")
    previous = event.get("previous_stage")
    when = parse_time(str(event["occurred_at"])).astimezone(ECUADOR)
    context = {
        "code": code,
        "ref": shipment_label(event),
        "stage_label": catalog.label(code, lang),
        "previous_label": catalog.label(previous, lang) if previous else "",
        "canal": canal or "",
        "canal_label": catalog.label(canal, lang) if canal else "",
        "when": _format_time(when, lang),
        "observacion": str(event.get("observacion") or ""),
        "name": clean_header_text(name),
        "ruc": ruc,
        "portal_link": portal_link(public_url, event),
        "unsubscribe_link": unsubscribe_link,
    }
    env = environment()
    subject = clean_header_text(env.get_template(f"{lang}/subject.txt").render(context), 250)
    text = env.get_template(f"{lang}/body.txt").render(context).strip() + "\n"
    html = env.get_template(f"{lang}/body.html").render(context)
    sms_head = " ".join(env.get_template(f"{lang}/sms.txt").render(context).split())
    sms = fit_sms(sms_head + " ", context["portal_link"])
    return Rendered(subject=subject, text=text, html=html, sms=sms)


def _format_time(when: datetime, lang: str) -> str:
    if lang == "en":
        return when.strftime("%Y-%m-%d %H:%M (Ecuador)")
    return when.strftime("%d/%m/%Y %H:%M (hora de Ecuador)")
