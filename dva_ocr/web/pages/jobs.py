"""The jobs page (queues, workers, media by status, items being ingested, reprocessing jobs, recent
failures, models), a job's page and their forms. The parts that change are their own templates
(``jobs_live.html``, ``job_live.html``), rendered with the page and alone (``/jobs/live``,
``/jobs/ID/live``) for the page's script to swap in, so forms on the page are never redrawn."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from fastapi import Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from dva_ocr import jobs as reprocessing
from dva_ocr import media_admin, model_registry
from dva_ocr.db.tables import User
from dva_ocr.errors import NotFound
from dva_ocr.pipeline.rows import UNFINISHED
from dva_ocr.web import status
from dva_ocr.web.auth import admin, csrf_token, get_db, may_change
from dva_ocr.web.deps import get_queue
from dva_ocr.web.pages.common import not_found, page_router, render
from dva_ocr.web.params import Id
from dva_ocr.work import WorkQueue, submit

router = page_router()

RECENT_FAILURES = 25
RECENT_JOBS = 20
INGESTS_SHOWN = 50


def _live(db: Session, user: User) -> dict[str, Any]:
    """What the live part of the jobs page shows (jobs_live.html): queues, workers, media by status,
    items being ingested with their stage, reprocessing jobs, recent failures."""
    broker_error = None
    depths: dict[str, int | None]
    try:
        depths = dict(status.queue_depths())
        workers = status.workers_alive()
    except Exception as exc:  # the page reports a broker outage instead of failing
        depths, workers = {q: None for q in status.QUEUES}, []
        broker_error = str(exc)
    unfinished = media_admin.query_media(
        db, media_admin.MediaQuery(statuses=UNFINISHED, sort="date", descending=False, limit=INGESTS_SHOWN)
    )
    ingests = [
        media_admin.media_json(v) | {"model": v.model_version.name, "may_change": may_change(user, v)}
        for v in unfinished.items
    ]
    failures = [
        {
            "id": v.id,
            "name": v.source_name,
            "error": v.error,
            "retryable": v.retryable,
            "may_change": may_change(user, v),
            "when": f"{(v.finished_at or v.created_at):%Y-%m-%d %H:%M}"
            if (v.finished_at or v.created_at)
            else "",
        }
        for v in media_admin.recent_failures(db, RECENT_FAILURES)
    ]
    job_rows = [reprocessing.job_json(db, j) for j in reprocessing.list_jobs(db, limit=RECENT_JOBS)]
    busy = bool(ingests) or any(j["status"] in ("queued", "running") for j in job_rows)
    context: dict[str, Any] = {
        "depths": depths,
        "workers": workers,
        "broker_error": broker_error,
        "counts": media_admin.counts_by_status(db),
        "ingests": ingests,
        "ingest_total": unfinished.total,
        "failures": failures,
        "jobs": job_rows,
        "busy": busy,
    }
    return context


def _versioned(request: Request, context: dict[str, Any]) -> dict[str, Any]:
    """The context with ``version``: a digest of what the live part shows to this user with this
    session's CSRF token (its forms carry it). It is the fragment's ETag, so an unchanged part is a
    304 without a body, and the script redraws nothing."""
    user = request.state.user
    seen = json.dumps([context, user.id, user.role, csrf_token(request)], sort_keys=True, default=str)
    return context | {"version": hashlib.sha1(seen.encode()).hexdigest()[:20]}


def _fragment(request: Request, template: str, context: dict[str, Any]) -> Response:
    context = _versioned(request, context)
    etag = f'"{context["version"]}"'
    headers = {"ETag": etag, "Cache-Control": "private, no-cache"}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    response = render(request, template, **context)
    response.headers.update(headers)
    return response


@router.get("/jobs", response_class=HTMLResponse)
def jobs(request: Request, db: Session = Depends(get_db)) -> HTMLResponse:
    default = model_registry.default_model_name(db)
    return render(
        request,
        "jobs.html",
        active="jobs",
        models=[
            model_registry.model_json(mv, n, default=default) for mv, n in model_registry.list_models(db)
        ],
        **_versioned(request, _live(db, request.state.user)),
    )


@router.get("/jobs/live", response_class=HTMLResponse)
def jobs_live(request: Request, db: Session = Depends(get_db)) -> Response:
    """The live part of the jobs page alone, for the page's script to swap in."""
    return _fragment(request, "jobs_live.html", _live(db, request.state.user))


@router.post("/models/{name}/activate", dependencies=[Depends(admin)])
def activate_model(name: str, db: Session = Depends(get_db)) -> Response:
    model_registry.activate(db, name)
    db.commit()
    return RedirectResponse("/jobs", status_code=303)


@router.post("/jobs/reprocess", response_model=None, dependencies=[Depends(admin)])
def reprocess(
    request: Request,
    model: str = Form(...),
    scope: str = Form("missing"),
    media_ids: str = Form(""),
    db: Session = Depends(get_db),
    queue: WorkQueue = Depends(get_queue),
) -> Response:
    ids = [int(x) for x in media_ids.replace(",", " ").split() if x.isdigit()]
    job = submit.submit_job(
        db,
        queue,
        model,
        media=ids if scope == "media" else None,
        all_media=scope == "all",
        missing=scope == "missing",
    )
    return RedirectResponse(f"/jobs/{job.id}", status_code=303)


def _job(db: Session, job_id: int) -> dict[str, Any]:
    job = reprocessing.job_json(db, reprocessing.get_job(db, job_id))
    return {
        "job": job,
        "rows": reprocessing.compare(db, job_id),
        "busy": job["status"] in ("queued", "running"),
    }


def _job_view(request: Request, db: Session, job_id: int, *, whole: bool) -> Response:
    try:
        context = _job(db, job_id)
    except NotFound as exc:
        return not_found(request, str(exc))
    if whole:
        return render(request, "job.html", active="jobs", **_versioned(request, context))
    return _fragment(request, "job_live.html", context)


@router.get("/jobs/{job_id}", response_class=HTMLResponse)
def job_page(request: Request, job_id: Id, db: Session = Depends(get_db)) -> Response:
    return _job_view(request, db, job_id, whole=True)


@router.get("/jobs/{job_id}/live", response_class=HTMLResponse)
def job_live(request: Request, job_id: Id, db: Session = Depends(get_db)) -> Response:
    """The live part of a job's page alone."""
    return _job_view(request, db, job_id, whole=False)


@router.post("/jobs/{job_id}/{action}", dependencies=[Depends(admin)])
def job_action(
    request: Request,
    job_id: Id,
    action: str,
    db: Session = Depends(get_db),
    queue: WorkQueue = Depends(get_queue),
) -> Response:
    if action == "cancel":
        reprocessing.cancel_job(db, job_id)
    elif action == "retry":
        submit.retry_job(db, queue, job_id)
    elif action == "promote":
        reprocessing.promote(db, job_id)
    elif action == "pause":
        reprocessing.pause_job(db, job_id)
    elif action == "resume":
        submit.resume_job(db, queue, job_id)
    else:
        return not_found(request, f"no action {action!r}")
    db.commit()
    return RedirectResponse(f"/jobs/{job_id}", status_code=303)
