"""A stage event posted to the ingest API changes the shipment's state in the processor and reaches
the demo operator's mailbox in the local mail sink; a repeated event changes and sends nothing."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import httpx

from senae_tracking.embedded.up import DEMO_EMAIL, DEMO_RUC
from tests.e2e.conftest import System, wait_for


def stage_event(shipment: str, stage: str, **fields: Any) -> dict[str, Any]:
    """A valid stage event happening now."""
    return {"schema": {"name": "senae.stage-event", "version": 1}, "event_id": str(uuid.uuid4()),
            "occurred_at": datetime.now(UTC).isoformat(), "shipment_id": shipment, "stage": stage,
            **fields}


def flow(shipment: str, dai: str) -> list[dict[str, Any]]:
    """A shipment of the demo importer up to a physical-inspection channel."""
    return [
        stage_event(shipment, "MANIFIESTO", ruc_importador=DEMO_RUC, distrito="028",
                    documento_transporte={"tipo": "BL", "numero": "MEDU7654321"}),
        stage_event(shipment, "ARRIBO"), stage_event(shipment, "INGRESO_DEPOSITO"),
        stage_event(shipment, "DAI_TRANSMITIDA", dai=dai),
        stage_event(shipment, "DAI_ACEPTADA", canal="FISICO"),
    ]


def mails_about(system: System, needle: str) -> list[EmailMessage]:
    """Messages in the sink whose plain-text body mentions ``needle``."""
    found = []
    for path in sorted(system.mail_dir.glob("*.eml")):
        message = message_from_bytes(path.read_bytes(), policy=policy.default)
        assert isinstance(message, EmailMessage)
        body = message.get_body(("plain",))
        if body is not None and needle in str(body.get_content()):
            found.append(message)
    return found


def test_every_service_listens_where_it_was_told(system: System) -> None:
    for url in (f"{system.ingest}/healthz", f"{system.processor}/health", f"{system.portal}/healthz",
                f"{system.notifier}/health"):
        assert httpx.get(url, timeout=10).status_code == 200, url


def test_stage_change_reaches_state_and_mailbox_once(system: System) -> None:
    shipment = f"E2E{uuid.uuid4().hex[:10].upper()}"
    dai = "028-2026-10-00000042"
    events = flow(shipment, dai)
    headers = {"Authorization": f"Bearer {system.api_key}"}
    response = httpx.post(f"{system.ingest}/v1/stage-events", json=events, headers=headers, timeout=30)
    assert response.status_code == 202, response.text

    def state() -> dict[str, Any] | None:
        r = httpx.get(f"{system.processor}/shipments/{shipment}", timeout=5)
        body: dict[str, Any] = r.json() if r.status_code == 200 else {}
        return body if body.get("stage") == "DAI_ACEPTADA" else None

    body = wait_for("the processor to apply the events", state)
    assert [t["stage"] for t in body["timeline"]] == [e["stage"] for e in events]

    mails = wait_for("the physical-inspection alert", lambda: mails_about(system, dai))
    assert all(m["To"].addresses[0].addr_spec == DEMO_EMAIL for m in mails)

    again = httpx.post(f"{system.ingest}/v1/stage-events", json=events[-1], headers=headers, timeout=30)
    assert again.status_code == 202, again.text
    after = stage_event(shipment, "AFORO")
    assert httpx.post(f"{system.ingest}/v1/stage-events", json=after, headers=headers,
                      timeout=30).status_code == 202
    wait_for("AFORO to be applied", lambda: httpx.get(
        f"{system.processor}/shipments/{shipment}", timeout=5).json().get("stage") == "AFORO")
    state_after = httpx.get(f"{system.processor}/shipments/{shipment}", timeout=5).json()
    assert [t["stage"] for t in state_after["timeline"]].count("DAI_ACEPTADA") == 1
    assert len(mails_about(system, dai)) == len(mails), "the repeated event sent nothing"
