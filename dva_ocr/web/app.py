"""The FastAPI application: middleware, error handling, routers."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.middleware.sessions import SessionMiddleware

from dva_ocr.errors import DvaOcrError, MediaError, NotFound
from dva_ocr.media_admin import TooLarge
from dva_ocr.settings import Settings, get_settings
from dva_ocr.web import api, api_jobs, files, metrics, pages, schemas
from dva_ocr.web.auth import LoginRequired
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
    app = FastAPI(title="dva-ocr", version="0.1.0", docs_url="/docs", redoc_url=None)
    app.state.settings = settings
    app.state.queue = queue or NoQueue()
    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.secret_key,
        session_cookie="dva_session",
        same_site="lax",
        https_only=settings.environment == "production",
        max_age=14 * 24 * 3600,
    )
    metrics.install(app)

    @app.middleware("http")
    async def _refuse_oversized(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        # Refuse before the body is read: the multipart parser would otherwise spool it all to disk.
        length = request.headers.get("content-length", "")
        limit = settings.upload_max_bytes + (1 << 16)  # room for the multipart envelope
        if request.method == "POST" and length.isdigit() and int(length) > limit:
            mib = settings.upload_max_bytes // (1 << 20)
            return JSONResponse({"error": f"larger than the upload limit of {mib} MiB"}, status_code=413)
        return await call_next(request)

    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.include_router(api.router)
    app.include_router(api.protected)
    app.include_router(api_jobs.router)
    app.include_router(files.router)
    app.include_router(metrics.router)
    app.include_router(pages.router)
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
