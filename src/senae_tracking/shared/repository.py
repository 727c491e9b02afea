"""The only code that touches the operator, contact, subscription and delivery-log tables.

Used by the notifier (matching recipients, the delivery log, webhooks) and by the portal (an
operator's subscriptions). Methods take and return plain dataclasses, never ORM objects, and each
runs in its own transaction. Invalid input raises :class:`RepositoryError` naming the field.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, and_, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from senae_tracking.shared import contacts as rules
from senae_tracking.shared.identifiers import SHIPMENT_ID_RE, check_ruc
from senae_tracking.shared.models import Contact, Delivery, Operator, Subscription

#: Delivery statuses whose notification still has to be sent (or may have been, after a crash).
OPEN_STATUSES = ("PENDING", "SENDING", "RETRYING")
FINAL_STATUSES = ("SENT", "LOGGED", "DELIVERED", "FAILED", "DEAD", "SKIPPED")


class RepositoryError(ValueError):
    """Input that breaks a rule; ``field`` names it."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


@dataclass(frozen=True)
class SubscriptionView:
    """A subscription with its contact and operator, as shown to people and matched to events."""

    id: int
    ruc: str
    name: str
    lang: str
    email: str
    phone: str | None
    sms_opt_out: bool
    scope: str
    role: str
    shipment_ref: str | None
    channels: tuple[str, ...]
    events: tuple[str, ...]
    active: bool
    created_at: str

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready mapping."""
        data = dict(self.__dict__)
        data["channels"] = list(self.channels)
        data["events"] = list(self.events)
        return data


@dataclass(frozen=True)
class NewDelivery:
    """A notification to record for a stage change (``status`` PENDING to send, SKIPPED not to)."""

    event_id: str
    recipient: str
    channel: str
    shipment_id: str
    subscription_id: int | None
    lang: str
    status: str = "PENDING"
    error: str | None = None

    @property
    def id(self) -> str:
        """Deterministic id: the same stage change, recipient and channel always give the same id."""
        return delivery_id(self.event_id, self.channel, self.recipient)


@dataclass(frozen=True)
class DeliveryRow:
    """A row of the delivery log."""

    id: str
    event_id: str
    recipient: str
    channel: str
    shipment_id: str
    subscription_id: int | None
    lang: str
    status: str
    attempts: int
    provider_id: str | None
    provider_status: str | None
    error: str | None


@dataclass(frozen=True)
class Outcome:
    """What happened to one attempt of a delivery, to be written to the log."""

    delivery_id: str
    status: str
    attempts: int
    provider_id: str | None = None
    error: str | None = None


def delivery_id(event_id: str, channel: str, recipient: str) -> str:
    """UUID derived from the stage change's event id, the channel and the recipient."""
    return str(uuid.uuid5(uuid.UUID(event_id), f"{channel}:{recipient.lower()}"))


def _now() -> datetime:
    return datetime.now(UTC)


def _split(value: str) -> tuple[str, ...]:
    return tuple(v for v in value.split(",") if v)


def _view(sub: Subscription, contact: Contact, operator: Operator) -> SubscriptionView:
    return SubscriptionView(
        id=sub.id, ruc=operator.ruc, name=operator.name, lang=operator.lang, email=contact.email,
        phone=contact.phone, sms_opt_out=contact.sms_opt_out, scope=sub.scope, role=sub.role,
        shipment_ref=sub.shipment_ref, channels=_split(sub.channels), events=_split(sub.events),
        active=sub.active, created_at=sub.created_at.isoformat(),
    )


#: Plain columns rather than ORM entities: several times cheaper on the notifier's hot path.
_VIEW_COLUMNS = (
    Subscription.id, Operator.ruc, Operator.name, Operator.lang, Contact.email, Contact.phone,
    Contact.sms_opt_out, Subscription.scope, Subscription.role, Subscription.shipment_ref,
    Subscription.channels, Subscription.events, Subscription.active, Subscription.created_at,
)


