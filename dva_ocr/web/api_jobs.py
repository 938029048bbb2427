"""REST API for the model registry and reprocessing jobs (under /api): any user reads; only admins
activate models and create, cancel, retry or promote jobs (both change what everyone searches)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from dva_ocr import jobs
from dva_ocr import model_registry as reg
from dva_ocr.web import schemas
from dva_ocr.web.auth import admin, current_user, get_db
from dva_ocr.web.deps import get_queue
from dva_ocr.web.params import INT4_MAX, Id
from dva_ocr.work import WorkQueue, submit

router = APIRouter(prefix="/api", dependencies=[Depends(current_user)], responses=schemas.errors(401))
WRITE = schemas.errors(403)  # cookie-authenticated writes need the CSRF token; admin-only routes
ADMIN = [Depends(admin)]
ITEM = schemas.errors(404)


@router.get("/models", response_model=schemas.Models, response_model_exclude_unset=True)
def list_models(db: Session = Depends(get_db)) -> dict:
    default = reg.default_model_name(db)
    return {
        "default": default,
        "models": [reg.model_json(mv, n, default=default) for mv, n in reg.list_models(db)],
    }


@router.post(
    "/models/{name}/activate",
    response_model=schemas.Model,
    response_model_exclude_unset=True,
    responses=WRITE | ITEM,
    dependencies=ADMIN,
)
def activate_model(name: str, db: Session = Depends(get_db)) -> dict:
    mv = reg.activate(db, name)
    db.commit()
    return reg.model_json(mv)


class JobRequest(BaseModel):
    model: str = Field(description="model version name")
    media: list[Annotated[int, Field(ge=1, le=INT4_MAX)]] | None = Field(
        None, description="these media items"
    )
    all: bool = Field(False, description="every finished media item")
    missing: bool = Field(False, description="media the model has not read yet")


@router.post("/jobs", status_code=201, response_model=schemas.Job, responses=WRITE | ITEM, dependencies=ADMIN)
def create_job(
    body: JobRequest, db: Session = Depends(get_db), queue: WorkQueue = Depends(get_queue)
) -> dict:
    job = submit.submit_job(db, queue, body.model, media=body.media, all_media=body.all, missing=body.missing)
    return jobs.job_json(db, job)


@router.get("/jobs", response_model=schemas.Jobs)
def list_jobs(db: Session = Depends(get_db)) -> dict:
    return {"jobs": [jobs.job_json(db, j) for j in jobs.list_jobs(db)]}


@router.get("/jobs/{job_id}", response_model=schemas.Job, responses=ITEM)
def get_job(job_id: Id, db: Session = Depends(get_db)) -> dict:
    return jobs.job_json(db, jobs.get_job(db, job_id))


@router.post("/jobs/{job_id}/cancel", response_model=schemas.Job, responses=WRITE | ITEM, dependencies=ADMIN)
def cancel_job(job_id: Id, db: Session = Depends(get_db)) -> dict:
    job = jobs.cancel_job(db, job_id)
    db.commit()
    return jobs.job_json(db, job)


@router.post("/jobs/{job_id}/pause", response_model=schemas.Job, responses=WRITE | ITEM, dependencies=ADMIN)
def pause_job(job_id: Id, db: Session = Depends(get_db)) -> dict:
    """Items stop after the chunk they are reading and wait, freeing the workers; 400 unless queued or
    running."""
    job = jobs.pause_job(db, job_id)
    db.commit()
    return jobs.job_json(db, job)


@router.post("/jobs/{job_id}/resume", response_model=schemas.Job, responses=WRITE | ITEM, dependencies=ADMIN)
def resume_job(job_id: Id, db: Session = Depends(get_db), queue: WorkQueue = Depends(get_queue)) -> dict:
    """The waiting items queued again; each goes on from its first frame not read yet. 400 unless paused."""
    submit.resume_job(db, queue, job_id)
    return jobs.job_json(db, jobs.get_job(db, job_id))


@router.post("/jobs/{job_id}/retry", response_model=schemas.Job, responses=WRITE | ITEM, dependencies=ADMIN)
def retry_job(job_id: Id, db: Session = Depends(get_db), queue: WorkQueue = Depends(get_queue)) -> dict:
    submit.retry_job(db, queue, job_id)
    return jobs.job_json(db, jobs.get_job(db, job_id))


@router.get("/jobs/{job_id}/compare", response_model=schemas.Compare, responses=ITEM)
def compare_job(job_id: Id, db: Session = Depends(get_db)) -> dict:
    return {"job_id": job_id, "media": jobs.compare(db, job_id)}


@router.post(
    "/jobs/{job_id}/promote", response_model=schemas.Promoted, responses=WRITE | ITEM, dependencies=ADMIN
)
def promote_job(job_id: Id, db: Session = Depends(get_db)) -> dict:
    n = jobs.promote(db, job_id)
    db.commit()
    return {"job_id": job_id, "promoted": n}
