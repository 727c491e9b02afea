"""The published transparency table and a generator of the attention/complaint log behind it.

``generate_log`` turns the monthly table (anio, mes, quejas, atenciones) into one contract-valid
message per complaint and per attention, at random instants inside each month *in Ecuador's time
zone*; half of the instants are written in UTC (``Z``) so that counting must convert time zones
to reproduce the table (an attention at 02:00Z on the 1st belongs to the previous month).
"""

from __future__ import annotations

import csv
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from senae_tracking.services.processor.counters import TZ
from senae_tracking.shared import identifiers, topics

SUBJECTS = ("Estado sin actualizar", "Demora en el aforo", "Error en la liquidación")


@dataclass(frozen=True)
class MonthRow:
    """One row of the published table."""

    anio: int
    mes: int
    quejas: int
    atenciones: int


def read_table(path: Path) -> list[MonthRow]:
    """Read the published CSV (columns anio, mes, quejas, atenciones)."""
    with path.open(encoding="utf-8", newline="") as fh:
        return [MonthRow(int(r["anio"]), int(r["mes"]), int(r["quejas"]), int(r["atenciones"]))
                for r in csv.DictReader(fh)]


def scale_table(rows: list[MonthRow], divisor: int) -> list[MonthRow]:
    """A smaller table with the same shape: attentions divided (rounded up), complaints kept."""
    return [MonthRow(r.anio, r.mes, r.quejas, -(-r.atenciones // divisor)) for r in rows]


def table_csv(rows: list[MonthRow]) -> str:
    """The table as the published CSV text."""
    lines = ["anio,mes,quejas,atenciones"]
    lines += [f"{r.anio},{r.mes:02d},{r.quejas},{r.atenciones}" for r in rows]
    return "\n".join(lines) + "\n"


def _rucs(rng: random.Random, count: int) -> list[str]:
    found: list[str] = []
    while len(found) < count:
        prefix = f"{rng.randint(1, 24):02d}9{rng.randint(0, 999999):06d}"
        try:
            found.append(identifiers.ruc_with_check_digit(prefix))
        except ValueError:
            continue
    return found


def _month_bounds(row: MonthRow) -> tuple[float, float]:
    start = datetime(row.anio, row.mes, 1, tzinfo=TZ)
    end = datetime(row.anio + row.mes // 12, row.mes % 12 + 1, 1, tzinfo=TZ)
    return start.timestamp(), end.timestamp()


def _instant(rng: random.Random, start: float, end: float) -> str:
    moment = rng.uniform(start, end - 1)
    if rng.random() < 0.5:
        return datetime.fromtimestamp(int(moment), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return datetime.fromtimestamp(int(moment), TZ).isoformat()


def generate_log(rows: list[MonthRow], seed: int = 2025) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """Yield (topic, key, message) for every complaint and attention of ``rows``, month by month."""
    rng = random.Random(seed)
    rucs = _rucs(rng, 500)
    for row in rows:
        start, end = _month_bounds(row)
        for kind, count in (("complaint", row.quejas), ("attention", row.atenciones)):
            for _ in range(count):
                ruc = rucs[rng.randrange(len(rucs))]
                message: dict[str, Any] = {
                    "schema": {"name": f"senae.{kind}", "version": 1},
                    "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                    "occurred_at": _instant(rng, start, end), "ruc": ruc, "channel": "CARGA_HISTORICA",
                }
                if kind == "complaint":
                    message["asunto"] = SUBJECTS[rng.randrange(len(SUBJECTS))]
                    yield topics.COMPLAINTS.name, ruc, message
                else:
                    message["query"] = "LISTADO"
                    yield topics.ATTENTIONS.name, ruc, message
