"""The bookkeeping of outputs already emitted (no broker: the reading is tested in integration)."""

from __future__ import annotations

from senae_tracking.services.processor.emitted import EmittedLog
from senae_tracking.services.processor.pipeline import Send
from senae_tracking.shared.settings import Settings


def log_with(ids: set[str]) -> EmittedLog:
    emitted = EmittedLog(Settings(kafka_bootstrap="127.0.0.1:1"), ["adv", "ano"])
    emitted._ids |= ids
    emitted._scanned |= {"src:0", "src:1"}
    return emitted


def test_only_outputs_not_in_the_topics_are_sent() -> None:
    emitted = log_with({"a"})
    sends = [Send("adv", "S1", b"{}", "a"), Send("adv", "S1", b"{}", "b")]
    assert [s.event_id for s in emitted.unsent(sends)] == ["b"]


def test_ends_only_grow_and_ignore_other_topics() -> None:
    emitted = log_with(set())
    emitted.advance({("adv", 0): 10, ("stats", 0): 99})
    emitted.advance({("adv", 0): 7, ("ano", 1): 3})
    assert emitted.ends() == {"adv:0": 10, "ano:1": 3}


def test_ids_are_dropped_once_every_source_must_be_read_again() -> None:
    emitted = log_with({"a"})
    emitted.forget(["src:0"])
    assert [s.event_id for s in emitted.unsent([Send("adv", "S", b"{}", "a")])] == []
    emitted.forget(["src:1"])
    assert [s.event_id for s in emitted.unsent([Send("adv", "S", b"{}", "a")])] == ["a"]
