"""A long tiny video end to end, the short version of bench/bench_long_video.py (10 hours there): an
hour of 64x64 video at 1 fps is 3,600 frames in 12 segments of 300 s, each frame a row and a JPEG,
the rows written at most 1,000 per statement, the unchanged frames skipped, the item done."""

from __future__ import annotations

from mediagen import make_counter_video
from sqlalchemy import func, select
from test_segments import Reader

from dva_ocr.db.session import session_scope
from dva_ocr.db.tables import Frame, TextTrack, Video, VideoSegment
from dva_ocr.pipeline import IngestOptions, register_media, rows
from dva_ocr.settings import get_settings
from dva_ocr.work import EXTRACT, EXTRACT_SEGMENT
from dva_ocr.work.inline import InlineQueue


def test_an_hour_of_tiny_video_in_segments(db, tmp_path, monkeypatch):
    monkeypatch.setenv("EXTRACT_SEGMENT_S", "300")
    get_settings.cache_clear()
    path = make_counter_video(tmp_path / "hour.mp4", seconds=3600, change_s=600)
    statements: list[int] = []
    upsert = rows.upsert_frames

    def counted(session, media_id, frame_rows):
        statements.append(len(frame_rows))
        return upsert(session, media_id, frame_rows)

    monkeypatch.setattr(rows, "upsert_frames", counted)
    with session_scope() as s:
        vid = register_media(s, path, IngestOptions(fps=1)).media_id
    reader = Reader()  # a line in each image it is given: the frames that changed
    queue = InlineQueue(lambda _model: reader)
    try:
        queue.send(EXTRACT, vid)
    finally:
        get_settings.cache_clear()
    assert sum(1 for sent in queue.ran if sent.task == EXTRACT_SEGMENT) == 12
    with session_scope() as s:
        v = s.get(Video, vid)
        assert (v.status, v.error) == ("done", None)
        assert v.frames_total == v.frames_extracted == 3600
        frames = s.scalar(select(func.count()).select_from(Frame).where(Frame.video_id == vid))
        assert frames == 3600
        assert {g.status for g in s.scalars(select(VideoSegment).where(VideoSegment.video_id == vid))} == {
            "done"
        }
        # read: each segment's first frame, a whole frame every MAX_REUSE_S (30 s), and the number's
        # 5 changes; the rest repeats what was read
        assert v.frames_skipped >= 3600 - 12 - 3600 // 30 - 5 - 12
        assert reader.images == 3600 - v.frames_skipped
        assert s.scalar(select(func.count()).select_from(TextTrack).where(TextTrack.video_id == vid)) >= 1
    assert max(statements) <= rows.FRAME_ROWS_PER_STATEMENT and sum(statements) == 3600
    assert len(list((get_settings().media_root / str(vid) / "frames").glob("*.jpg"))) == 3600
