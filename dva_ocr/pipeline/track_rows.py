"""Text track rows of a (media item, model version), built from its frame and region rows."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from dva_ocr import tracks
from dva_ocr.db.session import session_scope
from dva_ocr.db.tables import Frame, Region, TextTrack, Video
from dva_ocr.search import vocabulary


def build_video_tracks(session: Session, video: Video, model_version_id: int) -> int:
    """Replace the text tracks of (video, model version) from its regions. Returns tracks written."""
    frames = [
        tracks.FrameRec(
            fid, index, time_s, ref_index, None if bands is None else tuple(tuple(b) for b in bands)
        )
        for fid, index, time_s, ref_index, bands in session.execute(
            select(Frame.id, Frame.index, Frame.time_s, Frame.ref_index, Frame.bands).where(
                Frame.video_id == video.id
            )
        ).all()
    ]
    own: dict[int, list[tracks.Reading]] = {}
    raw: dict[int, str] = {}  # region id -> the recogniser's string before word spacing
    for r in session.execute(
        select(
            Region.id,
            Region.frame_id,
            Region.x,
            Region.y,
            Region.w,
            Region.h,
            Region.text,
            Region.raw_text,
            Region.confidence,
        )
        .where(Region.video_id == video.id, Region.model_version_id == model_version_id)
        .order_by(Region.frame_id, Region.y, Region.x)
    ):
        own.setdefault(r.frame_id, []).append(
            tracks.Reading(r.id, r.frame_id, (r.x, r.y, r.w, r.h), r.text, r.confidence)
        )
        raw[r.id] = r.raw_text
    duration = video.duration if video.media_type == "video" else None
    results = tracks.build_tracks(frames, own, duration=duration)
    session.query(TextTrack).filter(
        TextTrack.video_id == video.id, TextTrack.model_version_id == model_version_id
    ).delete(synchronize_session=False)
    rows = [
        {
            "video_id": video.id,
            "model_version_id": model_version_id,
            "text": t.text,
            "raw_text": raw.get(t.best.region_id, t.text),
            "start_s": t.start,
            "end_s": t.end,
            "confidence": t.confidence,
            "agreement": t.agreement,
            "readings": t.readings,
            "best_frame_id": t.best.frame_id,
            "boxes": [{"t": s.time, "frame": s.frame_index, "box": list(s.box)} for s in t.seen],
            "x": t.best.box[0],
            "y": t.best.box[1],
            "w": t.best.box[2],
            "h": t.best.box[3],
        }
        for t in results
    ]
    if rows:
        session.execute(insert(TextTrack), rows)
    vocabulary.add_media_words(session, video.id, model_version_id)
    return len(rows)


def rebuild_tracks(media_id: int, model_version_id: int) -> int:
    """Build a media item's tracks of a model version in their own transaction (the item locked)."""
    with session_scope() as s:
        video = s.get(Video, media_id, with_for_update=True)
        return 0 if video is None else build_video_tracks(s, video, model_version_id)
