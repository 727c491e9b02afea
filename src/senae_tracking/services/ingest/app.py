"""The ingest HTTP API (FastAPI): customs systems POST stage events, one or a batch.

Thin: parsing and validation rules live in :mod:`.domain`, Kafka in :mod:`.publisher`. The
producer is created at start-up (lifespan) at the earliest, never at import. Every error body is
``{"error": "<es> / <en>", "errors": [{"index", "field", "message"}]}``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from senae_tracking import __version__
from senae_tracking.services.ingest import domain
from senae_tracking.services.ingest.publisher import BrokerUnavailable, Publisher
from senae_tracking.shared import contract
from senae_tracking.shared.settings import Settings

log = logging.getLogger(__name__)

#: Seconds a client should wait before retrying after a 503.
RETRY_AFTER = 5

_HTTP_SUMMARIES = {
    404: "No encontrado / not found",
    405: "Método no permitido / method not allowed",
}

_bearer = HTTPBearer(auto_error=False, description="Clave de API / API key")


class ErrorItem(BaseModel):
    """One problem: position of the event in the request (null: the body), field and rule."""

    index: int | None = Field(description="Posición del evento / event position (0 for a single object)")
    field: str = Field(description="Campo / JSON path of the field, e.g. documento_transporte.numero")
    message: str = Field(description="Regla incumplida / the rule that failed")


class ErrorBody(BaseModel):
    """Error response."""

    error: str
    errors: list[ErrorItem] = []


class Accepted(BaseModel):
    """Events acknowledged by the broker."""

    accepted: int = Field(description="Eventos aceptados / events acknowledged (new and repeated)")
    published: int = Field(description="Publicados ahora / newly written to the topic")
    event_ids: list[str] = Field(description="Ids aceptados, en orden / acknowledged ids, in order")
    duplicates: list[str] = Field(
        description="Ya aceptados antes / ids accepted before: acknowledged again, not republished")
    rejected: list[ErrorItem] = Field(description="Solo con partial=true / only with partial=true")


def _error(status: int, summary: str, errors: list[domain.EventError] | None = None,
           headers: dict[str, str] | None = None) -> JSONResponse:
    body = {"error": summary, "errors": [e.as_dict() for e in errors or []]}
    return JSONResponse(body, status_code=status, headers=headers)


def _unavailable(reason: str) -> JSONResponse:
    return _error(503, "Broker no disponible, reintente / broker unavailable, retry later",
                  [domain.EventError(None, "(broker)", reason)],
                  headers={"Retry-After": str(RETRY_AFTER)})


def _request_body_schema() -> dict[str, Any]:
    """OpenAPI description of the body: one stage event or an array of them."""
    event = {
        "type": "object",
        "description": "Stage event, see schemas/events/stage-event.v1.json",
        "required": ["schema", "event_id", "occurred_at", "shipment_id", "stage"],
        "properties": {
            "schema": {"type": "object", "properties": {"name": {"type": "string"},
                                                        "version": {"type": "integer"}}},
            "event_id": {"type": "string", "format": "uuid"},
            "occurred_at": {"type": "string", "format": "date-time"},
            "shipment_id": {"type": "string"},
            "stage": {"type": "string"},
        },
        "example": contract.schema_for(contract.STAGE_EVENT)["examples"][0],
    }
    return {
        "required": True,
        "content": {"application/json": {"schema": {"oneOf": [
            event, {"type": "array", "items": event, "minItems": 1, "maxItems": domain.MAX_BATCH},
        ]}}},
    }


class IngestState:
    """What the request handlers share: settings, publisher, key digests, recent ids."""

    def __init__(self, settings: Settings, publisher: Publisher) -> None:
        self.settings = settings
        self.publisher = publisher
        self.key_hashes = settings.ingest_key_hashes
        self.recent = domain.RecentIds()
        self.recent_lock = threading.Lock()
        self.fast_check = contract.fast_check(contract.STAGE_EVENT)


def create_app(
    settings: Settings, *, publisher_factory: Callable[[Settings], Publisher] = Publisher,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> FastAPI:
    """The ingest app for ``settings``; its producer is built at start-up, not here."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = IngestState(settings, publisher_factory(settings))
        app.state.ingest = state
        if not state.key_hashes:
            log.warning("SENAE_INGEST_API_KEYS is empty: every request will get 401")
        if not await run_in_threadpool(state.publisher.ready):
            log.warning("broker %s not reachable yet; will retry on each request",
                        settings.kafka_bootstrap)
        try:
            yield
        finally:
            await run_in_threadpool(state.publisher.close)

    app = FastAPI(
        title="SENAE Tracking — ingesta / ingest API", version=__version__, lifespan=lifespan,
        description="Eventos de etapa aduanera / customs stage events into senae.stage-events.v1.",
    )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        summary = _HTTP_SUMMARIES.get(exc.status_code, str(exc.detail))
        return _error(exc.status_code, summary, headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def request_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [domain.EventError(None, ".".join(str(p) for p in e.get("loc", ())[1:]) or "(request)",
                                    str(e.get("msg", "invalid")))
                  for e in exc.errors()]
        return _error(422, "Solicitud inválida / invalid request", errors)

    @app.exception_handler(Exception)
    async def unexpected(_request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error")
        return _error(500, "Error interno / internal error", [
            domain.EventError(None, "(server)", type(exc).__name__)])

    @app.get("/healthz", summary="Proceso activo / process up")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", summary="Broker alcanzable / broker reachable",
             responses={503: {"model": ErrorBody}})
    async def readyz(request: Request) -> Any:
        state: IngestState = request.app.state.ingest
        if await run_in_threadpool(state.publisher.ready):
            return {"status": "ready"}
        return _unavailable("el broker no responde / the broker does not answer")

    @app.post(
        "/v1/stage-events", status_code=202, response_model=Accepted,
        summary="Publicar eventos / publish stage events",
        description=(
            "Un evento (objeto) o un lote (lista, máximo / at most "
            f"{domain.MAX_BATCH}). Todo o nada salvo partial=true / all-or-nothing unless "
            "partial=true. 202 only after the broker acknowledged every event."
        ),
        responses={400: {"model": ErrorBody}, 401: {"model": ErrorBody}, 413: {"model": ErrorBody},
                   415: {"model": ErrorBody}, 422: {"model": ErrorBody}, 503: {"model": ErrorBody}},
        openapi_extra={"requestBody": _request_body_schema()},
    )
    async def post_events(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
        partial: Annotated[bool, Query(description="Publicar los válidos / publish the valid ones")] = False,
    ) -> Any:
        state: IngestState = request.app.state.ingest
        token = credentials.credentials if credentials else None
        if not domain.key_matches(token, state.key_hashes):
            return _error(401, "No autorizado / unauthorized", [domain.EventError(
                None, "Authorization", "se requiere / requires 'Bearer <api key>' with a valid key")],
                headers={"WWW-Authenticate": "Bearer"})
        content_type = request.headers.get("content-type", "application/json").split(";")[0].strip()
        if content_type and not (content_type == "application/json" or content_type.endswith("+json")):
            return _error(415, "Tipo de contenido no soportado / unsupported media type", [
                domain.EventError(None, "Content-Type", f"{content_type!r}: use application/json")])
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > domain.MAX_BODY_BYTES:
            return _too_large()
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > domain.MAX_BODY_BYTES:
                return _too_large()
            chunks.append(chunk)
        return await run_in_threadpool(_handle, state, b"".join(chunks), partial, clock())

    return app


def _too_large() -> JSONResponse:
    return _error(413, "Cuerpo demasiado grande / body too large", [domain.EventError(
        None, "(body)", f"máximo / at most {domain.MAX_BODY_BYTES} bytes")])


def _handle(state: IngestState, raw: bytes, partial: bool, now: datetime) -> JSONResponse:
    """Parse, validate, drop repeats and publish (runs in a worker thread)."""
    try:
        events, _batch = domain.parse_body(raw)
    except domain.BodyError as exc:
        return _error(exc.status, exc.summary, exc.errors)
    valid, errors = domain.validate_events(events, now, state.fast_check)
    if errors and (not partial or not valid):
        summary = ("Evento inválido, nada publicado / invalid event, nothing published" if len(events) == 1
                   else f"{len({e.index for e in errors})} de {len(events)} eventos inválidos, nada "
                        f"publicado / {len({e.index for e in errors})} of {len(events)} events "
                        "invalid, nothing published")
        return _error(422, summary, errors)
    with state.recent_lock:
        fresh, duplicates = domain.split_duplicates(valid, state.recent)
    try:
        state.publisher.publish([event for _, event in fresh])
    except BrokerUnavailable as exc:
        with state.recent_lock:
            for event_id in exc.acknowledged:
                state.recent.add(event_id)
        log.warning("publish failed: %s", exc)
        return _unavailable(str(exc))
    with state.recent_lock:
        for _, event in fresh:
            state.recent.add(str(event["event_id"]))
    body = Accepted(
        accepted=len(valid), published=len(fresh),
        event_ids=[str(event["event_id"]) for _, event in valid], duplicates=duplicates,
        rejected=[ErrorItem(**e.as_dict()) for e in errors],
    )
    return JSONResponse(body.model_dump(), status_code=202)
