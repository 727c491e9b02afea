"""Monthly counters (America/Guayaquil) kept as per-source-partition snapshots; pure code.

Each source partition (``topic:partition``) owns a snapshot ``{"wm": offset, "counts": {...}}``:
the cumulative counts of every record up to offset ``wm``. A record at an offset not after ``wm``
was already counted (a redelivery after a restart) and is skipped, so counting is idempotent. A
snapshot is a deterministic function of its partition's log prefix, so the aggregate view keeps,
per source, only the snapshot with the highest ``wm`` and sums them.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from datetime import datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from senae_tracking.shared.contract import parse_time

TZ = ZoneInfo("America/Guayaquil")
#: The columns of the published transparency table.
MONTHLY_COLUMNS = ("anio", "mes", "quejas", "atenciones")
STAGE_COLUMNS = ("anio", "mes", "distrito", "stage", "entradas")


@lru_cache(maxsize=65536)
def _month_of_hour(prefix: str, offset: str) -> str:
    when = datetime.fromisoformat(f"{prefix}:00:00{offset}")
    return when.astimezone(TZ).strftime("%Y-%m")


def month_key(occurred_at: str) -> str:
    """``YYYY-MM`` of an RFC 3339 time in Ecuador's time zone (cached per hour and offset)."""
    text = occurred_at.replace("z", "Z")
    if len(text) >= 20 and text[10] in "Tt " and text[13] == ":":
        offset = "+00:00" if text.endswith("Z") else text[-6:]
        if offset[0] in "+-" and offset[3] == ":":
            return _month_of_hour(text[:10] + "T" + text[11:13], offset)
    return parse_time(occurred_at).astimezone(TZ).strftime("%Y-%m")


def empty_snapshot() -> dict[str, Any]:
    """A snapshot that has counted nothing."""
    return {"wm": -1, "counts": {}}


def newer(current: Mapping[str, Any] | None, candidate: Mapping[str, Any]) -> bool:
    """True when ``candidate`` covers more of its source partition than ``current``."""
    return current is None or int(candidate["wm"]) > int(current["wm"])


def monthly_rows(snapshots: Mapping[str, Mapping[str, Any]], attentions_topic: str,
                 complaints_topic: str) -> list[dict[str, int]]:
    """The transparency table (anio, mes, quejas, atenciones) summed over every source snapshot."""
    totals: dict[str, list[int]] = {}
    for source, snap in snapshots.items():
        topic = source.rsplit(":", 1)[0]
        column = 0 if topic == complaints_topic else 1 if topic == attentions_topic else None
        if column is None:
            continue
        for month, count in snap["counts"].items():
            totals.setdefault(month, [0, 0])[column] += int(count)
    return [{"anio": int(m[:4]), "mes": int(m[5:7]), "quejas": q, "atenciones": a}
            for m, (q, a) in sorted(totals.items())]


def stage_rows(snapshots: Mapping[str, Mapping[str, Any]], stages_topic: str) -> list[dict[str, Any]]:
    """Stage entries per month, district and stage, summed over the stage-events sources."""
    totals: dict[str, int] = {}
    for source, snap in snapshots.items():
        if source.rsplit(":", 1)[0] != stages_topic:
            continue
        for key, count in snap["counts"].items():
            totals[key] = totals.get(key, 0) + int(count)
    rows = []
    for key, count in sorted(totals.items()):
        month, district, stage = key.split("|")
        rows.append({"anio": int(month[:4]), "mes": int(month[5:7]), "distrito": district or None,
                     "stage": stage, "entradas": count})
    return rows


def stage_key(occurred_at: str, district: str | None, stage: str) -> str:
    """Counter key of one stage entry."""
    return f"{month_key(occurred_at)}|{district or ''}|{stage}"


def to_csv(rows: Iterable[Mapping[str, Any]], columns: tuple[str, ...]) -> str:
    """Rows as CSV with a header; months zero-padded as in the published table."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([f"{row[c]:02d}" if c == "mes" else ("" if row[c] is None else row[c])
                         for c in columns])
    return out.getvalue()
