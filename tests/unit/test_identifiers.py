"""Identifier validators: real-looking valid values and each rule's failure."""

import pytest

from senae_tracking.shared import identifiers as ids
from senae_tracking.shared.catalog import load_catalog

CAT = load_catalog()


@pytest.mark.parametrize("ruc", [
    "1790016919001",  # private company, Pichincha
    "0992367857001",  # private company, Guayas
    "1712345675001",  # natural person (cédula + 001)
    "0968562610001",  # public entity
    "3091234563001",  # code 30
])
def test_valid_rucs(ruc: str) -> None:
    assert ids.check_ruc(ruc) is None


@pytest.mark.parametrize("ruc, reason", [
    ("179001691900", "13 digits"),
    ("17900169190O1", "13 digits"),
    ("2590016919001", "province code 25"),
    ("1790016918001", "check digit (position 10, modulo 11)"),
    ("1712345674001", "check digit (position 10, modulo 10)"),
    ("0968562660001", "check digit (position 9, modulo 11)"),
    ("1770016919001", "third digit 7"),
    ("1790016919000", "establishment suffix"),
])
def test_invalid_rucs_name_the_rule(ruc: str, reason: str) -> None:
    assert reason in (ids.check_ruc(ruc) or "")


def test_ruc_with_check_digit_completes_valid_rucs() -> None:
    for prefix in ["179001691", "171234567", "096856266", "099876543"]:
        assert ids.check_ruc(ids.ruc_with_check_digit(prefix)) is None


@pytest.mark.parametrize("dai", ["028-2025-10-00012345", "019-2024-10-00000001", "055-2026-70-12345678"])
def test_valid_dai(dai: str) -> None:
    assert ids.check_dai(dai, CAT.districts, CAT.regimes) is None


@pytest.mark.parametrize("dai, reason", [
    ("028-2025-10-0001234", "shape"),
    ("0282025100012345", "shape"),
    ("999-2025-10-00012345", "district '999'"),
    ("028-1999-10-00012345", "year 1999"),
    ("028-2025-99-00012345", "regime 99"),
    ("028-2025-10-00000000", "sequence"),
])
def test_invalid_dai(dai: str, reason: str) -> None:
    assert reason in (ids.check_dai(dai, CAT.districts, CAT.regimes) or "")


def test_numero_entrega() -> None:
    assert ids.check_numero_entrega("179001692025000123451") is None
    assert "21 digits" in (ids.check_numero_entrega("17900169202500012345") or "")
    assert "year 1890" in (ids.check_numero_entrega("179001691890000123451") or "")
    assert "sequence" in (ids.check_numero_entrega("179001692025000000001") or "")


def test_air_waybill() -> None:
    assert ids.check_awb("729-12345675") is None
    assert ids.check_awb("72912345675") is None
    assert "modulo 7" in (ids.check_awb("729-12345670") or "")
    assert "air waybill" in (ids.check_awb("AB-1") or "")


def test_district() -> None:
    assert ids.check_district("028", CAT.districts) is None
    assert "not a known" in (ids.check_district("029", CAT.districts) or "")
