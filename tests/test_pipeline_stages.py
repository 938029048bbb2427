"""Pipeline stages called directly (as the Celery tasks call them): idempotent, crash-safe writes."""

from __future__ import annotations

import pytest
from factories import count_rows
from mediagen import Caption, make_video
from run_queued import frames_to_read, read_queued
from sqlalchemy import select

from dva_ocr.db.session import session_scope
from dva_ocr.db.tables import Frame, FrameOcr, Region, TextTrack, Video
from dva_ocr.pipeline import extract_video, finalize_video, ocr_frames, register_media
from dva_ocr.work import FINALIZE, RecordingQueue


@pytest.fixture(scope="module")
def engine():
    from dva_ocr.ocr import OcrEngine

    return OcrEngine()


def test_stages_run_twice_leave_one_set_of_rows(db, engine, tmp_path):
    # one caption on screen for the whole clip: frame 0 is read, frames 1-3 repeat it unchanged
    video = make_video(tmp_path / "v.mp4", [Caption("Harbour lights festival", 0, 4)], duration=4)
    with session_scope() as s:
        vid = register_media(s, video).media_id
    queue = RecordingQueue()

    # extraction delivered twice (a worker died after finishing it): same frames, not twice as many
    assert extract_video(vid, queue=queue) == 4
    with session_scope() as s:
        s.get(Video, vid).status = "processing"
    extract_video(vid, queue=queue)
    assert count_rows(Frame, video_id=vid) == 4
    frame_ids = frames_to_read(queue, vid)  # one frame: in the OCR pool (fewer than a batch)
    assert len(frame_ids) == 1  # only the first frame needs reading
    with session_scope() as s:
        v = s.get(Video, vid)
        assert (v.frames_skipped, v.frames_partial) == (3, 0)  # counted once despite the re-run

    n1 = ocr_frames(vid, frame_ids, reader=engine, queue=queue)
    first = count_rows(Region, video_id=vid)
    assert n1 == first == 1
    n2 = ocr_frames(vid, frame_ids, reader=engine, queue=queue)
    assert n2 == 1 and count_rows(Region, video_id=vid) == first
    with session_scope() as s:
        v = s.get(Video, vid)
        assert v.frames_ocr == 1  # the re-run did not count frames again
        assert v.status == "finalizing"
    assert count_rows(FrameOcr) == 1
    assert queue.ids_sent(FINALIZE) == [vid]  # exactly one roll-up queued
    finalize_video(vid)
    finalize_video(vid)
    with session_scope() as s:
        v = s.get(Video, vid)
        assert (v.status, v.regions_count, v.tracks_count) == ("done", 1, 1)
        track = s.scalars(select(TextTrack).where(TextTrack.video_id == vid)).one()
        assert (track.text, track.start_s, track.end_s) == ("Harbour lights festival", 0.0, 4.0)
        assert [b["frame"] for b in track.boxes] == [0, 1, 2, 3]  # seen in every frame


def test_registering_the_same_content_twice_is_one_media_item(db, tmp_path):
    video = make_video(tmp_path / "a.mp4", [], duration=1)
    copy = tmp_path / "b.mp4"
    copy.write_bytes(video.read_bytes())
    with session_scope() as s:
        first = register_media(s, video)
    with session_scope() as s:
        second = register_media(s, copy)
    assert first.created and not second.created and first.media_id == second.media_id


def test_a_failed_item_registered_again_runs_again(db, tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"")
    with session_scope() as s:
        vid = register_media(s, bad).media_id
    extract_video(vid, queue=RecordingQueue())
    with session_scope() as s:
        v = s.get(Video, vid)
        assert v.status == "failed" and "empty" in v.error
    with session_scope() as s:
        again = register_media(s, bad)
    assert again.created and again.media_id == vid
    with session_scope() as s:
        v = s.get(Video, vid)
        assert v.status == "queued" and v.error is None


def test_stages_for_a_deleted_video_do_nothing(db):
    queue = RecordingQueue()
    assert extract_video(999, queue=queue) == 0
    assert ocr_frames(999, [1, 2], reader=None, queue=queue) == 0  # type: ignore[arg-type]
    finalize_video(999)


def test_an_image_is_one_frame_media(db, engine, tmp_path):
    from PIL import Image
    from textgen import render_lines

    image, _ = render_lines(["Harbour lights festival", "Tickets at the door"], size=(900, 300), seed=5)
    path = tmp_path / "poster.png"
    Image.fromarray(image).save(path)
    with session_scope() as s:
        vid = register_media(s, path).media_id
    queue = RecordingQueue()
    assert extract_video(vid, queue=queue) == 1
    assert read_queued(queue, lambda _model: engine) == 1  # one task: a pool wake-up
    assert queue.ids_sent(FINALIZE) == [vid]
    finalize_video(vid)
    with session_scope() as s:
        v = s.get(Video, vid)
        assert (v.media_type, v.status, v.frames_ocr, v.duration) == ("image", "done", 1, None)
        frame = s.scalars(select(Frame).where(Frame.video_id == vid)).one()
        assert (frame.index, frame.time_s, frame.width, frame.height) == (0, 0.0, 900, 300)
        texts = sorted(s.scalars(select(Region.text).where(Region.video_id == vid)))
    assert texts == ["Harbour lights festival", "Tickets at the door"]


def test_a_task_that_breaks_fails_its_video_with_the_reason_and_returns(db, tmp_path, monkeypatch):
    import workers.tasks as tasks

    class BrokenReader:
        def batch(self, images):
            raise RuntimeError("CUDA out of memory (simulated)")

    video = make_video(tmp_path / "v.mp4", [Caption("Harbour", 0, 1)], duration=2)
    with session_scope() as s:
        vid = register_media(s, video).media_id
    queue = RecordingQueue()
    extract_video(vid, queue=queue)
    monkeypatch.setattr(tasks, "get_reader", lambda model=None: BrokenReader())
    assert tasks.ocr_pool(*queue.pool_wakeups()) == 0  # the Celery task body, run in this process
    with session_scope() as s:
        v = s.get(Video, vid)
        assert v.status == "failed"
        assert v.error == "OCR failed: RuntimeError: CUDA out of memory (simulated)"
