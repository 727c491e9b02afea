"""Rules for alert contacts and subscriptions: e-mail and phone formats, languages, channels, events.

Pure functions; each ``check_*`` returns None when the value is valid, or the rule it breaks. Used by
the repository (and so by the notifier's CLI and the portal) before anything is written.
"""

from __future__ import annotations

import re

from senae_tracking.shared.catalog import load_catalog

LANGS = ("es", "en")
CHANNELS = ("EMAIL", "SMS")
ROLES = ("ANY", "IMPORTER", "AGENT")

#: What importers care about most: channel assigned (above all aforo físico), an officer's
#: observation, payment due, release authorised, cargo out.
DEFAULT_EVENTS = ("DAI_ACEPTADA", "OBSERVACION", "PAGO", "SALIDA_AUTORIZADA", "SALIDA")

_EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$")
_E164 = re.compile(r"^\+[1-9]\d{7,14}$")


def normalize_phone(value: str) -> str:
    """Drop the spaces, dashes, dots and parentheses people type inside phone numbers."""
    return re.sub(r"[\s().-]", "", value)


def check_email(value: str) -> str | None:
    """None if ``value`` is a plain addr-spec (user@domain.tld, at most 254 characters)."""
    if len(value) > 254 or not _EMAIL.match(value):
        return "must be an e-mail address like nombre@empresa.com.ec"
    return None


def check_phone(value: str) -> str | None:
    """None if ``value`` is in E.164 form (+ country code and number, 8-15 digits)."""
    if not _E164.match(value):
        return "must be in E.164 form, e.g. +593991234567"
    return None


def check_events(codes: list[str]) -> str | None:
    """None if every code is a stage or side event of the catalog."""
    known = load_catalog().event_codes
    unknown = [c for c in codes if c not in known]
    if not codes:
        return "must name at least one stage or side event"
    if unknown:
        return f"unknown code(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
    return None


def check_channels(channels: list[str]) -> str | None:
    """None if the channels are a non-empty subset of EMAIL, SMS."""
    if not channels or any(c not in CHANNELS for c in channels):
        return "must be EMAIL, SMS or both"
    return None
