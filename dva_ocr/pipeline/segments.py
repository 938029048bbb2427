"""Segment-parallel extraction of long videos: the plan, the segment rows, and the end of extraction.

A video longer than ``EXTRACT_SEGMENT_S`` is cut into equal time ranges of about that length
(``plan``), each extracted by its own ``qextract`` task (``extract.extract_segment``), so several
workers decode one video at once. A segment is sampled exactly as the whole pass samples it there
(``dva_ocr.media.frames.Span``): the fixed policy's frame numbers and times are the whole video's
from the start. The keyframes and scene policies number their frames in order, which a segment only
knows once the segments before it are done: segment ``seq`` > 0 writes provisional (negative)
indexes, renumbered when the last segment ends (``finish``).

The media item is extracted once every segment is done, decided in the database: each segment
ends in a transaction that locks the item's row, marks the segment done and counts the segments
left, so of segments that end at the same time (or out of order, or twice: a redelivered task) exactly
one sees none left. That one counts the item's frames from their rows, merges the segments' decode
reports into the item's notes and sets ``extracted``; the roll-up follows when the last frame is read
(``finalize.maybe_finalize``).
"""

from __future__ import annotations

import math
from typing import Any

from sqlalchemy import ColumnElement, Update, case, func, literal_column, select, true, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from dva_ocr.db.session import session_scope
from dva_ocr.db.tables import Frame, SegmentStatus, Video, VideoSegment, VideoStatus
from dva_ocr.errors import DvaOcrError
from dva_ocr.media.decoding import DecodeReport
from dva_ocr.media.frames import WHOLE, Span
from dva_ocr.pipeline import rows

MAX_SEGMENTS = 2000  # longer segments beyond this (provisional indexes must fit in 32 bits)
STRIDE = 1 << 20  # provisional indexes of one segment: at most this many frames (a 300 s segment: 3,495 fps)


class SegmentDone(Exception):
    """The segment was finished by another run of its task (a redelivered one): this run stops."""


def plan(duration: float | None, segment_s: float) -> list[Span]:
    """The segments of a video: ``[WHOLE]`` when it is not longer than ``segment_s`` (or its length is
    unknown, or it is an image), else equal spans of about ``segment_s`` seconds, the last to the end."""
    if not duration or duration <= segment_s:
        return [WHOLE]
    n = min(MAX_SEGMENTS, math.ceil(duration / segment_s - 1e-9))
    cuts = [round(i * duration / n, 3) for i in range(1, n)]
    return [Span(a, b) for a, b in zip([0.0, *cuts], [*cuts, None], strict=True)]


def provisional_index(seq: int, local: int) -> int:
    """Where a keyframes/scene segment's ``local``-th frame is written until the segment is renumbered:
    segment 0's indexes are final; the others' negative, ``STRIDE`` apart."""
    if local >= STRIDE:
        raise DvaOcrError(f"segment {seq} took more than {STRIDE} frames; set a shorter EXTRACT_SEGMENT_S")
    return local if seq == 0 else -(seq * STRIDE + local) - 1


def create(media_id: int, spans: list[Span]) -> list[int]:
    """The item's segment rows (kept if they exist: a redelivered planning task); returns the segments
    not done, to be queued."""
    with session_scope() as s:
        values = [
            {"video_id": media_id, "seq": seq, "start_s": span.start_s, "end_s": span.end_s}
            for seq, span in enumerate(spans)
        ]
        s.execute(insert(VideoSegment).values(values).on_conflict_do_nothing())
        return list(
            s.scalars(
                select(VideoSegment.seq)
                .where(VideoSegment.video_id == media_id, VideoSegment.status != SegmentStatus.done)
                .order_by(VideoSegment.seq)
            )
        )


def begin(media_id: int, seq: int, max_attempts: int) -> Span | None:
    """Start a run of a segment: its span, or None when it is done (or gone). A segment started
    ``max_attempts`` times already (each run's worker died: out of memory, killed) fails the item."""
    with session_scope() as s:
        seg = s.get(VideoSegment, (media_id, seq), with_for_update=True)
        if seg is None or seg.status == SegmentStatus.done:
            return None
        if seg.attempts >= max_attempts:
            when = describe(Span(seg.start_s, seg.end_s))
            message = (
                f"frame extraction of segment {seq} ({when}) was started {seg.attempts} times and "
                "never finished (its worker stopped each time: killed, or out of memory?); retry it to run "
                "it again from the start"
            )
        else:
            seg.status, seg.attempts, seg.touched_at = SegmentStatus.running, seg.attempts + 1, func.now()
            return Span(seg.start_s, seg.end_s)
    rows.fail_media(media_id, message)
    return None


