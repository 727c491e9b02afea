"""Locate the data files under ``schemas/`` whether the package runs from a checkout or a wheel."""

from __future__ import annotations

from functools import cache
from pathlib import Path


@cache
def schemas_dir() -> Path:
    """Directory holding the JSON Schemas and the stage catalog."""
    packaged = Path(__file__).resolve().parent.parent / "schemas"
    if packaged.is_dir():
        return packaged
    checkout = Path(__file__).resolve().parents[3] / "schemas"
    if checkout.is_dir():
        return checkout
    raise FileNotFoundError("schemas/ directory not found next to the package or in the checkout")
