"""A compiled yes/no check of the stage-event schema (jsonschema-rs), for throughput.

The shared contract's validator (python-jsonschema) explains every problem but handles about
4 k events/s on this machine, well below the producer's rate. This check compiles the same
``schemas/`` documents with the same identifier rules (the ``senae-*`` formats call
``shared.identifiers``) and answers only valid/invalid; invalid events are then explained by the
contract, which stays authoritative. A test checks that both agree.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from typing import Any

import jsonschema_rs

from senae_tracking.shared import contract, identifiers
from senae_tracking.shared.catalog import load_catalog
from senae_tracking.shared.resources import schemas_dir


def _formats() -> dict[str, Any]:
    catalog = load_catalog()
    districts, regimes = frozenset(catalog.districts), frozenset(catalog.regimes)
    return {
        "senae-ruc": lambda v: identifiers.check_ruc(v) is None,
        "senae-dai": lambda v: identifiers.check_dai(v, districts, regimes) is None,
        "senae-numero-entrega": lambda v: identifiers.check_numero_entrega(v) is None,
        "senae-awb": lambda v: identifiers.check_awb(v) is None,
    }


@cache
def stage_event_check() -> Callable[[Any], bool]:
    """A function telling whether a value is a valid stage event per ``schemas/`` (no time rules)."""
    with (schemas_dir() / "common.v1.json").open(encoding="utf-8") as fh:
        common = json.load(fh)
    registry = jsonschema_rs.Registry([(common["$id"], common)])
    validator = jsonschema_rs.Draft202012Validator(
        contract.schema_for(contract.STAGE_EVENT), formats=_formats(), validate_formats=True,
        registry=registry,
    )

    def check(value: Any) -> bool:
        try:
            return bool(validator.is_valid(value))
        except (ValueError, TypeError, OverflowError):
            return False  # values JSON cannot hold (e.g. huge ints): let the contract explain

    return check

