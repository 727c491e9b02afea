"""The stage catalog data file is coherent and its transitions follow the customs process."""

from senae_tracking.shared.catalog import load_catalog

CAT = load_catalog()


def test_every_transition_names_known_stages() -> None:
    stages = set(CAT.stages)
    for source, targets in CAT.common_transitions.items():
        assert source in stages and targets <= stages
    for channel, table in CAT.channel_transitions.items():
        assert channel in CAT.channels
        for source, targets in table.items():
            assert source in stages and targets <= stages
    for event in CAT.side_events.values():
        assert event.allowed_from <= stages


def test_automatic_channel_skips_inspection() -> None:
    assert "AFORO" not in CAT.next_stages("DAI_ACEPTADA", "AUTOMATICO")
    assert "AFORO" in CAT.next_stages("DAI_ACEPTADA", "FISICO")


def test_payment_may_come_before_or_after_inspection() -> None:
    assert "PAGO" in CAT.next_stages("AFORO", "DOCUMENTAL")
    assert "AFORO" in CAT.next_stages("PAGO", "DOCUMENTAL")
    assert CAT.required_before("SALIDA_AUTORIZADA", "FISICO") == {"AFORO", "PAGO"}


def test_terminal_stages_lead_nowhere_and_endings_are_reachable() -> None:
    for code, stage in CAT.stages.items():
        if stage.terminal:
            assert CAT.next_stages(code, "FISICO") == frozenset()
    assert {"ABANDONO", "ANULACION"} <= CAT.next_stages("ARRIBO", None)


def test_every_path_stage_is_reachable_from_the_start() -> None:
    for channel in CAT.channels:
        seen: set[str] = set()
        frontier = set(CAT.next_stages(None, None))
        while frontier:
            stage = frontier.pop()
            seen.add(stage)
            frontier |= CAT.next_stages(stage, channel) - seen
        expected = set(CAT.stages) - ({"AFORO"} if channel == "AUTOMATICO" else set())
        assert seen == expected, channel


def test_labels_spanish_first() -> None:
    assert CAT.label("FISICO") == "Aforo físico"
    assert CAT.label("FISICO", "en") == "Physical inspection"
    assert CAT.label("OBSERVACION").startswith("Observación")
