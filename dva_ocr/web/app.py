"""The FastAPI application: middleware, error handling, routers."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import DataError
from starlette.middleware.sessions import SessionMiddleware

from dva_ocr.errors import DvaOcrError, Forbidden, MediaError, NotFound
from dva_ocr.media_admin import TooLarge
from dva_ocr.settings import Settings, get_settings
from dva_ocr.web import (
    api,
    api_jobs,
    api_player,
    api_users,
    docs,
    files,
    metrics,
    pages,
    request_ids,
    schemas,
)
from dva_ocr.web.auth import AuthenticateFirst, LoginRequired
from dva_ocr.web.compress import CompressPolled
from dva_ocr.web.guards import LimitBody, RefuseNul, SecurityHeaders
from dva_ocr.work.queues import Sent, Task, WorkQueue

log = logging.getLogger(__name__)
HERE = Path(__file__).resolve().parent


class NoQueue:
    """The queue of an app created without one: submitting work is an error, not a silent no-op."""

    def send(self, task: Task, *args: int | list[int]) -> None:
        raise RuntimeError(f"this app was created without a work queue; cannot queue {task.name}")

    def pending(self) -> list[Sent]:
        return []


def create_app(*, settings: Settings | None = None, queue: WorkQueue | None = None) -> FastAPI:
    """The app; ``queue`` is where it submits work (``workers.queue.CeleryQueue`` in a deployment,
    a ``dva_ocr.work.RecordingQueue`` in tests)."""
    settings = settings or get_settings()
    # /docs is our own route (web.docs: Swagger UI from a package, not a CDN)
    app = FastAPI(title="dva-ocr", version="0.1.0", docs_url=None, redoc_url=None)
    app.state.settings = settings
    app.state.queue = queue or NoQueue()
    # Added inside out: the last one added sees a request first.
    app.add_middleware(CompressPolled)
    app.add_middleware(LimitBody, upload_max_bytes=settings.upload_max_bytes)
    app.add_middleware(AuthenticateFirst, settings=settings)
    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.secret_key,
        session_cookie="dva_session",
        same_site="lax",
        https_only=settings.environment == "production",
        max_age=settings.session_max_s,
    )
    app.add_middleware(RefuseNul)
    app.add_middleware(SecurityHeaders)
    metrics.install(app)

    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.include_router(api.router)
    app.include_router(api.protected)
    app.include_router(api_jobs.router)
    app.include_router(api_player.router)
    app.include_router(api_users.router)
    app.include_router(docs.router)
    app.include_router(files.router)
    app.include_router(metrics.router)
    app.include_router(pages.router)
    request_ids.install(app)  # last, so outermost: every answer carries its X-Request-ID
    _error_handlers(app)
    _openapi(app)
    return app


def _openapi(app: FastAPI) -> None:
    """/openapi.json (and /docs) with the error answers the handlers below really give."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = schemas.document_errors(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _error_handlers(app: FastAPI) -> None:
    def error(status: int, message: str) -> JSONResponse:
        return JSONResponse({"error": message}, status_code=status)

    @app.exception_handler(LoginRequired)
    async def _login(request: Request, exc: LoginRequired) -> RedirectResponse:
        from urllib.parse import quote

        return RedirectResponse(f"/login?next={quote(exc.next_url, safe='')}", status_code=303)

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> JSONResponse:
        detail = exc.detail
        body = {"error": detail} if isinstance(detail, str) else {"error": "unavailable", "detail": detail}
        return JSONResponse(body, status_code=exc.status_code, headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            f"{'.'.join(str(p) for p in e['loc'][1:]) or e['loc'][0]}: {e['msg']}" for e in exc.errors()
        ]
        return JSONResponse({"error": "invalid request", "problems": problems}, status_code=400)

    @app.exception_handler(NotFound)
    async def _nf(request: Request, exc: NotFound) -> JSONResponse:
        return error(404, str(exc))

    @app.exception_handler(Forbidden)
    async def _forbidden(request: Request, exc: Forbidden) -> JSONResponse:
        return error(403, str(exc))

    @app.exception_handler(DataError)
    async def _data(request: Request, exc: DataError) -> JSONResponse:
        # e.g. an id past PostgreSQL's integer range that a route did not bound: the input is wrong
        log.info("refused a value the database cannot hold on %s: %s", request.url.path, exc.orig)
        first = (str(exc.orig).strip().splitlines() or ["invalid value"])[0]
        return error(400, f"invalid value: {first}")

    @app.exception_handler(TooLarge)
    async def _large(request: Request, exc: TooLarge) -> JSONResponse:
        return error(413, str(exc))

    @app.exception_handler(MediaError)
    async def _media(request: Request, exc: MediaError) -> JSONResponse:
        return error(415, str(exc))

    @app.exception_handler(DvaOcrError)
    async def _dva(request: Request, exc: DvaOcrError) -> JSONResponse:
        return error(400, str(exc))

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error(500, "internal error; the server log has the details")
