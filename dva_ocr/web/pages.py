"""Dashboard pages (Jinja templates). Every page needs a user except /login.

Pages that only show live state (media list, upload, media page) render a shell whose scripts read the
REST API; search, jobs and settings are rendered on the server.
"""

from __future__ import annotations

import html
import mimetypes
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlparse

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from markupsafe import Markup
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dva_ocr import jobs as reprocessing
from dva_ocr import media_admin, model_registry
from dva_ocr.db.tables import Video, VideoStatus
from dva_ocr.errors import DvaOcrError, NotFound
from dva_ocr.search import Hit, Span, highlight, search, segments
from dva_ocr.users import authenticate, issue_token, list_tokens, revoke_token
from dva_ocr.web import status
from dva_ocr.web.auth import CSRF_FIELD, csrf_token, current_user, get_db
from dva_ocr.web.deps import get_queue
from dva_ocr.work import WorkQueue, submit

templates = Jinja2Templates(directory=Path(__file__).resolve().parent / "templates")
router = APIRouter()
pages = APIRouter(dependencies=[Depends(current_user)])

SEARCH_PAGE_SIZE = 20
THUMB_WIDTH = 220  # px of a search hit's crop
THUMB_MAX_HEIGHT = 90


def clock(seconds: float | None) -> str:
    """0:05, 1:02:03."""
    if seconds is None:
        return "–"
    s = int(seconds)
    h, m, sec = s // 3600, s % 3600 // 60, s % 60
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


templates.env.filters["clock"] = clock


def render(request: Request, name: str, status_code: int = 200, **context: object) -> HTMLResponse:
    context.setdefault("user", getattr(request.state, "user", None))
    context.setdefault("active", "")
    context["csrf_token"] = csrf_token(request)
    context["csrf_field"] = CSRF_FIELD
    return templates.TemplateResponse(request, name, context, status_code=status_code)


def _safe_next(url: str | None) -> str:
    """Only same-site paths, so the login form cannot be used to bounce users elsewhere."""
    if not url or not url.startswith("/") or url.startswith("//") or urlparse(url).netloc:
        return "/"
    return url


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "/") -> HTMLResponse:
    return render(request, "login.html", next=_safe_next(next), error=None)


@router.post("/login")
async def login(
    request: Request,
    username: str = Form(...),
    password: str = Form(...),
    next: str = Form("/"),
    csrf_token_field: str = Form("", alias=CSRF_FIELD),
    db: Session = Depends(get_db),
) -> Response:
    if not csrf_token_field or csrf_token_field != request.session.get("csrf"):
        return render(
            request, "login.html", 403, next=_safe_next(next), error="The form expired; please try again."
        )
    user = authenticate(session=db, name=username, password=password)
    if user is None:
        return render(request, "login.html", 401, next=_safe_next(next), error="Wrong user name or password.")
    request.session.clear()
    request.session["user_id"] = user.id
    csrf_token(request)
    return RedirectResponse(_safe_next(next), status_code=303)


@pages.post("/logout")
def logout(request: Request) -> Response:
    request.session.clear()
    return RedirectResponse("/login", status_code=303)


# --- media -----------------------------------------------------------------------------------------


@pages.get("/", response_class=HTMLResponse)
def media_list(request: Request) -> HTMLResponse:
    return render(request, "media_list.html", active="media")


@pages.get("/upload", response_class=HTMLResponse)
def upload(request: Request) -> HTMLResponse:
    return render(
        request, "upload.html", active="upload", max_bytes=request.app.state.settings.upload_max_bytes
    )


def _is_image(v: Video) -> bool:
    if v.media_type:
        return v.media_type == "image"
    return (mimetypes.guess_type(v.source_name)[0] or "").startswith("image/")


@pages.get("/media/{media_id}", response_class=HTMLResponse)
def media_page(
    request: Request,
    media_id: int,
    t: float | None = Query(None, ge=0, description="open the player at this second"),
    db: Session = Depends(get_db),
) -> HTMLResponse:
    try:
        video = media_admin.get_video(db, media_id)
    except NotFound as exc:
        return render(request, "not_found.html", 404, message=str(exc))
    frame_index = media_admin.nearest_frame_index(db, media_id, t if t is not None else 0.0)
    return render(
        request,
        "media.html",
        active="media",
        video=video,
        media=media_admin.media_json(video),
        is_image=_is_image(video),
        t=t,
        frame_index=frame_index,
    )


