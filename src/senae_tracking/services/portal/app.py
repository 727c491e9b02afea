"""The OCE portal: log in, list shipments, see a timeline, manage alerts, file complaints, and the
public transparency table. Server-rendered pages (Jinja2, autoescaped); state comes from the
processor's views, subscriptions from the shared repository, events go to Kafka.
"""

from __future__ import annotations

import html
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.middleware.sessions import SessionMiddleware

from senae_tracking.services.portal.events import EventsUnavailable, PortalEvents
from senae_tracking.services.portal.processor_client import ProcessorClient, ProcessorUnavailable
from senae_tracking.services.portal.throttle import LoginThrottle
from senae_tracking.shared import identifiers
from senae_tracking.shared.accounts import Account, Accounts
from senae_tracking.shared.catalog import Catalog, load_catalog
from senae_tracking.shared.repository import Repository, RepositoryError

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))


@dataclass
class Portal:
    """What the pages need, wired once in :func:`create_app`."""

    accounts: Accounts
    repository: Repository
    processor: ProcessorClient
    events: PortalEvents
    throttle: LoginThrottle = field(default_factory=LoginThrottle)


def _document(state: dict[str, Any]) -> str | None:
    doc = state.get("documento_transporte")
    return f"{doc.get('tipo')} {doc.get('numero')}" if isinstance(doc, dict) else None


def _csrf(request: Request) -> str:
    token = request.session.get("csrf")
    if not token:
        token = request.session["csrf"] = secrets.token_urlsafe(24)
    return str(token)


async def _check_csrf(request: Request) -> dict[str, str]:
    form = await request.form()
    values = {k: str(v) for k, v in form.items()}
    if not secrets.compare_digest(values.get("csrf", ""), _csrf(request)):
        raise HTTPException(403, "Formulario vencido; recargue la página / stale form, reload the page")
    return values


def search_kind(query: str, catalog: Catalog) -> tuple[str, str | None]:
    """What a search names (``dai``, ``entregas``, ``shipment``), or the rule it breaks."""
    if not query:
        return "", "Escriba un número de DAI, de entrega o de carga / type a DAI, delivery or shipment number"
    if identifiers.DAI_RE.match(query):
        return "dai", identifiers.check_dai(query, catalog.districts, catalog.regimes)
    if query.isdigit():
        return "entregas", identifiers.check_numero_entrega(query)
    if identifiers.SHIPMENT_ID_RE.match(query):
        return "shipment", None
    return "", ("Use solo letras, dígitos, '.', '_' o '-' / use only letters, digits, '.', '_' or '-'")


