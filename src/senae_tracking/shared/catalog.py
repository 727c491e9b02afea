"""The stage catalog (``schemas/catalog.json``) as typed, immutable Python objects.

Pure data: no I/O beyond reading the file once. The state machine and every label shown to users
come from here, so the process can change without touching code.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from typing import Any

from senae_tracking.shared.resources import schemas_dir


@dataclass(frozen=True)
class Stage:
    """A stage of the import process."""

    code: str
    order: int
    label_es: str
    label_en: str
    terminal: bool


@dataclass(frozen=True)
class SideEvent:
    """An event that does not change the stage but matters to the operator."""

    code: str
    label_es: str
    label_en: str
    allowed_from: frozenset[str]


@dataclass(frozen=True)
class Channel:
    """An inspection (aforo) channel assigned when the DAI is accepted."""

    code: str
    label_es: str
    label_en: str
    inspects: bool


@dataclass(frozen=True)
class Catalog:
    """The whole catalog: stages, side events, channels, transitions and reference lists."""

    stages: dict[str, Stage]
    side_events: dict[str, SideEvent]
    channels: dict[str, Channel]
    initial_stages: frozenset[str]
    common_transitions: dict[str, frozenset[str]]
    channel_transitions: dict[str, dict[str, frozenset[str]]]
    requires: dict[str, dict[str, frozenset[str]]]
    endings: frozenset[str]
    endings_from: frozenset[str]
    districts: dict[str, str]
    regimes: dict[str, str]
    transport_documents: dict[str, str]

    def label(self, code: str, lang: str = "es") -> str:
        """Label of a stage, side event or channel code in ``lang`` (es or en); the code if unknown."""
        item: Stage | SideEvent | Channel | None = (
            self.stages.get(code) or self.side_events.get(code) or self.channels.get(code)
        )
        if item is None:
            return code
        return item.label_en if lang == "en" else item.label_es

    def next_stages(self, current: str | None, channel: str | None) -> frozenset[str]:
        """Stages reachable in one step from ``current`` (None: not seen yet) under ``channel``."""
        if current is None:
            return self.initial_stages
        allowed: set[str] = set(self.common_transitions.get(current, frozenset()))
        if channel is not None:
            allowed |= self.channel_transitions.get(channel, {}).get(current, frozenset())
        if current in self.endings_from:
            allowed |= self.endings
        return frozenset(allowed)

    def required_before(self, stage: str, channel: str | None) -> frozenset[str]:
        """Stages that must all have been passed before entering ``stage`` under ``channel``."""
        if channel is None:
            return frozenset()
        return self.requires.get(channel, {}).get(stage, frozenset())

    @property
    def event_codes(self) -> frozenset[str]:
        """Every code a stage event may carry: stages and side events."""
        return frozenset(self.stages) | frozenset(self.side_events)


def _sets(mapping: dict[str, list[str]]) -> dict[str, frozenset[str]]:
    return {k: frozenset(v) for k, v in mapping.items() if not k.startswith("$")}


def parse_catalog(raw: dict[str, Any]) -> Catalog:
    """Build a Catalog from the decoded JSON document."""
    transitions = raw["transitions"]
    return Catalog(
        stages={s["code"]: Stage(s["code"], s["order"], s["label_es"], s["label_en"], s["terminal"])
                for s in raw["stages"]},
        side_events={
            e["code"]: SideEvent(e["code"], e["label_es"], e["label_en"], frozenset(e["allowed_from"]))
            for e in raw["side_events"]
        },
        channels={c["code"]: Channel(c["code"], c["label_es"], c["label_en"], c["inspects"])
                  for c in raw["channels"]},
        initial_stages=frozenset(raw["initial_stages"]),
        common_transitions=_sets(transitions["common"]),
        channel_transitions={ch: _sets(t) for ch, t in transitions["by_channel"].items()},
        requires={ch: _sets(t) for ch, t in transitions["requires"].items() if not ch.startswith("$")},
        endings=frozenset(transitions["endings"]),
        endings_from=frozenset(transitions["endings_from"]),
        districts={d["code"]: d["name"] for d in raw["districts"]},
        regimes={r["code"]: r["label_es"] for r in raw["regimes"]},
        transport_documents={d["code"]: d["label_es"] for d in raw["transport_documents"]},
    )


@cache
def load_catalog() -> Catalog:
    """The catalog shipped in ``schemas/catalog.json`` (read once per process)."""
    with (schemas_dir() / "catalog.json").open(encoding="utf-8") as fh:
        return parse_catalog(json.load(fh))
