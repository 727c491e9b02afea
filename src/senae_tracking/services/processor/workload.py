"""Synthetic, contract-valid stage events of whole shipments, for tests and benchmarks."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from senae_tracking.shared import identifiers

CHANNELS = ("AUTOMATICO", "ELECTRONICO", "DOCUMENTAL", "FISICO")
BASE_TIME = datetime(2025, 3, 1, 13, 0, tzinfo=UTC)
IMPORTERS = tuple(identifiers.ruc_with_check_digit(p) for p in ("179001691", "099236785", "179000002"))
AGENT = identifiers.ruc_with_check_digit("099000001")


def shipment_id(index: int) -> str:
    """The id of synthetic shipment ``index``."""
    return f"CEC2025MSCU{index:08d}"


def shipment_events(index: int, seed: int = 0) -> list[dict[str, Any]]:
    """The full life of shipment ``index`` (manifest to exit), in order, with every identifier."""
    rng = random.Random(seed * 1_000_003 + index)
    channel = CHANNELS[index % len(CHANNELS)]
    district = ("028", "019", "055")[index % 3]
    start = BASE_TIME + timedelta(hours=index % 720)
    stages = ["MANIFIESTO", "ARRIBO", "INGRESO_DEPOSITO", "DAI_TRANSMITIDA", "DAI_ACEPTADA"]
    stages += ["AFORO", "PAGO"] if channel != "AUTOMATICO" else ["PAGO"]
    stages += ["SALIDA_AUTORIZADA", "SALIDA"]
    events = []
    for step, stage in enumerate(stages):
        event: dict[str, Any] = {
            "schema": {"name": "senae.stage-event", "version": 1},
            "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "occurred_at": (start + timedelta(hours=6 * step)).isoformat(),
            "shipment_id": shipment_id(index), "stage": stage,
        }
        if stage == "MANIFIESTO":
            event.update(documento_transporte={"tipo": "BL", "numero": f"MEDU{index:07d}"},
                         distrito=district, ruc_importador=IMPORTERS[index % len(IMPORTERS)],
                         mrn=f"CEC2025MSCU{index % 1000:04d}")
        elif stage == "DAI_TRANSMITIDA":
            event.update(dai=f"{district}-2025-10-{index + 1:08d}", ruc_agente=AGENT,
                         numero_entrega=f"09900000{2025}{index + 1:08d}1")
        elif stage == "DAI_ACEPTADA":
            event["canal"] = channel
        events.append(event)
    return events


def interleaved(count: int, seed: int = 0) -> list[dict[str, Any]]:
    """The events of ``count`` shipments, round-robin across shipments (each in its own order)."""
    lives = [shipment_events(i, seed) for i in range(count)]
    out: list[dict[str, Any]] = []
    for step in range(max(len(life) for life in lives)):
        out.extend(life[step] for life in lives if step < len(life))
    return out
