"""Signed, tamper-proof unsubscribe tokens (HMAC-SHA256 with ``SENAE_SECRET_KEY``; stdlib only)."""

from __future__ import annotations

import base64
import hashlib
import hmac

_PURPOSE = b"senae-unsubscribe-v1:"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign_unsubscribe(secret: str, subscription_id: int) -> str:
    """A URL-safe token naming ``subscription_id``, signed with ``secret``."""
    body = str(subscription_id).encode()
    mac = hmac.new(secret.encode(), _PURPOSE + body, hashlib.sha256).digest()[:18]
    return f"{_b64(body)}.{_b64(mac)}"


def verify_unsubscribe(secret: str, token: str) -> int | None:
    """The subscription id in ``token``, or None if the token is malformed or its signature is wrong."""
    try:
        body_text, mac_text = token.split(".", 1)
        body, mac = _unb64(body_text), _unb64(mac_text)
    except (ValueError, TypeError):
        return None
    expected = hmac.new(secret.encode(), _PURPOSE + body, hashlib.sha256).digest()[:18]
    if not hmac.compare_digest(mac, expected) or not body.isdigit():
        return None
    return int(body)
