"""Rebuild every shipment's state from the stage-event log, offline, with the worker's own rules.

Pure code over records (the command in ``cli.py`` reads them from the topic): the same
:func:`pipeline.plan_stage_batch` the worker runs, over in-memory dictionaries, so an analyst can
rebuild the state of any moment of the log, export it, and compare it with what the workers serve.
Nothing is emitted: the counts of what the worker would emit are reported instead.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from senae_tracking.services.processor import counters, pipeline
from senae_tracking.shared.catalog import Catalog

#: Records planned at a time; the result does not depend on it (the plan of a batch is the plan of
#: its records in order).
CHUNK = 5000


@dataclass
class Rebuilt:
    """Shipment states and stage-entry counters as a worker would hold them after the log."""

    states: dict[str, dict[str, Any]] = field(default_factory=dict)
    snapshots: dict[str, dict[str, Any]] = field(default_factory=dict)
    records: int = 0
    advanced: int = 0
    anomalies: int = 0
    invalid: int = 0

    def shipments(self, catalog: Catalog) -> list[dict[str, Any]]:
        """Every shipment that has a stage, as ``GET /shipments/{id}`` shows it, by id."""
        return [pipeline.public_shipment(catalog, state) for _sid, state in sorted(self.states.items())
                if state.get("stage") is not None]

    def stage_rows(self, stages_topic: str) -> list[dict[str, Any]]:
        """Stage entries per month, district and stage, as ``GET /stats/stages`` gives them."""
        return counters.stage_rows(self.snapshots, stages_topic)


def rebuild(catalog: Catalog, records: Iterable[pipeline.Record], *, advanced_topic: str,
            anomalies_topic: str) -> Rebuilt:
    """Run the state machine over ``records`` (each partition in offset order)."""
    out = Rebuilt()
    chunk: list[pipeline.Record] = []

    def flush() -> None:
        plan = pipeline.plan_stage_batch(catalog, chunk, out.states.get, out.snapshots.get,
                                         advanced_topic=advanced_topic, anomalies_topic=anomalies_topic)
        out.states.update({sid: state for sid, (_p, state) in plan.states.items()})
        out.snapshots.update({source: snap for source, (_p, snap) in plan.snapshots.items()})
        out.advanced += sum(1 for s in plan.sends if s.topic == advanced_topic)
        out.anomalies += sum(1 for s in plan.sends if s.topic == anomalies_topic)
        out.invalid += plan.invalid
        out.records += len(chunk)
        chunk.clear()

    for record in records:
        chunk.append(record)
        if len(chunk) >= CHUNK:
            flush()
    if chunk:
        flush()
    return out
