"""Validators for Ecuadorian customs identifiers: RUC, DAI number, número de entrega, district, AWB.

Plain functions with no I/O. Each ``check_*`` returns ``None`` when the value is valid, or a short
English reason naming the rule that failed; ``is_valid_*`` wraps it as a boolean.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

_RUC_RE = re.compile(r"^\d{13}$")
#: A DAI number's shape: district, year, regime, sequence (the values are checked by check_dai).
DAI_RE = re.compile(r"^(\d{3})-(\d{4})-(\d{2})-(\d{8})$")
#: A shipment id: 3-64 letters, digits, ".", "_" or "-", starting with a letter or digit.
SHIPMENT_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{2,63}$")
_ENTREGA_RE = re.compile(r"^\d{21}$")
_AWB_RE = re.compile(r"^(\d{3})-?(\d{7})(\d)$")

#: Province codes of Ecuador (01-24) plus 30 for foreigners' and special registrations.
PROVINCE_CODES = frozenset({f"{n:02d}" for n in range(1, 25)} | {"30"})

_PRIVATE_WEIGHTS = (4, 3, 2, 7, 6, 5, 4, 3, 2)
_PUBLIC_WEIGHTS = (3, 2, 7, 6, 5, 4, 3, 2)


def _mod11_digit(digits: str, weights: Iterable[int]) -> int | None:
    """Return the modulo-11 check digit for ``digits``, or None when the remainder makes it 10."""
    total = sum(int(d) * w for d, w in zip(digits, weights, strict=False))
    check = 11 - total % 11
    if check == 11:
        return 0
    if check == 10:
        return None
    return check


def _mod10_digit(digits: str) -> int:
    """Return the modulo-10 check digit of a cédula (coefficients 2,1,2,1,...)."""
    total = 0
    for i, d in enumerate(digits[:9]):
        product = int(d) * (2 if i % 2 == 0 else 1)
        total += product - 9 if product > 9 else product
    return (10 - total % 10) % 10


def check_ruc(value: str) -> str | None:
    """Check a RUC: 13 digits, province code, type digit, check digit and establishment suffix."""
    if not isinstance(value, str) or not _RUC_RE.match(value):
        return "debe tener exactamente 13 dígitos / must be exactly 13 digits"
    if value[:2] not in PROVINCE_CODES:
        return (f"el código de provincia {value[:2]} no es 01-24 ni 30 / "
                f"province code {value[:2]} is not 01-24 or 30")
    kind = int(value[2])
    if kind <= 5:  # natural person: cédula + establishment
        if _mod10_digit(value[:9]) != int(value[9]):
            return ("el dígito verificador (posición 10, módulo 10) no coincide / "
                    "check digit (position 10, modulo 10) does not match")
        suffix = value[10:]
    elif kind == 6:  # public entity
        if _mod11_digit(value[:8], _PUBLIC_WEIGHTS) != int(value[8]):
            return ("el dígito verificador (posición 9, módulo 11) no coincide / "
                    "check digit (position 9, modulo 11) does not match")
        suffix = value[9:]
    elif kind == 9:  # private company or foreigner without cédula
        if _mod11_digit(value[:9], _PRIVATE_WEIGHTS) != int(value[9]):
            return ("el dígito verificador (posición 10, módulo 11) no coincide / "
                    "check digit (position 10, modulo 11) does not match")
        suffix = value[10:]
    else:
        return (f"el tercer dígito {kind} no es un tipo de contribuyente (0-6 o 9) / "
                f"third digit {kind} is not a taxpayer type (0-6 or 9)")
    if int(suffix) == 0:
        return ("el sufijo de establecimiento no puede ser cero (p. ej. 001) / "
                "establishment suffix must not be zero (e.g. 001)")
    return None


def check_district(value: str, known: Iterable[str]) -> str | None:
    """Check a customs district code against the catalog's list."""
    if value not in set(known):
        return (f"el distrito {value!r} no es un distrito aduanero conocido / "
                f"district {value!r} is not a known customs district")
    return None


def check_dai(value: str, districts: Iterable[str], regimes: Iterable[str]) -> str | None:
    """Check a DAI number ``DDD-YYYY-RR-NNNNNNNN``: known district, plausible year, known regime."""
    if not isinstance(value, str):
        return "debe ser un texto DDD-YYYY-RR-NNNNNNNN / must be a string DDD-YYYY-RR-NNNNNNNN"
    match = DAI_RE.match(value)
    if not match:
        return "debe tener la forma / must have the shape DDD-YYYY-RR-NNNNNNNN (e.g. 028-2025-10-00012345)"
    district, year, regime, sequence = match.groups()
    if (reason := check_district(district, districts)) is not None:
        return reason
    if not 2000 <= int(year) <= 2099:
        return f"el año {year} está fuera de 2000-2099 / year {year} is out of range 2000-2099"
    if regime not in set(regimes):
        return (f"el régimen {regime} no es un régimen de importación conocido / "
                f"regime {regime} is not a known import regime")
    if int(sequence) == 0:
        return "la secuencia no puede ser cero / sequence must not be zero"
    return None


def check_numero_entrega(value: str) -> str | None:
    """Check a número de entrega: 21 digits = OCE code (8), year (4), sequence (8), channel (1)."""
    if not isinstance(value, str) or not _ENTREGA_RE.match(value):
        return "debe tener exactamente 21 dígitos / must be exactly 21 digits"
    year = int(value[8:12])
    if not 2000 <= year <= 2099:
        return (f"el año {year} (dígitos 9-12) está fuera de 2000-2099 / "
                f"year {year} (digits 9-12) is out of range 2000-2099")
    if int(value[12:20]) == 0:
        return "la secuencia (dígitos 13-20) no puede ser cero / sequence (digits 13-20) must not be zero"
    return None


def check_awb(value: str) -> str | None:
    """Check an air waybill number: 3-digit airline prefix and 8-digit serial with a modulo-7 check."""
    match = _AWB_RE.match(value) if isinstance(value, str) else None
    if not match:
        return ("debe ser una guía aérea: prefijo de 3 dígitos y 8 dígitos / "
                "must be an air waybill number: 3-digit prefix and 8 digits (e.g. 729-12345675)")
    _prefix, serial, check = match.groups()
    if int(serial) % 7 != int(check):
        return ("el dígito verificador de la guía aérea (serie módulo 7) no coincide / "
                "air waybill check digit (serial modulo 7) does not match")
    return None


def ruc_with_check_digit(prefix: str) -> str:
    """Complete a RUC from its first 9 (private/natural) or 8 (public) digits, appending suffix 001.

    Raises ValueError if no check digit exists for that prefix (modulo-11 remainder of 10).
    """
    kind = int(prefix[2])
    if kind == 6:
        digit = _mod11_digit(prefix[:8], _PUBLIC_WEIGHTS)
        if digit is None:
            raise ValueError(f"no check digit for prefix {prefix}")
        return f"{prefix[:8]}{digit}0001"
    if kind == 9:
        digit = _mod11_digit(prefix[:9], _PRIVATE_WEIGHTS)
        if digit is None:
            raise ValueError(f"no check digit for prefix {prefix}")
        return f"{prefix[:9]}{digit}001"
    return f"{prefix[:9]}{_mod10_digit(prefix[:9])}001"


def is_valid(check: Callable[[str], str | None], value: str) -> bool:
    """True when ``check(value)`` finds nothing wrong."""
    return check(value) is None
