"""The search page: hits grouped by media, each with a crop around its box, its matched words marked,
its time span (none for an image) and the recogniser's raw reading; the total on all pages.

The form works without a script (submit); ``static/search.js`` applies it as it changes, fetching this
same page and swapping its results in, so the page is rendered in one place."""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from fastapi import Depends, Query, Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.orm import Session

from dva_ocr import media_admin
from dva_ocr.db.tables import Region, TextTrack, Video
from dva_ocr.errors import DvaOcrError
from dva_ocr.search import MAX_OFFSET, Hit, Results, Span, highlight, search, segments
from dva_ocr.web.auth import get_db
from dva_ocr.web.pages.common import page_router, render
from dva_ocr.web.pages.media import is_image
from dva_ocr.web.params import INT4_MAX

router = page_router()

SEARCH_PAGE_SIZE = 20
THUMB_WIDTH = 220  # px of a search hit's crop
THUMB_MAX_HEIGHT = 90


@dataclass
class HitView:
    hit: Hit
    highlighted: Markup
    thumb_style: str
    raw: str  # what the recogniser read, before word spacing (``lnvoice`` where the text says so)
    image: bool  # an image has no times

    @property
    def link(self) -> str:
        return (
            f"/media/{self.hit.media_id}" if self.image else f"/media/{self.hit.media_id}?t={self.hit.time:g}"
        )

    @property
    def end(self) -> float | None:
        """Until when the text stayed on screen, where that is after its start."""
        end = self.hit.end
        return end if end is not None and end > self.hit.time else None


def _raw_readings(db: Session, hits: list[Hit]) -> dict[tuple[str, int], str]:
    """The raw reading of each hit's track or region, keyed ("track" | "region", id)."""
    tracks = [h.track_id for h in hits if h.track_id]
    regions = [h.region_id for h in hits if h.region_id]
    out: dict[tuple[str, int], str] = {}
    if tracks:
        rows = db.execute(select(TextTrack.id, TextTrack.raw_text).where(TextTrack.id.in_(tracks)))
        out |= {("track", i): raw for i, raw in rows}
    if regions:
        rows = db.execute(select(Region.id, Region.raw_text).where(Region.id.in_(regions)))
        out |= {("region", i): raw for i, raw in rows}
    return out


def _views(db: Session, q: str, page: list[Hit]) -> list[HitView]:
    raw = _raw_readings(db, page)
    media = {v.id: v for v in db.scalars(select(Video).where(Video.id.in_({h.media_id for h in page})))}
    return [
        HitView(
            hit=h,
            highlighted=_to_markup(h.text, spans),
            thumb_style=_crop_style(h),
            raw=raw.get(("track", h.track_id) if h.track_id else ("region", h.region_id)) or h.text,
            image=h.media_id in media and is_image(media[h.media_id]),
        )
        for h, spans in zip(page, highlight(db, q, page), strict=True)
    ]


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
        return float(value) if value else None
    except ValueError:
        return None


@router.get("/search", response_class=HTMLResponse)
def search_page(
    request: Request,
    q: str = Query("", max_length=500),
    media: str | None = None,
    time_from: str | None = None,
    time_to: str | None = None,
    min_confidence: str | None = None,
    offset: int = Query(0, ge=0, le=MAX_OFFSET),
    db: Session = Depends(get_db),
) -> HTMLResponse:
    # str.isdigit() is true for "²", which int() refuses: only ASCII digits, within the id range
    media_id = int(media) if media and media.isascii() and media.isdigit() else None
    if media_id is not None and not 1 <= media_id <= INT4_MAX:
        media_id = None
    t0, t1 = _float_or_none(time_from), _float_or_none(time_to)
    min_conf = _float_or_none(min_confidence)
    if min_conf is not None:
        min_conf = min(1.0, max(0.0, min_conf))
    groups: list[dict[str, Any]] = []
    has_next = False
    error = None
    notes: tuple[str, ...] = ()
    total: int | None = None
    total_complete = True
    if q.strip():
        try:
            hits = search(
                db,
                q,
                media_id=media_id,
                limit=SEARCH_PAGE_SIZE + 1,
                offset=offset,
                min_confidence=min_conf,
                time_from=t0,
                time_to=t1,
            )
        except DvaOcrError as exc:
            hits, error = Results(), str(exc)
        notes = hits.notes
        total, total_complete = hits.total, hits.total_complete
        has_next = len(hits) > SEARCH_PAGE_SIZE
        by_media: dict[int, dict[str, Any]] = {}
        for view in _views(db, q, hits[:SEARCH_PAGE_SIZE]):
            h = view.hit
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
        notes=notes,
        offset=offset,
        page_size=SEARCH_PAGE_SIZE,
        count=sum(len(g["hits"]) for g in groups),
        total=total,
        total_complete=total_complete,
        prev_url=page_url(max(0, offset - SEARCH_PAGE_SIZE)) if offset > 0 else None,
        next_url=page_url(offset + SEARCH_PAGE_SIZE) if has_next else None,
        all_media=media_admin.list_media(db, limit=1000),
    )
