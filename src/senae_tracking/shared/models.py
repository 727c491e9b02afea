"""SQL tables of operators, their contacts and alert subscriptions, the notification delivery log,
and the portal's user accounts.

Only :mod:`senae_tracking.shared.repository` reads and writes the first four, and
:mod:`senae_tracking.shared.accounts` the accounts; the schema is created and
changed by the Alembic migrations in ``shared/migrations`` (``senae-tracking db upgrade``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base with stable constraint names (so migrations name them the same everywhere)."""

    metadata = MetaData(naming_convention=NAMING)


class Operator(Base):
    """A foreign-trade operator (OCE): importer or customs agent, identified by RUC."""

    __tablename__ = "operators"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ruc: Mapped[str] = mapped_column(String(13), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    lang: Mapped[str] = mapped_column(String(2), default="es")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    contacts: Mapped[list[Contact]] = relationship(back_populates="operator", cascade="all, delete-orphan")


class Contact(Base):
    """Where an operator receives alerts: an e-mail address and optionally a phone (E.164)."""

    __tablename__ = "contacts"
    __table_args__ = (UniqueConstraint("operator_id", "email", name="uq_contacts_operator_email"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    operator_id: Mapped[int] = mapped_column(ForeignKey("operators.id", ondelete="CASCADE"), index=True)
    email: Mapped[str] = mapped_column(String(320))
    phone: Mapped[str | None] = mapped_column(String(16), index=True)
    sms_opt_out: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    operator: Mapped[Operator] = relationship(back_populates="contacts")
    subscriptions: Mapped[list[Subscription]] = relationship(
        back_populates="contact", cascade="all, delete-orphan"
    )


class Subscription(Base):
    """Which changes a contact wants, on which channels: one shipment, or every shipment of the RUC."""

    __tablename__ = "subscriptions"
    __table_args__ = (
        Index("ix_subscriptions_scope", "scope", "active"),
        Index("ix_subscriptions_shipment_ref", "shipment_ref"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"), index=True)
    #: RUC (every shipment where the operator's RUC appears in ``role``) or SHIPMENT (one shipment).
    scope: Mapped[str] = mapped_column(String(10))
    #: For RUC scope: IMPORTER, AGENT or ANY.
    role: Mapped[str] = mapped_column(String(10), default="ANY")
    #: For SHIPMENT scope: shipment id, DAI, número de entrega or transport document number.
    shipment_ref: Mapped[str | None] = mapped_column(String(64))
    #: Comma-separated EMAIL, SMS.
    channels: Mapped[str] = mapped_column(String(20))
    #: Comma-separated stage and side-event codes.
    events: Mapped[str] = mapped_column(String(400))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    contact: Mapped[Contact] = relationship(back_populates="subscriptions")


class Delivery(Base):
    """One notification: a stage change × recipient × channel, with its outcome. The unique key makes
    a redelivered or replayed stage change send nothing twice."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("event_id", "recipient", "channel", name="uq_deliveries_event_recipient_channel"),
        Index("ix_deliveries_status", "status"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(36))
    recipient: Mapped[str] = mapped_column(String(320))
    channel: Mapped[str] = mapped_column(String(5))
    shipment_id: Mapped[str] = mapped_column(String(64), index=True)
    subscription_id: Mapped[int | None] = mapped_column(
        ForeignKey("subscriptions.id", ondelete="SET NULL"), index=True
    )
    lang: Mapped[str] = mapped_column(String(2), default="es")
    #: PENDING, SENDING, RETRYING, SENT, LOGGED (SMS without Twilio), DELIVERED, FAILED, DEAD, SKIPPED.
    status: Mapped[str] = mapped_column(String(10))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    provider_id: Mapped[str | None] = mapped_column(String(100), index=True)
    provider_status: Mapped[str | None] = mapped_column(String(30))
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class PortalUser(Base):
    """A person who logs in to the portal on behalf of one RUC."""

    __tablename__ = "portal_users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    ruc: Mapped[str] = mapped_column(String(13), index=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    email: Mapped[str | None] = mapped_column(String(320))
    lang: Mapped[str] = mapped_column(String(2), default="es")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
