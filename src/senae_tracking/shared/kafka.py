"""Kafka client factories and the one place where client timeouts and broker profiles are set.

Every producer, consumer, admin client and Faust app is built from here, so the settings that make
consumer-group joins fast, and the workarounds needed only by the embedded broker (the ``local``
profile), are decided once. Nothing connects at import time.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Literal

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.serializer import DefaultSerializer, Serializer

from senae_tracking.shared.settings import Settings

log = logging.getLogger(__name__)

Profile = Literal["local", "kafka"]

#: Cluster ids given by ``senae-tracking broker`` and Tansu's own default.
LOCAL_CLUSTER_IDS = ("senae-local", "tansu_cluster")

#: Consumer-group timeouts shared by kafka-python and aiokafka clients. Short enough for fast
#: group joins on the embedded broker (which waits about half the session timeout), still within
#: Apache Kafka's default group.min.session.timeout.ms (6 s).
SESSION_TIMEOUT_MS = 6000
HEARTBEAT_INTERVAL_MS = 1000
REBALANCE_TIMEOUT_MS = 6000

#: The same for Faust workers, in seconds (Faust's names).
FAUST_GROUP_TIMEOUTS: dict[str, float] = {
    "broker_session_timeout": 2.0,
    "broker_heartbeat_interval": 0.3,
    "broker_rebalance_timeout": 2.0,
}


def admin_client(settings: Settings, *, client_id: str = "senae-admin") -> KafkaAdminClient:
    """A kafka-python admin client."""
    return KafkaAdminClient(
        bootstrap_servers=settings.bootstrap_servers, client_id=client_id,
        request_timeout_ms=15000,
    )


def detect_profile(settings: Settings) -> Profile:
    """``local`` for the embedded broker, ``kafka`` otherwise (or as SENAE_KAFKA_PROFILE says)."""
    if settings.kafka_profile != "auto":
        return settings.kafka_profile
    admin = admin_client(settings, client_id="senae-profile")
    try:
        cluster_id = str(admin.describe_cluster().get("cluster_id") or "")
    finally:
        admin.close()
    profile: Profile = "local" if cluster_id in LOCAL_CLUSTER_IDS else "kafka"
    log.info("broker cluster %r: using the %s profile", cluster_id, profile)
    return profile


def json_bytes(value: Any) -> bytes:
    """Serialize a message to compact UTF-8 JSON."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


class JsonValueSerializer(Serializer):
    """kafka-python serializer writing compact UTF-8 JSON (bytes pass through unchanged)."""

    def serialize(self, topic: str, headers: Any, data: Any) -> bytes | None:
        if data is None or isinstance(data, bytes):
            return data
        return json_bytes(data)


def make_producer(settings: Settings, **overrides: Any) -> KafkaProducer:
    """A kafka-python producer: acks=all, idempotent, keyed by str, JSON values."""
    options: dict[str, Any] = {
        "bootstrap_servers": settings.bootstrap_servers,
        "acks": "all",
        "enable_idempotence": True,
        "compression_type": "gzip",
        "linger_ms": 5,
        "retries": 5,
        "max_in_flight_requests_per_connection": 5,
        "key_serializer": DefaultSerializer(),
        "value_serializer": JsonValueSerializer(),
        "request_timeout_ms": 10000,
        "max_block_ms": 10000,
    }
    options.update(overrides)
    return KafkaProducer(**options)


def consumer_group_options() -> dict[str, Any]:
    """Group timeouts for kafka-python and aiokafka consumers."""
    return {
        "session_timeout_ms": SESSION_TIMEOUT_MS,
        "heartbeat_interval_ms": HEARTBEAT_INTERVAL_MS,
    }


def make_consumer(
    settings: Settings, *topics: str, group_id: str | None = None, **overrides: Any
) -> KafkaConsumer:
    """A kafka-python consumer with the shared group timeouts and manual commits."""
    options: dict[str, Any] = {
        "bootstrap_servers": settings.bootstrap_servers,
        "group_id": group_id,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        **consumer_group_options(),
    }
    options.update(overrides)
    return KafkaConsumer(*topics, **options)


def aiokafka_consumer_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for ``aiokafka.AIOKafkaConsumer``."""
    return {
        "bootstrap_servers": settings.kafka_bootstrap,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "rebalance_timeout_ms": REBALANCE_TIMEOUT_MS,
        **consumer_group_options(),
    }


def aiokafka_producer_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for ``aiokafka.AIOKafkaProducer`` (not idempotent: see DESIGN.md)."""
    return {"bootstrap_servers": settings.kafka_bootstrap, "acks": "all", "linger_ms": 5}


def faust_options(settings: Settings, profile: Profile) -> dict[str, Any]:
    """Faust app settings: shared group timeouts, plus the embedded broker's workaround.

    The embedded broker answers end offsets with the base offset of the last record batch, which
    makes Faust stop reading a changelog early; one record per batch avoids it (``local`` only).
    """
    options: dict[str, Any] = {
        "broker": [f"kafka://{s}" for s in settings.bootstrap_servers],
        "processing_guarantee": "at_least_once",
        "topic_partitions": settings.kafka_partitions,
        "topic_replication_factor": settings.kafka_replication,
        **FAUST_GROUP_TIMEOUTS,
    }
    if profile == "local":
        options["producer_max_batch_size"] = 1
        options["producer_linger"] = 0.0
    return options
