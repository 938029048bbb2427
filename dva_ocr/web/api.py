"""The REST API under /api: what the dashboard's scripts and users' scripts share."""

from __future__ import annotations

import json

from fastapi import APIRouter, Depends, File, Form, HTTPException, Query, Request, Response, UploadFile
from sqlalchemy.orm import Session

from dva_ocr import media_admin
from dva_ocr.db.tables import User
from dva_ocr.errors import DvaOcrError
from dva_ocr.exports import FORMATS
from dva_ocr.filters import RegionFilter, parse_rect
from dva_ocr.pipeline import IngestOptions
from dva_ocr.search import MAX_OFFSET, highlight, search
from dva_ocr.web import schemas
from dva_ocr.web.auth import check_may_change, current_user, get_db
from dva_ocr.web.deps import get_queue
from dva_ocr.web.params import INT4_MAX, Id, media_filter
from dva_ocr.web.params import offset as offset_param
from dva_ocr.web.status import health
from dva_ocr.work import WorkQueue, submit

router = APIRouter(prefix="/api")
protected = APIRouter(prefix="/api", dependencies=[Depends(current_user)], responses=schemas.errors(401))
WRITE = schemas.errors(403)  # cookie-authenticated writes need the CSRF token
ITEM = schemas.errors(404)


@router.get(
    "/health",
    response_model=schemas.Health,
    response_model_exclude_unset=True,
    responses={503: {"model": schemas.Unavailable, "description": "Database or broker unreachable"}},
)
def api_health() -> dict:
    """Liveness for load balancers and people: database and broker reachable. No login needed."""
    h = health()
    if not (h["database"] and h["broker"]):
        raise HTTPException(503, h)
    return h


@protected.post(
    "/media", status_code=201, response_model=schemas.Upload, responses=WRITE | schemas.errors(413, 415)
)
def upload_media(
    request: Request,
    file: UploadFile = File(..., description="a video or image"),
    fps: float | None = Form(None, gt=0, le=60, description="frames sampled per second"),
    sampling: str = Form("fixed", pattern="^(fixed|keyframes|scene)$", description="sampling policy"),
    scene_threshold: float = Form(0.3, gt=0, lt=1, description="scene policy: score that is a cut"),
    max_gap: float = Form(2.0, gt=0, le=3600, description="keyframes/scene: seconds between frames, at most"),
    max_reuse: float | None = Form(
        None, ge=0, le=86400, description="read a whole frame at least this often (s); 0: never"
    ),
    min_confidence: float | None = Form(
        None,
        ge=0,
        le=1,
        description="drop regions read with lower confidence (default 0.7; the engine keeps 0.5 up)",
    ),
    min_height: int = Form(0, ge=0, description="drop text lines lower than this (pixels)"),
    roi: list[str] = Form([], description="keep only text inside x0,y0,x1,y1 (relative 0-1); repeatable"),
    ignore: list[str] = Form([], description="drop text inside x0,y0,x1,y1 (relative 0-1); repeatable"),
    video_stream: int | None = Form(
        None, ge=0, le=255, description="which of the file's video streams to read (0: the first)"
    ),
    model: str | None = Form(
        None, max_length=100, description="model version to read it with (default: the default)"
    ),
    db: Session = Depends(get_db),
    queue: WorkQueue = Depends(get_queue),
    user: User = Depends(current_user),
) -> dict:
    settings = request.app.state.settings
    options = IngestOptions(
        owner_id=user.id,
        model=model or None,
        video_stream=video_stream,
        sampling=sampling,
        fps=fps,
        scene_threshold=scene_threshold,
        max_gap_s=max_gap,
        max_reuse_s=max_reuse,
        filters=RegionFilter(
            min_confidence=min_confidence,
            min_height=min_height,
            roi=tuple(parse_rect(r) for r in roi if r.strip()),
            ignore=tuple(parse_rect(r) for r in ignore if r.strip()),
        ),
    )
    up = submit.submit_upload(
        db,
        queue,
        file.file,
        file.filename or "upload",
        max_bytes=settings.upload_max_bytes,
        options=options,
    )
    video = media_admin.get_media(db, up.registered.media_id)
    note = None if up.registered.created else media_admin.known_item_note(video)
    return {
        "id": video.id,
        "created": up.registered.created,
        "note": note,
        "media": media_admin.media_json(video),
    }


