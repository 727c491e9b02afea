"""The Kafka topics of the system and their idempotent creation against any Kafka-API broker."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError

from senae_tracking.shared.kafka import admin_client
from senae_tracking.shared.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TopicSpec:
    """A topic: its name, what its key is, and its configuration."""

    name: str
    key: str
    description: str
    config: dict[str, str] = field(default_factory=dict)


STAGE_EVENTS = TopicSpec(
    "senae.stage-events.v1", "shipment_id", "customs event log (replayed by analysts)",
    {"retention.ms": "-1"},
)
STAGE_ADVANCED = TopicSpec(
    "senae.stage-advanced.v1", "shipment_id", "one record per real stage change"
)
STAGE_ANOMALIES = TopicSpec(
    "senae.stage-anomalies.v1", "shipment_id", "rejected transitions, duplicates, stale events"
)
ATTENTIONS = TopicSpec("senae.attentions.v1", "ruc", "status consultations (atenciones)",
                       {"retention.ms": "-1"})
COMPLAINTS = TopicSpec("senae.complaints.v1", "ruc", "complaints (quejas)", {"retention.ms": "-1"})
NOTIFICATIONS_DLQ = TopicSpec(
    "senae.notifications.dlq.v1", "shipment_id", "notifications that failed for good"
)

ALL_TOPICS: tuple[TopicSpec, ...] = (
    STAGE_EVENTS, STAGE_ADVANCED, STAGE_ANOMALIES, ATTENTIONS, COMPLAINTS, NOTIFICATIONS_DLQ,
)


def create_missing_topics(
    settings: Settings, specs: tuple[TopicSpec, ...] = ALL_TOPICS, *, client_id: str = "senae-admin",
) -> list[str]:
    """:func:`ensure_topics` with an admin client from ``settings``, and its partitions and
    replication factor; return the names created."""
    admin = admin_client(settings, client_id=client_id)
    try:
        return ensure_topics(admin, specs, partitions=settings.kafka_partitions,
                             replication=settings.kafka_replication)
    finally:
        admin.close()


def ensure_topics(
    admin: KafkaAdminClient, specs: tuple[TopicSpec, ...] = ALL_TOPICS, *,
    partitions: int = 12, replication: int = 1,
) -> list[str]:
    """Create the topics that do not exist yet; return the names created. Safe to call again."""
    existing = set(admin.list_topics())
    missing = [s for s in specs if s.name not in existing]
    created: list[str] = []
    for spec in missing:
        try:
            admin.create_topics(
                [NewTopic(spec.name, partitions, replication, topic_configs=dict(spec.config))]
            )
            created.append(spec.name)
        except TopicAlreadyExistsError:
            log.debug("topic %s was created concurrently", spec.name)
    return created
