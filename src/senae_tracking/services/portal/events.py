"""Adapter: publish attentions (status consultations) and complaints to Kafka."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from kafka import KafkaProducer
from kafka.errors import KafkaError

from senae_tracking.shared import contract
from senae_tracking.shared.kafka import make_producer
from senae_tracking.shared.settings import Settings
from senae_tracking.shared.topics import ATTENTIONS, COMPLAINTS

log = logging.getLogger(__name__)


class EventsUnavailable(RuntimeError):
    """The broker did not acknowledge an event the operator is waiting for."""


class PortalEvents:
    """Publishes the portal's events; the producer is created on first use, not at import."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._producer: KafkaProducer | None = None

    def _send(self, topic: str, key: str, message: dict[str, Any]) -> None:
        if self._producer is None:
            self._producer = make_producer(self._settings)
        self._producer.send(topic, key=key, value=message).get(timeout=10)

    async def attention(self, ruc: str, query: str, shipment_id: str | None = None) -> None:
        """Record one status consultation (an "atención")."""
        payload: dict[str, Any] = {"ruc": ruc, "query": query, "channel": "WEB"}
        if shipment_id:
            payload["shipment_id"] = shipment_id
        message = contract.check(contract.ATTENTION, contract.envelope(contract.ATTENTION, payload))
        try:
            await asyncio.to_thread(self._send, ATTENTIONS.name, ruc, message)
        except KafkaError as exc:  # the consultation itself still succeeds for the operator
            log.warning("attention not recorded (RUC %s, %s): %s", ruc, query, exc)

    async def complaint(self, ruc: str, asunto: str, detalle: str, shipment_id: str | None) -> list[
            contract.Issue]:
        """File a complaint (a "queja"); returns the problems instead of publishing if invalid."""
        payload: dict[str, Any] = {"ruc": ruc, "asunto": asunto.strip(), "detalle": detalle.strip(),
                                   "channel": "WEB"}
        if shipment_id:
            payload["shipment_id"] = shipment_id.strip()
        message = contract.envelope(contract.COMPLAINT, payload)
        issues = contract.validate(contract.COMPLAINT, message)
        if not issues:
            try:
                await asyncio.to_thread(self._send, COMPLAINTS.name, ruc, message)
            except KafkaError as exc:
                raise EventsUnavailable(str(exc)) from exc
        return issues

    def close(self) -> None:
        """Flush and close the producer."""
        if self._producer is not None:
            self._producer.close(timeout=5)
            self._producer = None
