"""Adapter: read shipment state and statistics from the processor's web views over HTTP."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx


class ProcessorUnavailable(RuntimeError):
    """The processor did not answer."""


class ProcessorClient:
    """Thin async client for ``SENAE_PROCESSOR_URL``; ``None`` means 404 (unknown)."""

    def __init__(self, base_url: str, timeout: float = 5.0) -> None:
        self._client = httpx.AsyncClient(base_url=base_url, timeout=timeout, follow_redirects=True)

    async def _get(self, path: str) -> Any:
        try:
            response = await self._client.get(path)
        except httpx.HTTPError as exc:
            raise ProcessorUnavailable(str(exc)) from exc
        if response.status_code in (400, 404):
            return None
        if response.status_code >= 500:
            raise ProcessorUnavailable(f"{path}: HTTP {response.status_code}")
        return response.json()

    async def shipment(self, shipment_id: str) -> dict[str, Any] | None:
        """One shipment's state with its timeline."""
        result: dict[str, Any] | None = await self._get(f"/shipments/{quote(shipment_id, safe='')}")
        return result

    async def shipments_of(self, ruc: str) -> list[dict[str, Any]]:
        """The shipments where ``ruc`` is importer or customs agent."""
        result = await self._get(f"/ruc/{quote(ruc, safe='')}/shipments")
        items: list[dict[str, Any]] = result["shipments"] if result else []
        return items

    async def lookup(self, kind: str, value: str) -> list[dict[str, Any]]:
        """Shipments found by ``kind`` (``dai``, ``entregas`` or ``documentos``) and number."""
        result = await self._get(f"/{kind}/{quote(value, safe='')}")
        items: list[dict[str, Any]] = result["shipments"] if result else []
        return items

    async def monthly(self) -> list[dict[str, Any]]:
        """The monthly complaints/attentions table, newest month first."""
        result = await self._get("/stats/monthly")
        rows: list[dict[str, Any]] = result["rows"] if result else []
        return rows

    async def close(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()
