"""Web views on Faust's web server; each request is routed to the worker that owns its key.

Errors answer JSON ``{"error": "<español> / <English>", "field": ...}``: 400 for a malformed
identifier, 404 for an unknown one, 503 while this worker is rebalancing or recovering its tables
(the answer would be incomplete; clients retry).
"""

from __future__ import annotations

import asyncio
import re
from typing import TYPE_CHECKING, Any

import aiohttp
import httpx
from faust.exceptions import SameNode
from faust.web import Request, Response, View
from faust.web.exceptions import ServiceUnavailable

from senae_tracking.services.processor import counters, pipeline
from senae_tracking.shared import identifiers, topics
from senae_tracking.shared.catalog import load_catalog

if TYPE_CHECKING:
    from senae_tracking.services.processor.app import Processor

_DOCUMENT = re.compile(r"^[A-Z0-9][A-Z0-9-]{3,34}$")
#: At most this many shipments are expanded with their state in a list answer.
MAX_EXPANDED = 200


def _error(view: View, status: int, text: str, field: str | None = None, **extra: Any) -> Response:
    body: dict[str, Any] = {"error": text}
    if field:
        body["field"] = field
    return view.json({**body, **extra}, status=status)


def _check(kind: str, value: str) -> str | None:
    catalog = load_catalog()
    if kind == "shipment_id":
        if identifiers.SHIPMENT_ID_RE.match(value):
            return None
        return "must be 3-64 letters, digits, '.', '_' or '-'"
    if kind == "dai":
        return identifiers.check_dai(value, catalog.districts, catalog.regimes)
    if kind == "numero_entrega":
        return identifiers.check_numero_entrega(value)
    if kind == "documento":
        return None if _DOCUMENT.match(value) else "must be 4-35 capital letters, digits or '-'"
    return identifiers.check_ruc(value)


def register(proc: Processor) -> None:
    """Add the processor's pages to its Faust app."""
    app = proc.app

    def routed(table: Any, param: str | None = None, exact: str | None = None) -> Any:
        """Like Faust's table_route, but an unknown owner (rebalancing, starting) answers 503."""

        def decorate(fun: Any) -> Any:
            async def get(view: View, request: Request, **kwargs: Any) -> Response:
                key = exact if exact is not None else request.match_info[str(param)]
                try:
                    answer: Response = await app.router.route_req(table.name, key, view.web, request)
                    return answer
                except SameNode:
                    answer = await fun(view, request, **kwargs)
                    return answer
                except (ServiceUnavailable, KeyError, TypeError, aiohttp.ClientError, OSError):
                    return _error(view, 503, "Reequilibrando, reintente / rebalancing, retry shortly")

            return get

        return decorate

    def busy(view: View) -> Response | None:
        if app.rebalancing or app.in_recovery:
            return _error(view, 503, "Reequilibrando, reintente / rebalancing, retry shortly")
        return None

    def invalid(view: View, kind: str, value: str) -> Response | None:
        reason = _check(kind, value)
        if reason is None:
            return None
        return _error(view, 400, f"Identificador inválido / invalid identifier: {kind} {reason}", kind)

    async def expand(ids: list[str]) -> list[dict[str, Any]]:
        """Fetch shipments through the routed view (they may live on other workers)."""
        async with httpx.AsyncClient(base_url=str(app.conf.canonical_url), timeout=10) as client:
            replies = await asyncio.gather(*(client.get(f"/shipments/{i}") for i in ids[:MAX_EXPANDED]))
        return [r.json() for r in replies if r.status_code == 200]

    @app.page("/shipments/{shipment_id}")
    @routed(proc.shipments, "shipment_id")
    async def shipment(view: View, request: Request, shipment_id: str) -> Response:
        if (bad := invalid(view, "shipment_id", shipment_id)) or (bad := busy(view)):
            return bad
        state = proc.shipments.get(shipment_id.encode())
        if not state or state.get("stage") is None:
            return _error(view, 404, f"Embarque no encontrado / shipment not found: {shipment_id}",
                          "shipment_id")
        return view.json(pipeline.public_shipment(load_catalog(), state))

    def lookup(path: str, table: Any, kind: str, field: str) -> None:
        @app.page(path)
        @routed(table, "value")
        async def view_fn(view: View, request: Request, value: str) -> Response:
            if (bad := invalid(view, kind, value)) or (bad := busy(view)):
                return bad
            ids = table.get(value.encode())
            if not ids:
                return _error(view, 404, f"No encontrado / not found: {field} {value}", field)
            return view.json({field: value, "shipment_ids": ids, "shipments": await expand(ids)})

    lookup("/dai/{value}", proc.dai_index, "dai", "dai")
    lookup("/entregas/{value}", proc.entrega_index, "numero_entrega", "numero_entrega")
    lookup("/documentos/{value}", proc.documento_index, "documento", "documento_transporte")

    @app.page("/ruc/{ruc}/shipments")
    @routed(proc.ruc_index, "ruc")
    async def ruc_shipments(view: View, request: Request, ruc: str) -> Response:
        if (bad := invalid(view, "ruc", ruc)) or (bad := busy(view)):
            return bad
        entries = proc.ruc_index.get(ruc.encode()) or {}
        if not entries:
            return _error(view, 404, f"RUC sin embarques / no shipments for RUC {ruc}", "ruc")
        states = {s["shipment_id"]: s for s in await expand(sorted(entries))}
        items = [{**states.get(sid, {"stage": None}), "shipment_id": sid, "roles": roles}
                 for sid, roles in sorted(entries.items())]
        return view.json({"ruc": ruc, "shipments": items})

    def snapshots() -> dict[str, Any]:
        return {k.decode(): v for k, v in proc.stats.items()}

    def wants_csv(request: Request) -> bool:
        fmt = request.query.get("format", "")
        return fmt == "csv" or (not fmt and "text/csv" in request.headers.get("Accept", ""))

    @app.page("/stats/monthly")
    @routed(proc.stats, exact="stats")
    async def monthly(view: View, request: Request) -> Response:
        if bad := busy(view):
            return bad
        rows = counters.monthly_rows(snapshots(), topics.ATTENTIONS.name, topics.COMPLAINTS.name)
        if wants_csv(request):
            return view.text(counters.to_csv(rows, counters.MONTHLY_COLUMNS), content_type="text/csv")
        return view.json({"columns": list(counters.MONTHLY_COLUMNS), "rows": rows})

    @app.page("/stats/stages")
    @routed(proc.stats, exact="stats")
    async def stages(view: View, request: Request) -> Response:
        if bad := busy(view):
            return bad
        rows = counters.stage_rows(snapshots(), topics.STAGE_EVENTS.name)
        if wants_csv(request):
            return view.text(counters.to_csv(rows, counters.STAGE_COLUMNS), content_type="text/csv")
        return view.json({"columns": list(counters.STAGE_COLUMNS), "rows": rows})

    @app.page("/health")
    async def health(view: View, request: Request) -> Response:
        actives: dict[str, list[int]] = {}
        for tp in app.assignor.assigned_actives():
            actives.setdefault(tp.topic, []).append(tp.partition)
        return view.json({"status": "busy" if app.rebalancing or app.in_recovery else "ok",
                          "partitions": {t: sorted(p) for t, p in sorted(actives.items())}})
