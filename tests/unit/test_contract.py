"""Every schema accepts its own examples and rejects broken messages with the field named."""

import copy
from typing import Any

import pytest

from senae_tracking.shared import contract


@pytest.mark.parametrize("kind", contract.KINDS)
def test_schema_accepts_its_examples(kind: str) -> None:
    examples = contract.schema_for(kind)["examples"]
    assert examples, f"{kind} has no examples"
    for example in examples:
        assert contract.validate(kind, example) == []


def _example(kind: str) -> dict[str, Any]:
    return copy.deepcopy(contract.schema_for(kind)["examples"][0])


@pytest.mark.parametrize("kind", contract.KINDS)
def test_missing_event_id_is_named(kind: str) -> None:
    message = _example(kind)
    del message["event_id"]
    assert contract.Issue("event_id", "es obligatorio / is required") in contract.validate(kind, message)


@pytest.mark.parametrize("kind", contract.KINDS)
def test_time_without_offset_is_rejected(kind: str) -> None:
    message = _example(kind)
    message["occurred_at"] = "2025-03-10T08:15:00"
    fields = [i.field for i in contract.validate(kind, message)]
    assert fields == ["occurred_at"]


@pytest.mark.parametrize("kind", contract.KINDS)
def test_unknown_field_and_wrong_schema_name(kind: str) -> None:
    message = _example(kind)
    message["surprise"] = 1
    message["schema"]["name"] = "senae.other"
    issues = contract.validate(kind, message)
    assert contract.Issue("surprise", "no es un campo permitido / is not an allowed field") in issues
    assert any(i.field == "schema.name" for i in issues)


@pytest.mark.parametrize("field, value, needle", [
    ("ruc_importador", "1790016918001", "check digit"),
    ("ruc_importador", 1790016919001, "debe ser texto / must be of type string"),
    ("stage", "EN_BODEGA", "not one of"),
    ("distrito", "999", "not one of"),
    ("event_id", "not-a-uuid", "UUID"),
    ("shipment_id", "", "Identifier of the tracked shipment"),
])
def test_stage_event_field_errors(field: str, value: object, needle: str) -> None:
    message = _example(contract.STAGE_EVENT)
    message[field] = value
    issues = contract.validate(contract.STAGE_EVENT, message)
    assert [i.field for i in issues] == [field]
    assert needle in issues[0].message
    assert " / " in issues[0].message, "Spanish first, then English"


def test_stage_rules_require_their_identifiers() -> None:
    base = _example(contract.STAGE_EVENT)
    for stage, field in [("DAI_TRANSMITIDA", "dai"), ("DAI_ACEPTADA", "canal"),
                         ("OBSERVACION", "observacion")]:
        message = {k: base[k] for k in ("schema", "event_id", "occurred_at", "shipment_id")}
        message["stage"] = stage
        assert contract.Issue(field, "es obligatorio / is required") in contract.validate(
            contract.STAGE_EVENT, message)


def test_nested_fields_are_named_with_their_path() -> None:
    message = _example(contract.STAGE_EVENT)
    message["documento_transporte"] = {"tipo": "AWB", "numero": "729-12345670"}
    issues = contract.validate(contract.STAGE_EVENT, message)
    assert issues == [contract.Issue(
        "documento_transporte.numero", "el dígito verificador de la guía aérea (serie módulo 7) no coincide"
        " / air waybill check digit (serial modulo 7) does not match")]


def test_dai_rule_is_named() -> None:
    message = _example(contract.STAGE_EVENT)
    message["dai"] = "999-2025-10-00012345"
    assert contract.validate(contract.STAGE_EVENT, message) == [
        contract.Issue("dai", "el distrito '999' no es un distrito aduanero conocido"
                              " / district '999' is not a known customs district")]


def test_non_object_and_check() -> None:
    assert contract.validate(contract.STAGE_EVENT, [1]) == [
        contract.Issue("(message)", "debe ser un objeto JSON / must be a JSON object")]
    with pytest.raises(contract.ContractError, match="stage: "):
        contract.check(contract.STAGE_EVENT, {**_example(contract.STAGE_EVENT), "stage": "X"})


def test_envelope_and_derived_ids() -> None:
    message = contract.envelope(contract.ATTENTION, {"ruc": "1790016919001"})
    assert contract.validate(contract.ATTENTION, message) == []
    source = message["event_id"]
    assert contract.derived_event_id(source, "advanced") == contract.derived_event_id(
        source, "advanced")
    assert contract.parse_time("2025-03-15T09:30:00Z").utcoffset() is not None