def create_app(portal: Portal, secret_key: str, *, https_only: bool = False) -> FastAPI:
    """The portal's ASGI app."""
    catalog = load_catalog()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await portal.processor.close()
            portal.events.close()

    app = FastAPI(title="SENAE Tracking portal", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.add_middleware(SessionMiddleware, secret_key=secret_key, session_cookie="senae_session",
                       same_site="lax", https_only=https_only, max_age=8 * 3600)

    def user_of(request: Request) -> Account | None:
        username = request.session.get("user")
        return portal.accounts.get(str(username)) if username else None

    def page(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
        context.setdefault("user", user_of(request))
        context.setdefault("flash", request.session.pop("flash", None))
        return TEMPLATES.TemplateResponse(request, name, {"csrf": _csrf(request), **context},
                                          status_code=status)

    def login_required(request: Request) -> Account:
        user = user_of(request)
        if user is None:
            raise HTTPException(303, headers={"Location": "/login"})
        return user

    def table_rows(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Shipments as the list page shows them, with Spanish labels."""
        return [{**s, "stage_label": catalog.label(str(s.get("stage")), "es"),
                 "canal_label": catalog.label(s["canal"]) if s.get("canal") else None,
                 "documento": _document(s)} for s in items]

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/login", response_class=HTMLResponse)
    async def login_form(request: Request) -> HTMLResponse:
        return page(request, "login.html")

    @app.post("/login", response_model=None)
    async def login(request: Request) -> Response:
        form = await _check_csrf(request)
        username = form.get("username", "").strip()
        address = request.client.host if request.client else "-"
        if wait := portal.throttle.wait(username, address):
            minutes = (wait + 59) // 60
            blocked = page(request, "login.html", 429, username=username,
                           error=f"Demasiados intentos fallidos; intente de nuevo en {minutes} min / "
                                 f"too many failed attempts; try again in {minutes} min")
            blocked.headers["Retry-After"] = str(wait)
            return blocked
        account = portal.accounts.authenticate(username, form.get("password", ""))
        if account is None:
            portal.throttle.failed(username, address)
            return page(request, "login.html", 401, username=username,
                        error="Usuario o contraseña incorrectos / wrong user or password")
        portal.throttle.succeeded(username)
        request.session.clear()
        request.session["user"] = account.username
        return RedirectResponse("/", status_code=303)

    @app.post("/logout")
    async def logout(request: Request) -> RedirectResponse:
        await _check_csrf(request)
        request.session.clear()
        return RedirectResponse("/login", status_code=303)

    @app.get("/", response_class=HTMLResponse)
    async def shipments(request: Request) -> HTMLResponse:
        user = login_required(request)
        try:
            items = await portal.processor.shipments_of(user.ruc)
            unavailable = False
        except ProcessorUnavailable:
            items, unavailable = [], True
        rows = table_rows(items)
        if not unavailable:
            await portal.events.attention(user.ruc, "LISTADO")
        return page(request, "shipments.html", shipments=rows, unavailable=unavailable)

    @app.get("/buscar", response_class=HTMLResponse, response_model=None)
    async def search(request: Request, q: str = "") -> Response:
        """One of the user's shipments by DAI, número de entrega or shipment id."""
        user = login_required(request)
        query = q.strip()
        kind, problem = search_kind(query, catalog)
        if problem is not None:
            return page(request, "shipments.html", 400, shipments=[], query=q, search_error=problem)
        try:
            found = ([await portal.processor.shipment(query)] if kind == "shipment"
                     else await portal.processor.lookup(kind, query))
        except ProcessorUnavailable:
            return page(request, "shipments.html", 503, shipments=[], query=q, unavailable=True)
        mine = [s for s in found if s and user.ruc in (s.get("ruc_importador"), s.get("ruc_agente"))]
        if len(mine) == 1:
            return RedirectResponse(f"/cargas/{quote(str(mine[0]['shipment_id']), safe='')}",
                                    status_code=303)
        rows = table_rows(mine)
        return page(request, "shipments.html", 200 if rows else 404, shipments=rows, query=q,
                    search_error=None if rows else
                    f"Ninguna de sus cargas corresponde a «{q.strip()}» / "
                    f"none of your shipments matches «{q.strip()}»")

    @app.get("/shipments/{shipment_id}")
    async def shipment_link(shipment_id: str) -> RedirectResponse:
        """Links in alerts point here (language-neutral path)."""
        return RedirectResponse(f"/cargas/{quote(shipment_id, safe='')}", status_code=303)

    @app.get("/cargas/{shipment_id}", response_class=HTMLResponse)
    async def shipment(request: Request, shipment_id: str) -> HTMLResponse:
        user = login_required(request)
        try:
            state = await portal.processor.shipment(shipment_id)
        except ProcessorUnavailable as exc:
            raise HTTPException(503, "Servicio no disponible / service unavailable") from exc
        if state is None or user.ruc not in (state.get("ruc_importador"), state.get("ruc_agente")):
            raise HTTPException(404, "Carga no encontrada / shipment not found")
        await portal.events.attention(user.ruc, "EMBARQUE", str(state["shipment_id"]))
        timeline = [{**t, "label": catalog.label(str(t.get("stage")))} for t in state.get("timeline", [])]
        return page(request, "shipment.html", shipment=state, timeline=timeline,
                    stage_label=catalog.label(str(state.get("stage"))), documento=_document(state),
                    canal_label=catalog.label(state["canal"]) if state.get("canal") else None)

    def subscriptions_page(request: Request, user: Account, status: int = 200,
                           **extra: Any) -> HTMLResponse:
        extra.setdefault("form", {})
        return page(request, "subscriptions.html", status,
                    subscriptions=portal.repository.list_subscriptions(user.ruc), **extra)

    @app.get("/suscripciones", response_class=HTMLResponse)
    async def subscriptions(request: Request) -> HTMLResponse:
        return subscriptions_page(request, login_required(request))

    @app.post("/suscripciones", response_model=None)
    async def subscribe(request: Request) -> Response:
        user = login_required(request)
        form = await _check_csrf(request)
        email = form.get("email") or user.email or ""
        try:
            portal.repository.add_subscription(
                ruc=user.ruc, email=email, phone=form.get("phone") or None,
                shipment=form.get("shipment") or None, lang=form.get("lang") or user.lang,
                name=user.name)
        except RepositoryError as exc:
            return subscriptions_page(request, user, 422, form=form,
                                      error=f"Dato inválido / invalid value — {exc.field}: {exc.message}")
        request.session["flash"] = "Alerta registrada / alert saved"
        return RedirectResponse("/suscripciones", status_code=303)

    @app.post("/suscripciones/{subscription_id}/baja")
    async def unsubscribe(request: Request, subscription_id: int) -> RedirectResponse:
        user = login_required(request)
        await _check_csrf(request)
        existing = portal.repository.get_subscription(subscription_id)
        if existing is None or existing.ruc != user.ruc:
            raise HTTPException(404, "Alerta no encontrada / alert not found")
        portal.repository.set_active(subscription_id, False)
        request.session["flash"] = "Alerta desactivada / alert turned off"
        return RedirectResponse("/suscripciones", status_code=303)

    @app.get("/quejas", response_class=HTMLResponse)
    async def complaint_form(request: Request) -> HTMLResponse:
        login_required(request)
        return page(request, "complaints.html", form={})

    @app.post("/quejas", response_model=None)
    async def complaint(request: Request) -> Response:
        user = login_required(request)
        form = await _check_csrf(request)
        try:
            issues = await portal.events.complaint(user.ruc, form.get("asunto", ""),
                                                   form.get("detalle", ""), form.get("shipment") or None)
        except EventsUnavailable:
            return page(request, "complaints.html", 503, form=form,
                        error="No se pudo registrar la queja; intente de nuevo en unos minutos / "
                              "the complaint could not be filed; try again in a few minutes")
        if issues:
            detail = "; ".join(f"{i.field}: {i.message}" for i in issues)
            return page(request, "complaints.html", 422, form=form,
                        error=f"Queja inválida / invalid complaint — {detail}")
        request.session["flash"] = "Queja registrada / complaint filed"
        return RedirectResponse("/", status_code=303)

    @app.get("/transparencia", response_class=HTMLResponse)
    async def transparency(request: Request) -> HTMLResponse:
        try:
            rows, unavailable = await portal.processor.monthly(), False
        except ProcessorUnavailable:
            rows, unavailable = [], True
        return page(request, "transparency.html", rows=rows, unavailable=unavailable)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        if exc.status_code == 303:
            return RedirectResponse(exc.headers["Location"] if exc.headers else "/", status_code=303)
        return HTMLResponse(f"<!doctype html><meta charset='utf-8'><p>{html.escape(str(exc.detail))}</p>"
                            "<p><a href='/'>Inicio / home</a></p>", status_code=exc.status_code)

    return app
