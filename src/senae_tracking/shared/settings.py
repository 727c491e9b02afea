"""Typed settings, read once from ``SENAE_*`` environment variables and validated at start-up.

``load_settings()`` turns any invalid or missing value into a :class:`SettingsError` whose message
is one line naming the variable and the rule, which the CLI prints before exiting.
"""

from __future__ import annotations

import hashlib
import re
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_HOSTPORT = re.compile(r"^[A-Za-z0-9._-]+:\d{1,5}$")


class SettingsError(RuntimeError):
    """A configuration value is missing or malformed; the message names the variable."""


class Settings(BaseSettings):
    """Every setting of every service; each service reads the ones it needs."""

    model_config = SettingsConfigDict(env_prefix="SENAE_", extra="ignore", frozen=True)

    kafka_bootstrap: str = Field("127.0.0.1:9092", description="Kafka bootstrap host:port[,...]")
    kafka_profile: Literal["auto", "local", "kafka"] = Field(
        "auto", description="local: workarounds for the embedded broker; auto: detect it"
    )
    kafka_partitions: int = Field(12, ge=1, le=1000, description="Partitions of new topics")
    kafka_replication: int = Field(1, ge=1, le=10, description="Replication factor of new topics")
    database_url: str = Field("sqlite:///senae-tracking.db", description="SQLAlchemy URL")
    data_dir: str = Field(".senae-data", description="Directory for worker state")
    smtp_url: str | None = Field(None, description="smtp[s]://user:pass@host:port[?starttls=1]")
    mail_from: str = Field("SENAE Tracking <no-reply@senae-tracking.local>")
    twilio_account_sid: str | None = None
    twilio_auth_token: SecretStr | None = None
    twilio_from: str | None = None
    twilio_base_url: str | None = None
    public_url: str = Field("http://127.0.0.1:8003", description="Base URL of the portal")
    secret_key: SecretStr | None = Field(None, description="Signs tokens and sessions")
    ingest_api_keys: str = Field("", description="Comma-separated keys, plain or sha256:<hex>")
    processor_url: str = Field("http://127.0.0.1:6066", description="Processor web views")
    broker_port: int = Field(9092, ge=1, le=65535)
    ingest_port: int = Field(8001, ge=1, le=65535)
    notifier_port: int = Field(8002, ge=1, le=65535)
    portal_port: int = Field(8003, ge=1, le=65535)
    processor_port: int = Field(6066, ge=1, le=65535)
    processor_commit_interval: float = Field(
        2.8, gt=0, le=3600, description="Seconds between a processor worker's offset commits"
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    notifier_url: str | None = Field(
        None, description="Public base URL of the notifier's webhooks (default http://127.0.0.1:PORT)"
    )
    notify_horizon_seconds: int = Field(
        21600, ge=0, description="Stage changes older than this (event time) are skipped, not sent"
    )
    notify_max_attempts: int = Field(8, ge=1, le=100, description="Attempts per notification")
    notify_retry_base_seconds: float = Field(1.0, gt=0, description="First retry delay (doubles)")
    notify_retry_max_seconds: float = Field(60.0, gt=0, description="Longest delay between retries")

    @field_validator("kafka_bootstrap")
    @classmethod
    def _bootstrap(cls, value: str) -> str:
        parts = [p.strip() for p in value.split(",") if p.strip()]
        if not parts or not all(_HOSTPORT.match(p) for p in parts):
            raise ValueError("must be host:port, or several separated by commas")
        return ",".join(parts)

    @field_validator("database_url")
    @classmethod
    def _database(cls, value: str) -> str:
        if not re.match(r"^(sqlite|postgresql)(\+\w+)?://", value):
            raise ValueError("must be a SQLAlchemy URL starting with sqlite:// or postgresql://")
        return value

    @field_validator("smtp_url")
    @classmethod
    def _smtp(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^smtps?://", value):
            raise ValueError("must start with smtp:// or smtps://")
        return value

    @field_validator("public_url", "processor_url", "twilio_base_url", "notifier_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^/\s]+", value):
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/") if value else value

    @property
    def bootstrap_servers(self) -> list[str]:
        """The bootstrap servers as a list."""
        return self.kafka_bootstrap.split(",")

    @property
    def ingest_key_hashes(self) -> frozenset[str]:
        """SHA-256 hex digests of the ingest API keys (plain keys are hashed on load)."""
        hashes = set()
        for entry in (e.strip() for e in self.ingest_api_keys.split(",")):
            if entry.startswith("sha256:"):
                hashes.add(entry.removeprefix("sha256:").lower())
            elif entry:
                hashes.add(hashlib.sha256(entry.encode()).hexdigest())
        return frozenset(hashes)

    @property
    def notifier_base_url(self) -> str:
        """Where Twilio and mail clients reach the notifier's webhooks."""
        return self.notifier_url or f"http://127.0.0.1:{self.notifier_port}"

    def require(self, *names: str) -> None:
        """Raise SettingsError naming the first of ``names`` that is unset or empty."""
        for name in names:
            value = getattr(self, name)
            if value is None or value == "":
                raise SettingsError(f"SENAE_{name.upper()} is required for this command but not set")


def load_settings() -> Settings:
    """Read and validate the settings from the environment (call once, at start-up)."""
    try:
        return Settings()
    except ValidationError as exc:
        error = exc.errors()[0]
        name = "SENAE_" + str(error["loc"][0]).upper() if error["loc"] else "SENAE_*"
        message = str(error["msg"]).removeprefix("Value error, ")
        given = error.get("input")
        raise SettingsError(f"{name}: {message} (got {given!r})") from None