# --- search ----------------------------------------------------------------------------------------


@dataclass
class HitView:
    hit: Hit
    highlighted: Markup
    thumb_style: str

    @property
    def link(self) -> str:
        return f"/media/{self.hit.media_id}?t={self.hit.time:g}"


def _crop_style(hit: Hit) -> str:
    """CSS that shows the frame cropped around the box: a sized div with a scaled, shifted background."""
    width, height = hit.frame_size
    if not width or not height:
        return f"width:{THUMB_WIDTH}px;height:{THUMB_MAX_HEIGHT // 2}px"
    x, y, w, h = hit.box
    pad = max(16, int(h * 0.6))
    x0, y0 = max(0, x - pad), max(0, y - pad)
    x1, y1 = min(width, x + w + pad), min(height, y + h + pad)
    cw, ch = max(1, x1 - x0), max(1, y1 - y0)
    scale = THUMB_WIDTH / cw
    if ch * scale > THUMB_MAX_HEIGHT:  # a tall region: fit the height instead
        scale = THUMB_MAX_HEIGHT / ch
    url = f"/files/media/{hit.media_id}/frames/{hit.frame_index}.jpg"
    return (
        f"width:{cw * scale:.0f}px;height:{ch * scale:.0f}px;"
        f"background-image:url({url});"
        f"background-size:{width * scale:.1f}px {height * scale:.1f}px;"
        f"background-position:{-x0 * scale:.1f}px {-y0 * scale:.1f}px"
    )


def _to_markup(value: str, spans: list[Span]) -> Markup:
    """The text, escaped, with its highlighted spans in <mark>."""
    return Markup(
        "".join(
            f"<mark>{html.escape(piece)}</mark>" if marked else html.escape(piece)
            for piece, marked in segments(value, spans)
        )
    )


def _float_or_none(value: str | None) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except ValueError:
        return None


@pages.get("/search", response_class=HTMLResponse)
def search_page(
    request: Request,
    q: str = Query("", max_length=500),
    media: str | None = None,
    time_from: str | None = None,
    time_to: str | None = None,
    min_confidence: str | None = None,
    offset: int = Query(0, ge=0),
    db: Session = Depends(get_db),
) -> HTMLResponse:
    media_id = int(media) if media and media.isdigit() else None
    t0, t1 = _float_or_none(time_from), _float_or_none(time_to)
    min_conf = _float_or_none(min_confidence)
    if min_conf is not None:
        min_conf = min(1.0, max(0.0, min_conf))
    groups: list[dict[str, Any]] = []
    has_next = False
    error = None
    if q.strip():
        try:
            hits = search(
                db,
                q,
                video_id=media_id,
                limit=SEARCH_PAGE_SIZE + 1,
                offset=offset,
                min_confidence=min_conf,
                time_from=t0,
                time_to=t1,
            )
        except DvaOcrError as exc:
            hits, error = [], str(exc)
        has_next = len(hits) > SEARCH_PAGE_SIZE
        hits = hits[:SEARCH_PAGE_SIZE]
        by_media: dict[int, dict[str, Any]] = {}
        for h, spans in zip(hits, highlight(db, q, hits), strict=True):
            view = HitView(hit=h, highlighted=_to_markup(h.text, spans), thumb_style=_crop_style(h))
            group = by_media.setdefault(h.media_id, {"id": h.media_id, "name": h.media_name, "hits": []})
            group["hits"].append(view)
        groups = list(by_media.values())

    params = {
        "q": q,
        "media": media_id or "",
        "time_from": time_from or "",
        "time_to": time_to or "",
        "min_confidence": min_confidence or "",
    }

    def page_url(new_offset: int) -> str:
        kept = {k: v for k, v in params.items() if v not in ("", None)}
        return "/search?" + urlencode(kept | ({"offset": new_offset} if new_offset else {}))

    return render(
        request,
        "search.html",
        active="search",
        q=q,
        params=params,
        groups=groups,
        error=error,
        offset=offset,
        page_size=SEARCH_PAGE_SIZE,
        count=sum(len(g["hits"]) for g in groups),
        prev_url=page_url(max(0, offset - SEARCH_PAGE_SIZE)) if offset > 0 else None,
        next_url=page_url(offset + SEARCH_PAGE_SIZE) if has_next else None,
        all_media=media_admin.list_videos(db, limit=1000),
    )


