"""Rows for tests, written through the same functions the pipeline uses."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dva_ocr.db.session import session_scope
from dva_ocr.db.tables import Frame, Video, VideoStatus
from dva_ocr.model_registry import get_or_create_model_version
from dva_ocr.pipeline import build_video_tracks, save_frame_regions


@dataclass(frozen=True)
class FakeRegion:
    text: str
    box: tuple[int, int, int, int] = (10, 20, 200, 40)
    confidence: float = 0.95
    raw_text: str = ""
    polygon: list = field(default_factory=lambda: [[10, 20], [210, 20], [210, 60], [10, 60]])


def make_video_row(s: Session, name: str = "clip.mp4", *, status: str = VideoStatus.done) -> Video:
    mv = get_or_create_model_version(s, "ppocrv4")
    v = Video(
        source_name=name,
        path=f"originals/{name}",
        sha256=hashlib.sha256(name.encode()).hexdigest(),
        size_bytes=1,
        sample_fps=1.0,
        model_version_id=mv.id,
        status=status,
        extracted=True,
    )
    s.add(v)
    s.flush()
    return v


def frame_row(s: Session, video: Video, index: int, *, bands: list[list[int]] | None = None) -> Frame:
    """A 1280x720 frame row at ``index`` seconds (``bands``: None read in full, [] unchanged)."""
    f = Frame(
        video_id=video.id,
        index=index,
        time_s=float(index),
        path=f"{video.id}/frames/{index:06d}.jpg",
        width=1280,
        height=720,
        bands=bands,
    )
    s.add(f)
    s.flush()
    return f


def add_frame(s: Session, video: Video, index: int, texts: list[str]) -> Frame:
    f = frame_row(s, video, index)
    save_frame_regions(s, f, video.model_version_id, [FakeRegion(t, raw_text=t) for t in texts], 1.0)
    # what finalizing does: the text tracks (searched by default) follow the regions
    video.tracks_count = build_video_tracks(s, video, video.model_version_id)
    return f


def count_rows(model, **where) -> int:
    """Rows of a table, optionally where columns equal the given values."""
    with session_scope() as s:
        q = select(func.count()).select_from(model)
        for k, v in where.items():
            q = q.where(getattr(model, k) == v)
        return s.scalar(q)