def _id_list(value: str | None, name: str) -> tuple[int, ...]:
    """Ids from a comma-separated parameter (each 1 to 2^31-1)."""
    if not value:
        return ()
    parts = [p.strip() for p in value.split(",") if p.strip()]
    if not all(p.isascii() and p.isdigit() and 1 <= int(p) <= INT4_MAX for p in parts):
        raise DvaOcrError(f"{name}: comma-separated ids from 1 to {INT4_MAX}, got {value[:80]!r}")
    return tuple(int(p) for p in parts)


@protected.get("/media", response_model=schemas.MediaList)
def list_media(
    status: list[str] = Query([], description="only these statuses (repeat, or comma-separated)"),
    type: str | None = Query(None, pattern="^(video|image)$", description="only videos or only images"),
    q: str = Query("", max_length=200, description="a part of the file name (case-insensitive)"),
    ids: str | None = Query(None, max_length=20000, description="only these ids, comma-separated"),
    sort: str = Query("date", pattern=f"^({'|'.join(media_admin.SORTS)})$", description="what to sort by"),
    order: str = Query("desc", pattern="^(asc|desc)$"),
    limit: int = Query(200, ge=1, le=1000),
    offset: int = offset_param(),
    db: Session = Depends(get_db),
) -> dict:
    """The library: filtered, sorted, one page of it, and ``total``, the items that match on every page."""
    query = media_admin.MediaQuery(
        statuses=tuple(x.strip() for value in status for x in value.split(",") if x.strip()),
        media_type=type,
        name=q,
        ids=_id_list(ids, "ids"),
        sort=sort,
        descending=order == "desc",
        limit=limit,
        offset=offset,
    )
    page = media_admin.query_media(db, query)
    return {
        "items": [media_admin.media_json(v) for v in page.items],
        "total": page.total,
        "limit": limit,
        "offset": offset,
    }


@protected.post("/media/bulk", response_model=schemas.BulkResults, responses=WRITE)
def bulk_media(
    body: schemas.BulkRequest,
    db: Session = Depends(get_db),
    queue: WorkQueue = Depends(get_queue),
    user: User = Depends(current_user),
) -> dict:
    """Delete, retry or cancel several items; each is checked and done on its own (members: only
    what they uploaded), and the answer says per item whether it was done or why not."""
    results: list[dict[str, object]] = []
    for media_id in dict.fromkeys(body.ids):
        try:
            check_may_change(user, media_admin.get_media(db, media_id))
            BULK_ACTIONS[body.action](db, queue, media_id)
            db.commit()
            results.append({"id": media_id, "ok": True, "error": None})
        except DvaOcrError as exc:
            db.rollback()
            results.append({"id": media_id, "ok": False, "error": str(exc)})
    return {"action": body.action, "results": results}


def _delete(db: Session, queue: WorkQueue, media_id: int) -> None:
    media_admin.delete_media(db, media_id)


def _retry(db: Session, queue: WorkQueue, media_id: int) -> None:
    submit.retry_media(db, queue, media_id)


def _cancel(db: Session, queue: WorkQueue, media_id: int) -> None:
    media_admin.cancel_media(db, media_id)


BULK_ACTIONS = {"delete": _delete, "retry": _retry, "cancel": _cancel}


@protected.get(
    "/media/export.zip",
    responses=ITEM
    | {
        200: {
            "description": "A zip: one file per media item (ID-NAME.EXT) and MANIFEST.txt naming what was"
            " left out and why; the X-Export-Left-Out header lists those as JSON [{id, code}]",
            "content": {"application/zip": {}},
        }
    },
)
def export_zip(
    ids: str = Query(..., min_length=1, max_length=20000, description="media ids, comma-separated"),
    format: str = Query("json", pattern="^(json|csv|srt|vtt)$"),
    db: Session = Depends(get_db),
) -> Response:
    """Several items' exports in one zip. Left out (named in MANIFEST.txt and the header): items not
    done yet (code ``unfinished``), and images in SRT or WebVTT (code ``image``: no timeline)."""
    out = media_admin.export_zip(db, list(_id_list(ids, "ids")), format)
    left = [{"id": x["id"], "code": x["code"]} for x in out.left_out]
    headers = {
        "Content-Disposition": f'attachment; filename="{out.filename}"',
        "X-Export-Left-Out": json.dumps(left, separators=(",", ":")),
    }
    return Response(out.body, media_type="application/zip", headers=headers)