# --- jobs ------------------------------------------------------------------------------------------


@pages.get("/jobs", response_class=HTMLResponse)
def jobs(request: Request, db: Session = Depends(get_db)) -> HTMLResponse:
    broker_error = None
    try:
        depths = status.queue_depths()
        workers = status.workers_alive()
    except Exception as exc:  # the page reports a broker outage instead of failing
        depths, workers = {q: None for q in status.QUEUES}, []
        broker_error = str(exc)
    counts = dict(db.execute(select(Video.status, func.count()).group_by(Video.status)).all())
    failures = list(
        db.scalars(
            select(Video)
            .where(Video.status == VideoStatus.failed)
            .order_by(Video.finished_at.desc().nulls_last(), Video.id.desc())
            .limit(25)
        )
    )
    default = model_registry.default_model_name(db)
    return render(
        request,
        "jobs.html",
        active="jobs",
        depths=depths,
        workers=workers,
        broker_error=broker_error,
        counts={s.value: counts.get(s.value, 0) for s in VideoStatus},
        failures=failures,
        models=[
            model_registry.model_json(mv, n, default=default) for mv, n in model_registry.list_models(db)
        ],
        jobs=[reprocessing.job_json(db, j) for j in reprocessing.list_jobs(db, limit=20)],
    )


@pages.post("/models/{name}/activate")
def activate_model(name: str, db: Session = Depends(get_db)) -> Response:
    model_registry.activate(db, name)
    db.commit()
    return RedirectResponse("/jobs", status_code=303)


@pages.post("/jobs/reprocess", response_model=None)
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


@pages.get("/jobs/{job_id}", response_class=HTMLResponse)
def job_page(request: Request, job_id: int, db: Session = Depends(get_db)) -> HTMLResponse:
    try:
        job = reprocessing.get_job(db, job_id)
    except NotFound as exc:
        return render(request, "not_found.html", 404, message=str(exc))
    return render(
        request,
        "job.html",
        active="jobs",
        job=reprocessing.job_json(db, job),
        rows=reprocessing.compare(db, job_id),
    )


@pages.post("/jobs/{job_id}/{action}")
def job_action(
    request: Request,
    job_id: int,
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
        return render(request, "not_found.html", 404, message=f"no action {action!r}")
    db.commit()
    return RedirectResponse(f"/jobs/{job_id}", status_code=303)


# --- settings: API tokens ----------------------------------------------------------------------------


def _settings_page(request: Request, db: Session, status_code: int = 200, **context: object) -> HTMLResponse:
    user = request.state.user
    return render(
        request,
        "settings.html",
        status_code,
        active="settings",
        tokens=list_tokens(session=db, user=user),
        **context,
    )


@pages.get("/settings", response_class=HTMLResponse)
def settings_page(request: Request, db: Session = Depends(get_db)) -> HTMLResponse:
    # A token just created is handed over once, through the session, then forgotten.
    fresh = request.session.pop("new_token", None) or {}
    return _settings_page(request, db, new_token=fresh.get("token"), new_token_name=fresh.get("name"))


@pages.post("/settings/tokens", response_model=None)
def create_token(request: Request, name: str = Form(""), db: Session = Depends(get_db)) -> Response:
    name = name.strip()
    if not name:
        return _settings_page(request, db, 400, error="Give the token a name.")
    row, token = issue_token(session=db, user=request.state.user, name=name)
    db.commit()
    # The database keeps only its hash. Post/redirect/get: reloading the page cannot make a second token.
    request.session["new_token"] = {"token": token, "name": row.name}
    return RedirectResponse("/settings", status_code=303)


@pages.post("/settings/tokens/{token_id}/revoke")
def revoke(request: Request, token_id: int, db: Session = Depends(get_db)) -> Response:
    revoke_token(session=db, user=request.state.user, token_id=token_id)
    db.commit()
    return RedirectResponse("/settings", status_code=303)


router.include_router(pages)
