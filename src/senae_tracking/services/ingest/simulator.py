"""A realistic, reproducible generator of customs stage events (pure: no I/O, no clock reads).

Each simulated shipment picks a customs district (weighted by traffic; the transport mode and
document follow from it), an importer and a customs agent (RUCs with valid check digits), an aforo
channel in realistic proportions, and walks the stage catalog with dwell times typical of its mode
and channel: manifest, arrival, warehouse, DAI transmitted and accepted, inspection and payment
(in either order), release, exit. Some get an officer's observation (more often under physical and
documentary inspection), sometimes followed by a corrected declaration; a few end abandoned or
cancelled. Every event is a valid body for ``POST /v1/stage-events``.

Used by ``senae-tracking simulate``, the embedded demo and other services' benchmarks::

    from senae_tracking.services.ingest.simulator import generate_events
    events = generate_events(1000, seed=7)   # list of dicts, oldest first, ending now
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from senae_tracking.shared.catalog import Catalog, load_catalog
from senae_tracking.shared.identifiers import ruc_with_check_digit

SCHEMA_REF = {"name": "senae.stage-event", "version": 1}
SOURCE = "simulador"
ECUADOR = ZoneInfo("America/Guayaquil")

#: Share of import traffic and main transport mode per district (approximate, for realism).
DISTRICTS: dict[str, tuple[float, str]] = {
    "028": (0.40, "MARITIMO"),   # Guayaquil marítimo
    "019": (0.15, "AEREO"),      # Guayaquil aéreo
    "055": (0.15, "AEREO"),      # Quito
    "064": (0.06, "MARITIMO"),   # Puerto Bolívar
    "037": (0.05, "MARITIMO"),   # Manta
    "046": (0.03, "MARITIMO"),   # Esmeraldas
    "073": (0.05, "TERRESTRE"),  # Tulcán
    "082": (0.04, "TERRESTRE"),  # Huaquillas
    "091": (0.02, "AEREO"),      # Cuenca
    "109": (0.03, "TERRESTRE"),  # Loja - Macará
    "127": (0.02, "AEREO"),      # Latacunga
}
#: Aforo channel proportions (approximate shares of DAIs per channel).
CHANNELS: dict[str, float] = {"AUTOMATICO": 0.30, "ELECTRONICO": 0.20, "DOCUMENTAL": 0.30, "FISICO": 0.20}
#: Chance of an officer's observation per channel.
OBSERVATION_RATE: dict[str, float] = {
    "AUTOMATICO": 0.0, "ELECTRONICO": 0.08, "DOCUMENTAL": 0.25, "FISICO": 0.35,
}
#: Chance that a shipment is abandoned, and that its declaration is cancelled.
ABANDON_RATE = 0.015
CANCEL_RATE = 0.01
#: Regimes of the DAI and their shares.
REGIMES: dict[str, float] = {"10": 0.9, "70": 0.05, "20": 0.03, "21": 0.02}

DOCUMENT_OF_MODE = {"MARITIMO": "BL", "AEREO": "AWB", "TERRESTRE": "CPIC"}
_CARRIERS = ("MSCU", "MAEU", "CMAU", "HLCU", "MEDU", "EGLV", "ONEY", "COSU", "ZIMU", "HDMU")
_AIRLINES = ("729", "045", "074", "057", "006", "176", "145", "985", "075", "044")
_BORDER = ("CO", "PE")
#: Provinces of importers, weighted towards Guayas (09) and Pichincha (17).
_PROVINCES = ("09", "09", "09", "17", "17", "17", "01", "13", "07", "18", "23", "11", "04")
OBSERVATIONS = (
    "Falta certificado de origen / Certificate of origin missing",
    "Diferencia en el peso declarado / Declared weight differs",
    "Factura comercial ilegible / Commercial invoice illegible",
    "Clasificación arancelaria por revisar / Tariff classification to be reviewed",
    "Falta documento de control previo / Prior-control document missing",
    "Valor en aduana por justificar / Customs value to be justified",
)

#: Dwell ranges in hours before each stage, (low, high), by transport mode.
_BEFORE_ARRIVAL = {"MARITIMO": (48, 240), "AEREO": (2, 14), "TERRESTRE": (1, 24)}
_TO_WAREHOUSE = {"MARITIMO": (4, 48), "AEREO": (1, 8), "TERRESTRE": (1, 6)}
#: Hours an inspection takes, by channel.
_AFORO_HOURS = {"ELECTRONICO": (2, 24), "DOCUMENTAL": (12, 72), "FISICO": (24, 120)}


@dataclass
class _Step:
    stage: str
    hours_after: float
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass
class Shipment:
    """A simulated shipment: its identity and the planned steps of its flow (without times)."""

    shipment_id: str
    district: str
    mode: str
    channel: str
    steps: list[_Step]


class Simulator:
    """Draws shipments and events from one seeded random generator (reproducible)."""

    def __init__(self, seed: int = 0, catalog: Catalog | None = None, importers: int = 200,
                 agents: int = 40, featured: Sequence[str] = (), featured_share: float = 0.25) -> None:
        self.rng = random.Random(seed)
        self._featured = list(featured)
        self._featured_share = featured_share
        self.catalog = catalog or load_catalog()
        known = [d for d in DISTRICTS if d in self.catalog.districts]
        extra = [d for d in self.catalog.districts if d not in DISTRICTS]
        self._districts = known + extra
        self._district_weights = [DISTRICTS[d][0] for d in known] + [0.01] * len(extra)
        self._importers = [self._ruc() for _ in range(importers)]
        self._agents = [self._ruc(company_share=0.8) for _ in range(agents)]
        self._ids: set[str] = set()
        self._dai_seq: dict[str, int] = {}
        self._entrega_seq = 0

    def _choice(self, weights: dict[str, float]) -> str:
        return self.rng.choices(list(weights), weights=list(weights.values()))[0]

    def _hours(self, span: tuple[float, float]) -> float:
        low, high = span
        return self.rng.triangular(low, high, low + (high - low) / 3)

    def _ruc(self, company_share: float = 0.7) -> str:
        """A RUC with a valid check digit: a company (type 9) or a natural person (0-5)."""
        while True:
            province = self.rng.choice(_PROVINCES)
            kind = "9" if self.rng.random() < company_share else str(self.rng.randint(0, 5))
            prefix = f"{province}{kind}{self.rng.randint(0, 999_999):06d}"
            try:
                return ruc_with_check_digit(prefix)
            except ValueError:
                continue  # no modulo-11 check digit exists for this prefix; draw another

    def event_id(self) -> str:
        """A UUID (version 4 layout) drawn from the seeded generator."""
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def _document(self, mode: str, year: int) -> tuple[str, str]:
        tipo = DOCUMENT_OF_MODE[mode]
        if tipo == "BL":
            numero = f"{self.rng.choice(_CARRIERS)}{self.rng.randint(0, 9_999_999):07d}"
        elif tipo == "AWB":
            serial = self.rng.randint(0, 9_999_999)
            numero = f"{self.rng.choice(_AIRLINES)}-{serial:07d}{serial % 7}"
        else:
            numero = f"{self.rng.choice(_BORDER)}{year % 100:02d}{self.rng.randint(1, 999_999):06d}"
        return tipo, numero

    def shipment(self, year: int) -> Shipment:
        """Plan one shipment's flow; ``year`` goes into its DAI and número de entrega."""
        district = self.rng.choices(self._districts, weights=self._district_weights)[0]
        mode = DISTRICTS.get(district, (0.0, "MARITIMO"))[1]
        while True:
            tipo, numero = self._document(mode, year)
            shipment_id = f"{tipo}-{numero}"
            if shipment_id not in self._ids:
                self._ids.add(shipment_id)
                break
        importer = self.rng.choice(self._importers)
        if self._featured and self.rng.random() < self._featured_share:
            importer = self.rng.choice(self._featured)
        agent = self.rng.choice(self._agents)
        channel = self._choice(CHANNELS)
        mrn = f"CEC{year}{numero.replace('-', '')[:4]}{self.rng.randint(0, 9_999_999):07d}"
        steps = [
            _Step("MANIFIESTO", 0.0, {
                "ruc_importador": importer, "mrn": mrn, "distrito": district,
                "modo_transporte": mode, "documento_transporte": {"tipo": tipo, "numero": numero},
            }),
            _Step("ARRIBO", self._hours(_BEFORE_ARRIVAL[mode])),
            _Step("INGRESO_DEPOSITO", self._hours(_TO_WAREHOUSE[mode])),
        ]
        if self.rng.random() < ABANDON_RATE:
            steps.append(_Step("ABANDONO", self._hours((24 * 20, 24 * 60))))
            return Shipment(shipment_id, district, mode, channel, steps)
        self._dai_seq[district] = self._dai_seq.get(district, 0) + 1
        self._entrega_seq += 1
        regime = self._choice(REGIMES)
        dai = f"{district}-{year}-{regime}-{self._dai_seq[district]:08d}"
        entrega = f"{agent[:8]}{year}{self._entrega_seq:08d}{self.rng.randint(1, 4)}"
        steps.append(_Step("DAI_TRANSMITIDA", self._hours((4, 96)), {
            "dai": dai, "numero_entrega": entrega, "ruc_importador": importer, "ruc_agente": agent,
        }))
        if self.rng.random() < CANCEL_RATE:
            steps.append(_Step("ANULACION", self._hours((12, 120)), {"dai": dai}))
            return Shipment(shipment_id, district, mode, channel, steps)
        steps.append(_Step("DAI_ACEPTADA", self._hours((0.5, 12)), {"canal": channel, "dai": dai}))
        if channel == "AUTOMATICO":
            steps.append(_Step("PAGO", self._hours((2, 48))))
        else:
            if self.rng.random() < OBSERVATION_RATE[channel]:
                steps.append(_Step("OBSERVACION", self._hours((2, 24)),
                                   {"observacion": self.rng.choice(OBSERVATIONS)}))
                if self.rng.random() < 0.5:
                    steps.append(_Step("CORRECCION", self._hours((4, 48)), {"dai": dai}))
            aforo = _Step("AFORO", self._hours(_AFORO_HOURS[channel]), {"canal": channel})
            pago = _Step("PAGO", self._hours((2, 48)))
            steps.extend([pago, aforo] if self.rng.random() < 0.3 else [aforo, pago])
        steps.append(_Step("SALIDA_AUTORIZADA", self._hours((1, 12))))
        steps.append(_Step("SALIDA", self._hours((4, 72))))
        return Shipment(shipment_id, district, mode, channel, steps)

    def event(self, shipment: Shipment, step: _Step, when: datetime) -> dict[str, Any]:
        """The stage event of ``step`` of ``shipment`` at ``when``."""
        return {
            "schema": dict(SCHEMA_REF), "event_id": self.event_id(),
            "occurred_at": when.astimezone(ECUADOR).isoformat(timespec="milliseconds"),
            "shipment_id": shipment.shipment_id, "stage": step.stage, **step.fields,
            "source": SOURCE,
        }


