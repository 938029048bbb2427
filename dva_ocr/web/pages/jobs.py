"""The jobs page (queues, workers, media by status, recent failures, models, reprocessing jobs), a job's
page and their forms."""

from __future__ import annotations

from fastapi import Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from dva_ocr import jobs as reprocessing
from dva_ocr import media_admin, model_registry
from dva_ocr.errors import NotFound
from dva_ocr.web import status
from dva_ocr.web.auth import admin, get_db
from dva_ocr.web.deps import get_queue
from dva_ocr.web.pages.common import not_found, page_router, render
from dva_ocr.web.params import Id
from dva_ocr.work import WorkQueue, submit

router = page_router()

RECENT_FAILURES = 25
RECENT_JOBS = 20


@router.get("/jobs", response_class=HTMLResponse)
def jobs(request: Request, db: Session = Depends(get_db)) -> HTMLResponse:
    broker_error = None
    depths: dict[str, int | None]
    try:
        depths = dict(status.queue_depths())
        workers = status.workers_alive()
    except Exception as exc:  # the page reports a broker outage instead of failing
        depths, workers = {q: None for q in status.QUEUES}, []
        broker_error = str(exc)
    default = model_registry.default_model_name(db)
    return render(
        request,
        "jobs.html",
        active="jobs",
        depths=depths,
        workers=workers,
        broker_error=broker_error,
        counts=media_admin.counts_by_status(db),
        failures=media_admin.recent_failures(db, RECENT_FAILURES),
        models=[
            model_registry.model_json(mv, n, default=default) for mv, n in model_registry.list_models(db)
        ],
        jobs=[reprocessing.job_json(db, j) for j in reprocessing.list_jobs(db, limit=RECENT_JOBS)],
    )


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


@router.get("/jobs/{job_id}", response_class=HTMLResponse)
def job_page(request: Request, job_id: Id, db: Session = Depends(get_db)) -> HTMLResponse:
    try:
        job = reprocessing.get_job(db, job_id)
    except NotFound as exc:
        return not_found(request, str(exc))
    return render(
        request,
        "job.html",
        active="jobs",
        job=reprocessing.job_json(db, job),
        rows=reprocessing.compare(db, job_id),
    )


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
    else:
        return not_found(request, f"no action {action!r}")
    db.commit()
    return RedirectResponse(f"/jobs/{job_id}", status_code=303)
