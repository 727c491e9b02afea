"""The shipment state machine on every catalog path and every anomaly kind (pure, no I/O)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from senae_tracking.services.processor import domain
from senae_tracking.services.processor.domain import Shipment, process, stage_entries
from senae_tracking.shared.catalog import load_catalog
from senae_tracking.shared.contract import STAGE_ADVANCED, STAGE_ANOMALY, derived_event_id, validate

CAT = load_catalog()
BASE = datetime(2025, 3, 10, 13, 0, tzinfo=UTC)
SID = "CEC2025MSCU0012345"
EXTRA: dict[str, dict[str, Any]] = {
    "MANIFIESTO": {"documento_transporte": {"tipo": "BL", "numero": "MEDU1234567"}, "distrito": "028",
                   "ruc_importador": "1790016919001", "mrn": "CEC2025MSCU0012"},
    "DAI_TRANSMITIDA": {"dai": "028-2025-10-00012345", "ruc_agente": "0992367857001",
                        "numero_entrega": "179001692025000123451"},
    "OBSERVACION": {"observacion": "Falta certificado de origen"},
}


def ev(stage: str, minute: int, **fields: Any) -> dict[str, Any]:
    """A valid stage event at BASE + minute."""
    return {"schema": {"name": "senae.stage-event", "version": 1}, "event_id": str(uuid.uuid4()),
            "occurred_at": (BASE + timedelta(minutes=minute)).isoformat(), "shipment_id": SID,
            "stage": stage, **EXTRA.get(stage, {}), **fields}


class Runner:
    """Feeds events in order at increasing offsets, collecting what is emitted."""

    def __init__(self) -> None:
        self.state: Shipment | None = None
        self.offset = 0
        self.advanced: list[dict[str, Any]] = []
        self.anomalies: list[dict[str, Any]] = []

    def feed(self, *events: dict[str, Any]) -> Runner:
        for event in events:
            out = process(CAT, self.state, event, (0, self.offset), "2025-03-10T13:00:00+00:00")
            self.offset += 1
            self.state = out.state
            for record in out.advanced:
                assert validate(STAGE_ADVANCED, record) == []
            for record in out.anomalies:
                assert validate(STAGE_ANOMALY, record) == []
            self.advanced += out.advanced
            self.anomalies += out.anomalies
        return self

    @property
    def stage(self) -> str | None:
        assert self.state is not None
        return self.state.stage

    def reasons(self) -> list[str]:
        return [a["reason"] for a in self.anomalies]


def path(channel: str) -> list[dict[str, Any]]:
    events = [ev("MANIFIESTO", 0), ev("ARRIBO", 10), ev("INGRESO_DEPOSITO", 20),
              ev("DAI_TRANSMITIDA", 30), ev("DAI_ACEPTADA", 40, canal=channel)]
    if CAT.channels[channel].inspects:
        events.append(ev("AFORO", 50))
    return [*events, ev("PAGO", 60), ev("SALIDA_AUTORIZADA", 70), ev("SALIDA", 80)]


@pytest.mark.parametrize("channel", ["AUTOMATICO", "ELECTRONICO", "DOCUMENTAL", "FISICO"])
def test_every_channel_path_reaches_salida(channel: str) -> None:
    events = path(channel)
    run = Runner().feed(*events)
    assert run.stage == "SALIDA" and run.anomalies == []
    assert [a["stage"] for a in run.advanced] == [e["stage"] for e in events]
    assert [a["event_id"] for a in run.advanced] == [
        derived_event_id(e["event_id"], "stage-advanced") for e in events]
    last = run.advanced[-1]
    assert last["previous_stage"] == "SALIDA_AUTORIZADA" and last["dwell_seconds"] == 600.0
    assert last["canal"] == channel and last["dai"] == "028-2025-10-00012345"
    assert last["ruc_agente"] == "0992367857001" and last["distrito"] == "028"
    assert last["documento_transporte"] == {"tipo": "BL", "numero": "MEDU1234567"}
    assert last["occurred_at"] == events[-1]["occurred_at"]
    assert run.advanced[0]["previous_stage"] is None


def test_automatic_channel_forbids_aforo() -> None:
    run = Runner().feed(*path("AUTOMATICO")[:5], ev("AFORO", 50))
    assert run.reasons() == ["FORBIDDEN_TRANSITION"] and run.stage == "DAI_ACEPTADA"
    assert "AUTOMATICO" in run.anomalies[0]["detail"]


def test_payment_before_inspection_and_release_requires_both() -> None:
    base = path("FISICO")[:5]
    run = Runner().feed(*base, ev("PAGO", 50), ev("AFORO", 60), ev("SALIDA_AUTORIZADA", 70))
    assert run.stage == "SALIDA_AUTORIZADA" and run.anomalies == []


def test_observation_and_correction_are_notifiable_side_events() -> None:
    run = Runner().feed(*path("DOCUMENTAL")[:5], ev("OBSERVACION", 45), ev("CORRECCION", 47))
    assert run.stage == "DAI_ACEPTADA"
    obs, cor = run.advanced[-2:]
    assert obs["kind"] == "SIDE_EVENT" and obs["stage"] == "OBSERVACION"
    assert obs["observacion"] == "Falta certificado de origen" and obs["previous_stage"] == "DAI_ACEPTADA"
    assert cor["stage"] == "CORRECCION"
    assert run.state is not None and run.state.observaciones[0]["abierta"] is False


def test_observation_opens_until_next_stage() -> None:
    run = Runner().feed(*path("FISICO")[:5], ev("OBSERVACION", 45))
    assert run.state is not None and run.state.observaciones[0]["abierta"] is True
    run.feed(ev("AFORO", 50))
    assert run.state.observaciones[0]["abierta"] is False


def test_side_event_not_allowed_before_or_after() -> None:
    run = Runner().feed(*path("AUTOMATICO")[:5], ev("PAGO", 50), ev("SALIDA_AUTORIZADA", 60),
                        ev("OBSERVACION", 65))
    assert run.reasons() == ["SIDE_EVENT_NOT_ALLOWED"]


@pytest.mark.parametrize("ending", ["ABANDONO", "ANULACION"])
def test_abandonment_and_cancellation_end_the_shipment(ending: str) -> None:
    run = Runner().feed(*path("FISICO")[:3], ev(ending, 25))
    assert run.stage == ending and run.advanced[-1]["previous_stage"] == "INGRESO_DEPOSITO"
    run.feed(ev("DAI_TRANSMITIDA", 30), ev("OBSERVACION", 35))
    assert run.reasons() == ["AFTER_TERMINAL", "AFTER_TERMINAL"]
    assert len(run.advanced) == 4


def test_no_ending_after_release() -> None:
    run = Runner().feed(*path("AUTOMATICO")[:7], ev("ABANDONO", 75))
    assert run.reasons() == ["FORBIDDEN_TRANSITION"] and run.stage == "SALIDA_AUTORIZADA"


def test_after_terminal() -> None:
    run = Runner().feed(*path("AUTOMATICO"), ev("SALIDA", 90))
    assert run.reasons() == ["AFTER_TERMINAL"]


def test_duplicate_event_id_changes_nothing() -> None:
    events = path("AUTOMATICO")[:3]
    run = Runner().feed(*events, dict(events[1]))
    assert run.reasons() == ["DUPLICATE"] and len(run.advanced) == 3
    run.feed(dict(events[1]))
    ids = [a["event_id"] for a in run.anomalies]
    assert len(set(ids)) == 2, "each duplicate delivery gets its own anomaly id"


def test_stale_stage_already_passed() -> None:
    run = Runner().feed(*path("AUTOMATICO")[:4], ev("ARRIBO", 35))
    assert run.reasons() == ["STALE"] and run.stage == "DAI_TRANSMITIDA"
    assert run.anomalies[0]["current_stage"] == "DAI_TRANSMITIDA"


def test_forbidden_skip_is_parked_then_rejected_after_the_window() -> None:
    run = Runner().feed(ev("MANIFIESTO", 0), ev("DAI_TRANSMITIDA", 5))
    assert run.anomalies == [] and run.state is not None and len(run.state.pending) == 1
    run.feed(ev("ARRIBO", 200))
    assert run.reasons() == ["FORBIDDEN_TRANSITION"] and run.state.pending == []
    assert run.stage == "ARRIBO"


def test_out_of_order_within_window_is_applied_in_event_time_order() -> None:
    events = path("ELECTRONICO")
    shuffled = [events[0], events[2], events[3], events[1], *events[4:6], events[7], events[6], events[8]]
    run = Runner().feed(*shuffled)
    assert run.anomalies == [] and run.stage == "SALIDA"
    assert [e["stage"] for e in run.state.timeline] == [e["stage"] for e in events]  # type: ignore[union-attr]
    assert [a["stage"] for a in run.advanced] == [e["stage"] for e in events]


def test_first_event_missing_manifest_waits_for_it() -> None:
    run = Runner().feed(ev("ARRIBO", 10))
    assert run.state is not None and not run.state.exists
    run.feed(ev("MANIFIESTO", 0))
    assert run.stage == "ARRIBO" and len(run.advanced) == 2


def test_late_payment_does_not_move_the_stage_back() -> None:
    base = path("FISICO")[:5]
    run = Runner().feed(*base, ev("AFORO", 60), ev("PAGO", 50))
    assert run.stage == "AFORO"
    assert [e["stage"] for e in run.state.timeline][-2:] == ["PAGO", "AFORO"]  # type: ignore[union-attr]
    assert run.advanced[-1]["previous_stage"] == "DAI_ACEPTADA"


def test_parked_events_rejected_when_the_shipment_ends() -> None:
    run = Runner().feed(*path("AUTOMATICO")[:3], ev("DAI_ACEPTADA", 25, canal="FISICO"), ev("ABANDONO", 26))
    assert run.reasons() == ["AFTER_TERMINAL"]


def test_replayed_position_is_a_silent_no_op() -> None:
    events = path("AUTOMATICO")[:3]
    run = Runner().feed(*events)
    out = process(CAT, run.state, events[2], (0, 2), "x")
    assert out.replay and out.advanced == [] and out.anomalies == []
    assert [e["stage"] for e in stage_entries(out.state, (0, 2))] == ["INGRESO_DEPOSITO"]
    # another partition's offsets are not comparable: processed normally (here: a duplicate)
    assert process(CAT, run.state, events[2], (1, 0), "x").anomalies[0]["reason"] == "DUPLICATE"


def test_state_round_trips_through_a_dict() -> None:
    run = Runner().feed(*path("FISICO"))
    assert run.state is not None
    assert Shipment.from_dict(run.state.to_dict()) == run.state


def test_too_many_parked_events_are_rejected() -> None:
    run = Runner().feed(ev("MANIFIESTO", 0))
    run.feed(*[ev("OBSERVACION", 1) for _ in range(domain.MAX_PENDING + 1)])
    assert run.reasons() == ["SIDE_EVENT_NOT_ALLOWED"]
