"""The live simulator gives part of its shipments to featured importers (the demo operator)."""

from itertools import islice

from senae_tracking.services.ingest.simulator import live_events

DEMO = "1790016919001"


def test_featured_importer_gets_about_a_quarter_of_the_shipments() -> None:
    events = list(islice(live_events(seed=7, active=20, featured=[DEMO]), 3000))
    importers = {e["shipment_id"]: e["ruc_importador"] for e in events if "ruc_importador" in e}
    share = sum(1 for ruc in importers.values() if ruc == DEMO) / len(importers)
    assert 0.1 < share < 0.4


def test_without_featured_importers_the_stream_is_unchanged() -> None:
    assert list(islice(live_events(seed=3), 50)) != [] and all(
        e["ruc_importador"] != DEMO for e in islice(live_events(seed=3), 500) if "ruc_importador" in e)