def iter_shipment_events(
    shipments: int, seed: int = 0, end: datetime | None = None, *,
    recent: timedelta = timedelta(hours=6), complete_share: float = 0.5,
) -> Iterator[list[dict[str, Any]]]:
    """Yield, shipment by shipment, each one's events in stage order (bounded memory).

    Half the shipments (``complete_share``) have finished; the others are caught part-way. Each
    shipment's last event falls within ``recent`` before ``end`` (default: now), so that the
    newest events count as live news downstream while earlier stages lie days in the past.
    """
    end = end or datetime.now(UTC)
    simulator = Simulator(seed)
    for _ in range(shipments):
        plan = simulator.shipment(end.year)
        kept = len(plan.steps)
        if simulator.rng.random() >= complete_share and kept > 1:
            kept = simulator.rng.randint(1, kept - 1)
        steps = plan.steps[:kept]
        offsets: list[float] = []
        total = 0.0
        for step in steps:
            total += max(step.hours_after, 1 / 60)
            offsets.append(total)
        last = end - timedelta(seconds=simulator.rng.uniform(0, recent.total_seconds()))
        yield [
            simulator.event(plan, step, last - timedelta(hours=total - offset))
            for step, offset in zip(steps, offsets, strict=True)
        ]


def generate_events(
    shipments: int, seed: int = 0, end: datetime | None = None, *,
    recent: timedelta = timedelta(hours=6), complete_share: float = 0.5,
) -> list[dict[str, Any]]:
    """Events of ``shipments`` simulated shipments, all shipments interleaved, oldest first.

    Reproducible for a given ``seed`` and ``end``. Each event is a valid stage-event body; per
    shipment the order follows the catalog. See :func:`iter_shipment_events` for the times.
    """
    events = [e for group in iter_shipment_events(
        shipments, seed, end, recent=recent, complete_share=complete_share) for e in group]
    events.sort(key=lambda e: e["occurred_at"])
    return events


def live_events(
    seed: int = 0, clock: Callable[[], datetime] | None = None, active: int = 50,
    featured: Sequence[str] = (),
) -> Iterator[dict[str, Any]]:
    """An endless stream of events stamped with the clock's current time, as if happening now.

    ``active`` shipments advance at once, interleaved at random; a finished one is replaced by a
    new one. Each shipment's events follow the catalog order. About a quarter of the shipments
    belong to the ``featured`` importers (the demo operator), when given.
    """
    now = clock or (lambda: datetime.now(UTC))
    simulator = Simulator(seed, featured=featured)
    pool: list[tuple[Shipment, int]] = []
    while True:
        while len(pool) < active:
            pool.append((simulator.shipment(now().year), 0))
        slot = simulator.rng.randrange(len(pool))
        plan, position = pool[slot]
        yield simulator.event(plan, plan.steps[position], now())
        if position + 1 < len(plan.steps):
            pool[slot] = (plan, position + 1)
        else:
            pool.pop(slot)
