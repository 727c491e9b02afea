"""The compiled schema check never accepts what the shared contract rejects."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from senae_tracking.services.ingest.simulator import generate_events
from senae_tracking.shared import contract

EVENTS = generate_events(60, seed=8, end=datetime(2025, 5, 1, tzinfo=UTC))
FIELDS = sorted({k for e in EVENTS for k in e} | {"color"})
VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=30),
    st.sampled_from(["1790016919001", "1790016918001", "028-2025-10-00012345", "999-2025-10-00000001",
                     "AFORO", "FISICO", "2025-02-30T00:00:00Z", "2025-03-01T00:00:00", "028", "000",
                     "179001692025000123451", "179001692025000000001",
                     "00000000-0000-0000-0000-000000000000"]),
    st.fixed_dictionaries({"tipo": st.sampled_from(["AWB", "BL", "X"]),
                           "numero": st.sampled_from(["729-12345675", "729-12345676", "MEDU1"])}),
)


@given(st.sampled_from(EVENTS), st.lists(st.tuples(st.sampled_from(FIELDS), VALUES), max_size=3),
       st.lists(st.sampled_from(FIELDS), max_size=2))
@settings(max_examples=400, deadline=None)
def test_fast_check_agrees_with_the_contract(event: dict[str, Any], changes: list[tuple[str, Any]],
                                             removed: list[str]) -> None:
    mutated = copy.deepcopy(event)
    for field, value in changes:
        mutated[field] = value
    for field in removed:
        mutated.pop(field, None)
    issues = contract.validate(contract.STAGE_EVENT, mutated)
    assert contract.fast_check(contract.STAGE_EVENT)(mutated) == (issues == []), issues


def test_simulated_events_pass_both() -> None:
    check = contract.fast_check(contract.STAGE_EVENT)
    assert all(check(e) for e in EVENTS)