def _view_of_row(row: Any) -> SubscriptionView:
    (sub_id, ruc, name, lang, email, phone, sms_opt_out, scope, role, shipment_ref, channels, events,
     active, created_at) = row
    return SubscriptionView(
        id=sub_id, ruc=ruc, name=name, lang=lang, email=email, phone=phone, sms_opt_out=bool(sms_opt_out),
        scope=scope, role=role, shipment_ref=shipment_ref, channels=_split(channels), events=_split(events),
        active=bool(active), created_at=created_at.isoformat(),
    )


def _row(d: Delivery) -> DeliveryRow:
    return DeliveryRow(
        id=d.id, event_id=d.event_id, recipient=d.recipient, channel=d.channel,
        shipment_id=d.shipment_id, subscription_id=d.subscription_id, lang=d.lang, status=d.status,
        attempts=d.attempts, provider_id=d.provider_id, provider_status=d.provider_status, error=d.error,
    )


class Repository:
    """Subscriptions and the delivery log over one SQLAlchemy engine (SQLite or PostgreSQL)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._session = sessionmaker(engine, expire_on_commit=False)

    # -- subscriptions ---------------------------------------------------------------------------

    def add_subscription(
        self, *, ruc: str, email: str, phone: str | None = None, shipment: str | None = None,
        lang: str | None = None, name: str | None = None, role: str = "ANY",
        channels: Sequence[str] | None = None, events: Sequence[str] | None = None,
    ) -> SubscriptionView:
        """Subscribe a contact of operator ``ruc`` (created or updated as needed).

        Defaults: every shipment of the RUC, channels EMAIL (and SMS when a phone is given), the
        events importers care about most (:data:`contacts.DEFAULT_EVENTS`). Subscribing again with
        the same contact and scope updates and re-activates that subscription instead of adding one.
        """
        email = email.strip()
        phone = rules.normalize_phone(phone) if phone else None
        chosen_channels = list(channels) if channels else (["EMAIL", "SMS"] if phone else ["EMAIL"])
        chosen_events = list(events) if events else list(rules.DEFAULT_EVENTS)
        shipment = shipment.strip() if shipment else None
        checks: list[tuple[str, str | None]] = [
            ("ruc", check_ruc(ruc)),
            ("email", rules.check_email(email)),
            ("phone", rules.check_phone(phone) if phone else None),
            ("lang", None if lang is None or lang in rules.LANGS else "must be es or en"),
            ("role", None if role in rules.ROLES else "must be ANY, IMPORTER or AGENT"),
            ("channels", rules.check_channels(chosen_channels)),
            ("events", rules.check_events(chosen_events)),
            ("channels", "SMS needs a phone number" if "SMS" in chosen_channels and not phone else None),
            ("shipment", "must be 3-64 letters, digits, '.', '_' or '-'"
             if shipment is not None and not _valid_ref(shipment) else None),
            ("name", "must be at most 200 characters" if name and len(name) > 200 else None),
        ]
        for field, problem in checks:
            if problem:
                raise RepositoryError(field, problem)
        with self._session.begin() as session:
            operator = session.scalars(select(Operator).where(Operator.ruc == ruc)).first()
            if operator is None:
                operator = Operator(ruc=ruc, name=name or "", lang=lang or "es", created_at=_now())
                session.add(operator)
                session.flush()
            else:
                operator.name = name if name is not None else operator.name
                operator.lang = lang or operator.lang
            contact = session.scalars(select(Contact).where(
                Contact.operator_id == operator.id, Contact.email == email)).first()
            if contact is None:
                contact = Contact(operator_id=operator.id, email=email, phone=phone, sms_opt_out=False,
                                  created_at=_now())
                session.add(contact)
                session.flush()
            elif phone and phone != contact.phone:
                contact.phone, contact.sms_opt_out = phone, False
            scope = "SHIPMENT" if shipment else "RUC"
            sub = session.scalars(select(Subscription).where(
                Subscription.contact_id == contact.id, Subscription.scope == scope,
                Subscription.role == role,
                Subscription.shipment_ref == shipment if shipment else Subscription.shipment_ref.is_(None),
            )).first()
            if sub is None:
                sub = Subscription(contact_id=contact.id, scope=scope, role=role, shipment_ref=shipment,
                                   created_at=_now(), channels="", events="")
                session.add(sub)
            sub.channels = ",".join(c for c in rules.CHANNELS if c in chosen_channels)
            sub.events = ",".join(dict.fromkeys(chosen_events))
            sub.active = True
            session.flush()
            return _view(sub, contact, operator)

    def _query(self) -> Any:
        return (select(*_VIEW_COLUMNS)
                .join(Contact, Subscription.contact_id == Contact.id)
                .join(Operator, Contact.operator_id == Operator.id))

    def list_subscriptions(self, ruc: str | None = None) -> list[SubscriptionView]:
        """Every subscription (of ``ruc`` if given), oldest first."""
        query = self._query().order_by(Subscription.id)
        if ruc is not None:
            query = query.where(Operator.ruc == ruc)
        with self.engine.connect() as connection:
            return [_view_of_row(row) for row in connection.execute(query).all()]

    def get_subscription(self, subscription_id: int) -> SubscriptionView | None:
        """One subscription, or None."""
        with self.engine.connect() as connection:
            row = connection.execute(self._query().where(Subscription.id == subscription_id)).first()
            return _view_of_row(row) if row else None

    def remove_subscription(self, subscription_id: int) -> bool:
        """Delete a subscription; False if there was none with that id. The delivery log keeps its rows."""
        with self._session.begin() as session:
            sub = session.get(Subscription, subscription_id)
            if sub is None:
                return False
            session.delete(sub)
            return True

    def set_active(self, subscription_id: int, active: bool) -> bool:
        """Turn a subscription on or off (unsubscribe links); False if it does not exist."""
        with self._session.begin() as session:
            result = session.execute(
                update(Subscription).where(Subscription.id == subscription_id).values(active=active))
            return bool(result.rowcount)  # type: ignore[attr-defined]

    def set_sms_opt_out(self, phone: str, opt_out: bool = True) -> int:
        """Stop (or resume) SMS to ``phone`` for every contact with that number; how many changed."""
        with self._session.begin() as session:
            result = session.execute(update(Contact).where(Contact.phone == rules.normalize_phone(phone))
                                     .values(sms_opt_out=opt_out))
            return int(result.rowcount)  # type: ignore[attr-defined]

    def matching_subscriptions(
        self, shipment_refs: Iterable[str], ruc_importador: str | None, ruc_agente: str | None,
    ) -> list[SubscriptionView]:
        """Active subscriptions whose scope covers a shipment known by ``shipment_refs`` with these RUCs.

        Event and channel choices are not filtered here (see the notifier's domain rules).
        """
        conditions = []
        refs = [r for r in shipment_refs if r]
        if refs:
            conditions.append(and_(Subscription.scope == "SHIPMENT", Subscription.shipment_ref.in_(refs)))
        if ruc_importador:
            conditions.append(and_(Subscription.scope == "RUC", Subscription.role.in_(("ANY", "IMPORTER")),
                                   Operator.ruc == ruc_importador))
        if ruc_agente:
            conditions.append(and_(Subscription.scope == "RUC", Subscription.role.in_(("ANY", "AGENT")),
                                   Operator.ruc == ruc_agente))
        if not conditions:
            return []
        query = self._query().where(Subscription.active.is_(True), or_(*conditions)).order_by(Subscription.id)
        with self.engine.connect() as connection:
            return [_view_of_row(row) for row in connection.execute(query).all()]

    # -- delivery log ----------------------------------------------------------------------------

    def plan_deliveries(self, deliveries: Sequence[NewDelivery]) -> list[DeliveryRow]:
        """Record ``deliveries`` (ignoring those already logged) and claim the ones still to send.

        In one transaction: insert missing rows, then mark every open row of these (stage change,
        recipient, channel) triples SENDING with one more attempt, and return those rows. Rows that
        were already sent, failed or skipped are not returned, so a redelivered or replayed stage
        change sends nothing twice. A row found SENDING was interrupted by a crash: it is returned
        again (at-least-once for that window; the e-mail keeps its Message-ID).
        """
        if not deliveries:
            return []
        now = _now()
        values = [{"id": d.id, "event_id": d.event_id, "recipient": d.recipient, "channel": d.channel,
                   "shipment_id": d.shipment_id, "subscription_id": d.subscription_id, "lang": d.lang,
                   "status": d.status, "attempts": 0, "error": d.error, "created_at": now, "updated_at": now}
                  for d in deliveries]
        ids = [v["id"] for v in values]
        dialect = sqlite if self.engine.dialect.name == "sqlite" else postgresql
        with self._session.begin() as session:
            for start in range(0, len(values), 500):
                statement = dialect.insert(Delivery).values(values[start:start + 500])
                session.execute(statement.on_conflict_do_nothing(index_elements=["id"]))
            claimed: list[DeliveryRow] = []
            for start in range(0, len(ids), 500):
                chunk = ids[start:start + 500]
                session.execute(update(Delivery)
                                .where(Delivery.id.in_(chunk), Delivery.status.in_(OPEN_STATUSES))
                                .values(status="SENDING", attempts=Delivery.attempts + 1, updated_at=now)
                                .execution_options(synchronize_session=False))
                rows = session.scalars(select(Delivery).where(Delivery.id.in_(chunk),
                                                              Delivery.status == "SENDING"))
                claimed.extend(_row(d) for d in rows)
            return claimed

    def record_outcomes(self, outcomes: Sequence[Outcome]) -> None:
        """Write the outcome of attempts (one transaction for all)."""
        if not outcomes:
            return
        now = _now()
        with self._session.begin() as session:
            session.execute(update(Delivery), [
                {"id": o.delivery_id, "status": o.status, "attempts": o.attempts,
                 "provider_id": o.provider_id, "error": o.error[:2000] if o.error else None,
                 "updated_at": now}
                for o in outcomes])

    def record_provider_status(self, provider_id: str, provider_status: str,
                               error: str | None = None) -> DeliveryRow | None:
        """Apply a provider's status report (e.g. Twilio's callback) to the delivery it names."""
        final = {"delivered": "DELIVERED", "undelivered": "FAILED", "failed": "FAILED"}
        with self._session.begin() as session:
            delivery = session.scalars(select(Delivery).where(Delivery.provider_id == provider_id)).first()
            if delivery is None:
                return None
            delivery.provider_status = provider_status[:30]
            if provider_status in final and delivery.status in ("SENT", "DELIVERED", "FAILED"):
                delivery.status = final[provider_status]
            if error:
                delivery.error = error[:2000]
            delivery.updated_at = _now()
            session.flush()
            return _row(delivery)

    def deliveries(self, event_id: str | None = None, shipment_id: str | None = None) -> list[DeliveryRow]:
        """Rows of the delivery log, optionally of one stage change or one shipment."""
        query = select(Delivery).order_by(Delivery.created_at, Delivery.id)
        if event_id is not None:
            query = query.where(Delivery.event_id == event_id)
        if shipment_id is not None:
            query = query.where(Delivery.shipment_id == shipment_id)
        with self._session() as session:
            return [_row(d) for d in session.scalars(query)]

    def session(self) -> Session:
        """A session for read-only diagnostics in tests and tools."""
        return self._session()


def _valid_ref(value: str) -> bool:
    return SHIPMENT_ID_RE.match(value) is not None
