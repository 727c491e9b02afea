"""The shared repository and migrations on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from senae_tracking.shared.db import make_engine
from senae_tracking.shared.migrations import alembic_config, current, upgrade
from senae_tracking.shared.models import Base
from senae_tracking.shared.repository import NewDelivery, Outcome, Repository, RepositoryError
from tests.support.notifier import unique_ruc

pytestmark = pytest.mark.integration


@pytest.fixture
def repo(database_url: str) -> Iterator[Repository]:
    upgrade(database_url)
    upgrade(database_url)  # idempotent
    engine = make_engine(database_url)
    try:
        yield Repository(engine)
    finally:
        engine.dispose()


def test_migrations_match_the_models(repo: Repository, database_url: str) -> None:
    head = ScriptDirectory.from_config(alembic_config(database_url)).get_current_head()
    assert current(database_url) == head
    with repo.engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []


def test_subscriptions_validate_and_match(repo: Repository) -> None:
    importer, agent = unique_ruc(), unique_ruc()
    ship = f"CEC{uuid.uuid4().hex[:10].upper()}"
    a = repo.add_subscription(ruc=importer, email="a@imp.ec", phone="+593 99-111 2222")
    again = repo.add_subscription(ruc=importer, email="a@imp.ec", phone="+593991112222", events=["SALIDA"])
    assert again.id == a.id and again.events == ("SALIDA",) and a.phone == "+593991112222"
    b = repo.add_subscription(ruc=agent, email="b@age.ec", role="AGENT")
    c = repo.add_subscription(ruc=agent, email="c@age.ec", shipment=ship, lang="en")
    with pytest.raises(RepositoryError) as error:
        repo.add_subscription(ruc=importer, email="x@imp.ec", channels=["SMS"])
    assert error.value.field == "channels"
    with pytest.raises(RepositoryError) as error:
        repo.add_subscription(ruc=importer, email="x@imp.ec", lang="fr")
    assert error.value.field == "lang"

    def ids(refs: list[str], imp: str | None, ag: str | None) -> set[int]:
        return {s.id for s in repo.matching_subscriptions(refs, imp, ag)}

    assert ids([ship], importer, agent) == {a.id, b.id, c.id}
    assert ids(["OTHER"], agent, None) == set()          # the agent's RUC as importer: role AGENT only
    assert ids(["OTHER"], None, agent) == {b.id}
    assert repo.set_active(b.id, False) and ids(["OTHER"], None, agent) == set()
    assert repo.set_sms_opt_out("+593991112222") == 1
    assert repo.get_subscription(a.id).sms_opt_out  # type: ignore[union-attr]
    assert repo.remove_subscription(c.id) and not repo.remove_subscription(c.id)


def test_delivery_log_claims_each_notification_once(repo: Repository) -> None:
    event_id = str(uuid.uuid4())
    wanted = [NewDelivery(event_id, "a@x.ec", "EMAIL", "S1", None, "es"),
              NewDelivery(event_id, "+593991112222", "SMS", "S1", None, "es")]
    first = repo.plan_deliveries(wanted)
    assert sorted(r.channel for r in first) == ["EMAIL", "SMS"] and all(r.attempts == 1 for r in first)
    email = next(r for r in first if r.channel == "EMAIL")
    sms = next(r for r in first if r.channel == "SMS")
    repo.record_outcomes([Outcome(email.id, "SENT", 1, provider_id="250 OK"),
                          Outcome(sms.id, "SENT", 1, provider_id="SMabc")])
    assert repo.plan_deliveries(wanted) == []            # redelivered: nothing to send
    assert repo.record_provider_status("SMabc", "delivered").status == "DELIVERED"  # type: ignore[union-attr]
    assert repo.record_provider_status("SMnone", "delivered") is None
    crashed = [NewDelivery(str(uuid.uuid4()), "b@x.ec", "EMAIL", "S2", None, "en")]
    assert repo.plan_deliveries(crashed)[0].attempts == 1
    assert repo.plan_deliveries(crashed)[0].attempts == 2   # left SENDING by a crash: claimed again
    skipped = [NewDelivery(str(uuid.uuid4()), "c@x.ec", "EMAIL", "S3", None, "es", status="SKIPPED")]
    assert repo.plan_deliveries(skipped) == []
    assert [r.status for r in repo.deliveries(shipment_id="S3")] == ["SKIPPED"]
