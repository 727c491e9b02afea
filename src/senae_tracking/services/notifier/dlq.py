"""Dead-letter adapter: publishes ``senae.notification-dead-letter`` messages with kafka-python.

kafka-python's idempotent producer (``shared.kafka.make_producer``) works on every broker we run
on, unlike aiokafka's; its blocking ``send().get()`` runs in a worker thread. The dead letter's
event id derives from the delivery, so publishing it again after a crash is harmless downstream.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from kafka import KafkaProducer

from senae_tracking.shared import contract
from senae_tracking.shared.repository import DeliveryRow
from senae_tracking.shared.settings import Settings
from senae_tracking.shared.topics import NOTIFICATIONS_DLQ


def dead_letter_message(event: Mapping[str, Any], row: DeliveryRow, reason: str, error: str,
                        attempts: int) -> dict[str, Any]:
    """The dead letter of one delivery, valid against ``notification-dead-letter.v1``."""
    message = contract.envelope(
        contract.NOTIFICATION_DEAD_LETTER,
        {"shipment_id": row.shipment_id, "source_event_id": str(event["event_id"]), "channel": row.channel,
         "recipient": row.recipient, "reason": reason, "attempts": attempts, "error": error[:2000]},
        event_id=contract.derived_event_id(row.id, f"dead-letter:{reason}"),
    )
    return contract.check(contract.NOTIFICATION_DEAD_LETTER, message)


class KafkaDeadLetters:
    """Publishes dead letters to ``senae.notifications.dlq.v1``, keyed by shipment id."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._producer: KafkaProducer | None = None

    def _publish_blocking(self, key: str, message: dict[str, Any]) -> None:
        if self._producer is None:
            from senae_tracking.shared.kafka import make_producer

            self._producer = make_producer(self.settings, linger_ms=0)
        self._producer.send(NOTIFICATIONS_DLQ.name, key=key, value=message).get(timeout=15)

    async def publish(self, event: Mapping[str, Any], row: DeliveryRow, reason: str, error: str,
                      attempts: int) -> None:
        """Publish and wait for the broker's acknowledgement."""
        message = dead_letter_message(event, row, reason, error, attempts)
        await asyncio.to_thread(self._publish_blocking, row.shipment_id, message)

    def close(self) -> None:
        """Flush and close the producer."""
        if self._producer is not None:
            self._producer.close(timeout=10)
            self._producer = None