@protected.get("/media/{media_id}", response_model=schemas.MediaItem, responses=ITEM)
def get_media(media_id: Id, db: Session = Depends(get_db)) -> dict:
    return media_admin.media_json(media_admin.get_media(db, media_id))


@protected.delete("/media/{media_id}", status_code=204, responses=WRITE | ITEM)
def delete_media(media_id: Id, db: Session = Depends(get_db), user: User = Depends(current_user)) -> None:
    """Members delete what they uploaded; admins anything."""
    check_may_change(user, media_admin.get_media(db, media_id))
    media_admin.delete_media(db, media_id)


@protected.post("/media/{media_id}/retry", response_model=schemas.MediaItem, responses=WRITE | ITEM)
def retry_media(
    media_id: Id,
    db: Session = Depends(get_db),
    queue: WorkQueue = Depends(get_queue),
    user: User = Depends(current_user),
) -> dict:
    check_may_change(user, media_admin.get_media(db, media_id))
    return media_admin.media_json(submit.retry_media(db, queue, media_id))


@protected.post("/media/{media_id}/cancel", response_model=schemas.MediaItem, responses=WRITE | ITEM)
def cancel_media(media_id: Id, db: Session = Depends(get_db), user: User = Depends(current_user)) -> dict:
    """Stop a queued or processing item (the uploader or an admin): it ends ``cancelled`` within a batch
    of frames; retry runs it again from the start. 400 for one that is finished."""
    check_may_change(user, media_admin.get_media(db, media_id))
    video = media_admin.cancel_media(db, media_id)
    db.commit()
    return media_admin.media_json(video)


@protected.get("/media/{media_id}/regions", response_model=schemas.Regions, responses=ITEM)
def media_regions(
    media_id: Id, limit: int = Query(5000, ge=1, le=100000), db: Session = Depends(get_db)
) -> dict:
    return {"media_id": media_id, "regions": media_admin.regions_of(db, media_id, limit=limit)}


@protected.get("/media/{media_id}/tracks", response_model=schemas.Tracks, responses=ITEM)
def media_tracks(media_id: Id, db: Session = Depends(get_db)) -> dict:
    """Text tracks of the media item's active model version: text, start/end, per-frame boxes."""
    return {
        "media_id": media_id,
        "tracks": [media_admin.track_json(t) for t in media_admin.tracks_of(db, media_id)],
    }


@protected.get(
    "/media/{media_id}/export",
    responses=ITEM
    | {
        200: {
            "description": "The export file (the format's content type)",
            "content": {ct.split(";")[0]: {} for ct, _ in FORMATS.values()},
        }
    },
)
def export_media(
    media_id: Id,
    format: str = Query("json", pattern="^(json|csv|srt|vtt)$"),
    download: bool = Query(False, description="send as an attachment"),
    db: Session = Depends(get_db),
) -> Response:
    body, content_type, filename = media_admin.export_media(db, media_id, format)
    headers = {"Content-Disposition": f'attachment; filename="{filename}"'} if download else {}
    return Response(body.encode("utf-8"), media_type=content_type, headers=headers)


@protected.get("/search", response_model=schemas.SearchResults)
def api_search(
    q: str = Query(..., max_length=500, description='words, "phrases", OR, -excluded'),
    media: int | None = media_filter(),
    min_confidence: float | None = Query(None, ge=0, le=1),
    time_from: float | None = Query(None, ge=0),
    time_to: float | None = Query(None, ge=0),
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0, le=MAX_OFFSET),
    level: str = Query("tracks", pattern="^(tracks|regions)$", description="one hit per track or per frame"),
    db: Session = Depends(get_db),
) -> dict:
    hits = search(
        db,
        q,
        media_id=media,
        limit=limit,
        offset=offset,
        min_confidence=min_confidence,
        time_from=time_from,
        time_to=time_to,
        level=level,
    )
    return {
        "query": q,
        "offset": offset,
        "limit": limit,
        "notes": list(hits.notes),
        "hits": [
            h.to_json()
            | {
                "media_name": h.media_name,
                "frame_id": h.frame_id,
                "frame_index": h.frame_index,
                "region_id": h.region_id,
                "track_id": h.track_id,
                "confidence": h.confidence,
                "highlights": [list(span) for span in spans],
            }
            for h, spans in zip(hits, highlight(db, q, hits), strict=True)
        ],
    }


@protected.get("/me", response_model=schemas.Me)
def me(user: User = Depends(current_user)) -> dict:
    return {"id": user.id, "name": user.name, "is_admin": user.is_admin, "role": user.role}