def _unfinished(media_id: int, seq: int) -> Update:
    """An update of a segment's row while it is not done."""
    return update(VideoSegment).where(
        VideoSegment.video_id == media_id, VideoSegment.seq == seq, VideoSegment.status != SegmentStatus.done
    )


def keep_alive(session: Session, media_id: int, seq: int) -> None:
    """Note that a segment's run is alive (in the transaction that writes its frames); raises
    ``SegmentDone`` when another run finished it. The row stays locked until that transaction ends,
    so frames are never written after the segment is done (and renumbered)."""
    alive = session.scalar(
        _unfinished(media_id, seq).values(touched_at=func.now()).returning(VideoSegment.seq)
    )
    if alive is None:
        raise SegmentDone(f"segment {seq} of media {media_id} was finished by another run")


def finish(media_id: int, seq: int, frames: int, report: DecodeReport, *, renumber: bool) -> bool:
    """Mark a segment done (it wrote ``frames`` frames); true for the one run that ends the item's
    extraction (every segment done). ``renumber``: the policy numbers frames in order (keyframes,
    scene): the provisional indexes are made final."""
    with session_scope() as s:
        video = s.get(Video, media_id, with_for_update=True)  # one segment ends at a time
        if video is None or video.status != VideoStatus.processing or video.extracted:
            return False
        done = s.scalar(
            _unfinished(media_id, seq)
            .values(status=SegmentStatus.done, frames=frames, report=report.to_json(), finished_at=func.now())
            .returning(VideoSegment.seq)
        )
        segs = list(s.scalars(select(VideoSegment).where(VideoSegment.video_id == media_id)))
        if done is None or any(g.status != SegmentStatus.done for g in segs):
            rows.touch(s, media_id)
            return False
        segs.sort(key=lambda g: g.seq)
        if renumber:
            _renumber(s, media_id, [(g.seq, g.frames) for g in segs])
        _end_extraction(s, video, [g.report for g in segs])
        return True


def _provisional(media_id: int, seq: int) -> ColumnElement[bool]:
    """The frame rows of keyframes/scene segment ``seq`` > 0 before renumbering."""
    top = -(seq * STRIDE) - 1
    return (Frame.video_id == media_id) & (Frame.index <= top) & (Frame.index > top - STRIDE)


def _renumber(s: Session, media_id: int, counts: list[tuple[int, int]]) -> None:
    """Provisional indexes to final ones: segment ``seq``'s frames follow those of the segments before.
    New indexes are never in use (the provisional ones are negative), so the unique index holds."""
    base = 0
    for seq, n in counts:
        if seq > 0 and n:
            offset = base - 1 - seq * STRIDE  # final = base + local, provisional = -(seq*STRIDE+local)-1
            s.execute(
                update(Frame)
                .where(_provisional(media_id, seq))
                .values(
                    index=offset - Frame.index,
                    ref_index=case((Frame.ref_index.is_(None), None), else_=offset - Frame.ref_index),
                )
            )
        base += n


def _end_extraction(s: Session, video: Video, reports: list[dict[str, Any]]) -> None:
    """Every segment done: the item's frame counters from its rows (the segments' writes raced), its
    notes with what ffmpeg reported, and ``extracted``."""
    report = DecodeReport.merged(reports)
    total = rows.count_frames(video.id, true())
    rows.touch(
        s,
        video.id,
        extracted=True,
        frames_total=total,
        frames_extracted=total,
        frames_skipped=rows.count_frames(video.id, Frame.bands == literal_column("'[]'::jsonb")),
        frames_partial=rows.count_frames(video.id, func.jsonb_array_length(Frame.bands) > 0),
        notes=list(video.notes or []) + report.notes(),
    )


def describe(span: Span) -> str:
    """A segment's time range, for a person."""
    return f"{span.start_s:.0f} s to " + ("the end" if span.end_s is None else f"{span.end_s:.0f} s")
