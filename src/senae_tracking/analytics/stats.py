"""Statistics over the event log as plain, idempotent accumulators (no Kafka, no SQL).

Each accumulator remembers the event ids it has counted, so reading a record twice (at-least-once
delivery, a replay that overlaps) counts it once.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from senae_tracking.shared.contract import parse_time

GUAYAQUIL = ZoneInfo("America/Guayaquil")

#: Columns of the published transparency table.
MONTHLY_COLUMNS = ("anio", "mes", "quejas", "atenciones")


def month_of(occurred_at: str) -> tuple[int, int]:
    """(year, month) of an RFC 3339 time, counted in Ecuador's time zone."""
    local = parse_time(occurred_at).astimezone(GUAYAQUIL)
    return local.year, local.month


@dataclass
class MonthlyTable:
    """Complaints (quejas) and attentions (atenciones) per month, as SENAE publishes them."""

    quejas: Counter[tuple[int, int]] = field(default_factory=Counter)
    atenciones: Counter[tuple[int, int]] = field(default_factory=Counter)
    _seen: set[str] = field(default_factory=set)

    def add(self, kind: str, message: Mapping[str, Any]) -> bool:
        """Count one attention or complaint message; False if its event id was already counted."""
        event_id = str(message["event_id"])
        if event_id in self._seen:
            return False
        self._seen.add(event_id)
        counter = self.quejas if kind == "complaint" else self.atenciones
        counter[month_of(str(message["occurred_at"]))] += 1
        return True

    def rows(self) -> list[dict[str, int]]:
        """One row per month with any activity, newest first (the published order)."""
        months = sorted(set(self.quejas) | set(self.atenciones), reverse=True)
        return [{"anio": y, "mes": m, "quejas": self.quejas[(y, m)],
                 "atenciones": self.atenciones[(y, m)]} for y, m in months]


@dataclass(frozen=True)
class DwellSummary:
    """How long shipments stayed in one stage."""

    stage: str
    count: int
    mean_hours: float
    median_hours: float
    p90_hours: float


@dataclass
class DwellTimes:
    """Time spent in each stage, from stage-advanced records (``previous_stage``, ``dwell_seconds``)."""

    samples: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    _seen: set[str] = field(default_factory=set)

    def add(self, message: Mapping[str, Any]) -> bool:
        """Record one stage change's dwell time; False if already counted or it carries none."""
        event_id = str(message["event_id"])
        previous, dwell = message.get("previous_stage"), message.get("dwell_seconds")
        if event_id in self._seen or previous is None or dwell is None:
            return False
        self._seen.add(event_id)
        self.samples[str(previous)].append(float(dwell))
        return True

    def summary(self, order: Iterable[str]) -> list[DwellSummary]:
        """Per stage in ``order`` (catalog order), the count, mean, median and 90th percentile."""
        result = []
        for stage in order:
            values = sorted(self.samples.get(stage, []))
            if not values:
                continue
            p90 = values[min(len(values) - 1, int(0.9 * len(values)))]
            result.append(DwellSummary(stage, len(values), statistics.fmean(values) / 3600,
                                       statistics.median(values) / 3600, p90 / 3600))
        return result
