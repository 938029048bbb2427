"""Segment-parallel extraction: a long video is extracted in time ranges, one qextract task each, and
the result is the one pass's: the same frames (indexes, times, pixels) for every sampling policy, on
odd frame rates and variable ones, with segment boundaries between samples; one track for a caption
that spans a boundary; progress counted from the rows while segments run out of order; the item's
extraction ended exactly once, also when the last segments end at the same time; retry, reprocessing
and the sweep (a running segment whose worker died is queued again)."""

from __future__ import annotations

import subprocess
import threading
from pathlib import Path

import pytest
from factories import FakeRegion
from mediagen import FONT, Caption, make_video
from run_queued import read_queued
from sqlalchemy import func, select, text

from dva_ocr.db.session import session_scope
from dva_ocr.db.tables import Frame, FrameOcr, TextTrack, Video, VideoSegment
from dva_ocr.media import frames as frames_mod
from dva_ocr.media.frames import Sampling, Span, sample_frames
from dva_ocr.media.probe import probe
from dva_ocr.pipeline import (
    IngestOptions,
    extract_segment,
    extract_video,
    finalize_video,
    register_media,
    rows,
    segments,
)
from dva_ocr.pipeline.sweep import sweep_stuck
from dva_ocr.settings import get_settings
from dva_ocr.work import EXTRACT, EXTRACT_SEGMENT, FINALIZE, RecordingQueue
from dva_ocr.work.inline import InlineQueue

POLICIES = {
    "fixed-1": Sampling("fixed", 1.0),
    "fixed-2.5": Sampling("fixed", 2.5),
    "keyframes": Sampling("keyframes", 1.0, max_gap_s=1.3),
    "scene": Sampling("scene", 1.0, scene_threshold=0.3, max_gap_s=1.7),
}
SHOT_FRAMES = 300  # frames per shot of the generated video: hard cuts that the scene policy must find


def cut_times(rate: str) -> list[float]:
    cuts = [SHOT_FRAMES * k for k in (1, 2, 3)]
    return [n * 1001 / 30000 + (0.37 * (n // 45) if rate == "vfr" else 0) for n in cuts]


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", *args], check=True, timeout=300)


def make_cut_video(path: Path, *, vfr: bool = False, seconds: int = 40) -> Path:
    """A 29.97 fps H.264 video (1.5 s GOPs) of four 10 s shots, each moving and with the frame number
    drawn; ``vfr``: the frames' times spread unevenly (every 45th frame 0.37 s later than the last,
    others at 1/29.97 s), written with their own timestamps."""
    shots = ["testsrc2", "smptebars", "testsrc", "rgbtestsrc"]
    inputs: list[str] = []
    for src in shots:
        inputs += ["-f", "lavfi", "-i", f"{src}=s=320x240:r=30000/1001:d={seconds / len(shots)}"]
    number = f"drawtext=fontfile={FONT}:text='%{{n}}':fontsize=28:x=20+mod(n\\,200):y=20:fontcolor=white"
    chain = "".join(f"[{i}:v]" for i in range(len(shots))) + f"concat=n={len(shots)}:v=1,{number}"
    if vfr:
        chain += ",setpts='(N/(30000/1001)+0.37*floor(N/45))/TB'"
    _ffmpeg(
        *inputs, "-filter_complex", chain, "-c:v", "libx264", "-preset", "veryfast", "-g", "45",
        "-pix_fmt", "yuv420p", *(["-fps_mode", "vfr"] if vfr else []), str(path),
    )  # fmt: skip
    return path


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("segments")
    return {"29.97": make_cut_video(d / "cfr.mp4"), "vfr": make_cut_video(d / "vfr.mp4", vfr=True)}


def _sampled(path: Path, sampling: Sampling, spans: list[Span]) -> list[tuple[int, float, bytes]]:
    """Frames of the spans, one after the other; keyframes/scene: numbered on across the spans, as the
    item's frames are once its segments are renumbered."""
    info = probe(path)
    out = []
    for span in spans:
        for f in sample_frames(path, info, sampling, span=span):
            out.append((f.index if sampling.policy == "fixed" else len(out), f.time_s, f.image.tobytes()))
    return out


# boundaries between samples (9.7 s, 23.35 s), on a sample (10 s), and a span too short for a frame
SPANS = [Span(0.0, 9.7), Span(9.7, 10.0), Span(10.0, 23.35), Span(23.35, None)]


@pytest.mark.parametrize("rate", ["29.97", "vfr"])
@pytest.mark.parametrize("policy", list(POLICIES))
def test_spans_sample_exactly_the_frames_of_one_pass(videos, rate, policy, monkeypatch):
    path, sampling = videos[rate], POLICIES[policy]
    commands: list[list[str]] = []
    popen = subprocess.Popen

    def recording(cmd, *args, **kwargs):
        commands.append(list(cmd))
        return popen(cmd, *args, **kwargs)

    monkeypatch.setattr(frames_mod.subprocess, "Popen", recording)
    whole = _sampled(path, sampling, [Span()])
    parts = _sampled(path, sampling, SPANS)
    assert [(i, t) for i, t, _ in parts] == [(i, t) for i, t, _ in whole]
    assert [img for _, _, img in parts] == [img for _, _, img in whole]  # frame for frame, pixel for pixel
    times = [t for _, t, _ in whole]
    if sampling.policy == "fixed":
        fps = sampling.fps
        assert [i for i, _, _ in whole] == list(range(len(whole)))
        assert times == [round(i / fps, 3) for i in range(len(whole))]
    if sampling.policy == "scene":  # the cuts are found (the frames right at them), not only the floor
        for cut in cut_times(rate):
            assert any(cut - 0.05 <= t <= cut + 0.4 for t in times), (cut, times)
    runs = [c for c in commands if c[0] == "ffmpeg"]
    seeks = [float(c[c.index("-ss") + 1]) for c in runs if "-ss" in c]
    assert len(runs) == 5 and len(seeks) == 3, runs  # the spans after the first: decoded from a seek
    assert all(0 < seek < span.start_s for seek, span in zip(seeks, SPANS[1:], strict=True))


def test_a_seek_that_lands_on_the_span_start_seeks_further_back(videos, monkeypatch, caplog):
    """Seeking exactly to a keyframe at a span's start leaves no frame decoded ahead of it (the scene
    score and the floor need the frames before): the span is decoded again from further back."""
    path = videos["29.97"]
    start = 4 * 45 * 1001 / 30000  # a keyframe (GOPs of 45 frames): 6.006 s
    info = probe(path)
    monkeypatch.setattr(frames_mod, "SEEK_MARGIN_S", -2 / info.fps)  # seek to the start itself
    sampling = POLICIES["scene"]
    with caplog.at_level("INFO", logger="dva_ocr.media.frames"):
        parts = _sampled(path, sampling, [Span(0, start), Span(start, None)])
    assert any("seeking further back" in r.getMessage() for r in caplog.records)
    assert parts == _sampled(path, sampling, [Span()])


# --- the pipeline ------------------------------------------------------------------------------------


class Reader:
    """Reads one line in every image it is given (which frames reach OCR is what these tests ask)."""

    def __init__(self) -> None:
        self.images = 0

    def batch(self, images):
        self.images += len(images)
        return [[FakeRegion("seen", (2, 2, 20, 10))] for _ in images]


@pytest.fixture()
def segment_s(monkeypatch):
    """EXTRACT_SEGMENT_S for this test (``set(seconds)``)."""

    def set_to(seconds: float) -> None:
        monkeypatch.setenv("EXTRACT_SEGMENT_S", str(seconds))
        get_settings.cache_clear()

    yield set_to
    monkeypatch.undo()
    get_settings.cache_clear()


def _copy(src: Path, dest: Path, tag: str) -> Path:
    """The same streams under other bytes (a distinct media item)."""
    _ffmpeg("-i", str(src), "-c", "copy", "-metadata", f"title={tag}", str(dest))
    return dest


def _register(path: Path, options: IngestOptions | None = None) -> int:
    with session_scope() as s:
        return register_media(s, path, options).media_id


def _frames(media_id: int) -> list[tuple[int, float, int | None, list | None]]:
    with session_scope() as s:
        return [
            (f.index, f.time_s, f.ref_index, f.bands)
            for f in s.scalars(select(Frame).where(Frame.video_id == media_id).order_by(Frame.index))
        ]


def _jpegs(media_id: int) -> list[bytes]:
    root = get_settings().media_root
    with session_scope() as s:
        paths = s.scalars(select(Frame.path).where(Frame.video_id == media_id).order_by(Frame.index))
        return [(root / p).read_bytes() for p in paths]


def _video(media_id: int) -> Video:
    with session_scope() as s:
        return s.get(Video, media_id)


OPTIONS = {
    "fixed": IngestOptions(fps=2),
    "keyframes": IngestOptions(sampling="keyframes", fps=1, max_gap_s=1.3),
    "scene": IngestOptions(sampling="scene", fps=1, max_gap_s=1.7),
}


@pytest.mark.parametrize("policy", list(OPTIONS))
def test_segments_out_of_order_write_the_frames_of_one_pass_and_count_progress(
    db, videos, tmp_path, segment_s, policy
):
    options = OPTIONS[policy]
    one = _register(_copy(videos["vfr"], tmp_path / "one.mp4", "one"), options)
    ref = RecordingQueue()
    extract_video(one, queue=ref)
    read_queued(ref, lambda _model: Reader())  # its pooled frames too: no wake-up of the pool left unrun
    assert _video(one).extracted

    segment_s(11)  # about 50 s: five segments of about 10 s
    vid = _register(_copy(videos["vfr"], tmp_path / "parts.mp4", "parts"), options)
    queue = RecordingQueue()
    extract_video(vid, queue=queue)
    planned = queue.take(EXTRACT_SEGMENT)
    assert planned == [(vid, seq) for seq in range(len(planned))] and len(planned) >= 4
    assert queue.sent == []
    v = _video(vid)
    assert v.status == "processing" and not v.extracted and v.frames_extracted == 0
    expected_total = v.frames_total  # fixed: known from the duration; the others: not before
    assert (expected_total is not None) == (policy == "fixed")
    reader = Reader()
    for n, (_, seq) in enumerate(reversed(planned), 1):  # the last segment first
        assert extract_segment(vid, seq, queue=queue) > 0
        with session_scope() as s:
            rows_now = s.scalar(select(func.count()).select_from(Frame).where(Frame.video_id == vid))
        v = _video(vid)
        assert v.frames_extracted == rows_now  # counted from the rows, whatever the order
        assert v.extracted == (n == len(planned))
        if policy == "fixed":
            assert v.frames_total >= rows_now
        # OCR as the segments go: the roll-up is queued once, after the last segment's frames are read
        read_queued(queue, lambda _model: reader)
        assert queue.ids_sent(FINALIZE) == ([vid] if n == len(planned) else [])
    v = _video(vid)
    assert v.frames_total == v.frames_extracted == len(_frames(one))
    if policy == "fixed":
        assert abs(expected_total - v.frames_total) <= 1

    # the frames of one pass, index for index and byte for byte; each segment's first frame is read
    # in full (change detection starts again there), the others as the one pass decided
    got, want = _frames(vid), _frames(one)
    assert [(i, t) for i, t, _, _ in got] == [(i, t) for i, t, _, _ in want]
    assert _jpegs(vid) == _jpegs(one)
    with session_scope() as s:
        starts = [g.start_s for g in s.scalars(select(VideoSegment).where(VideoSegment.video_id == vid))]
        assert all(g.status == "done" and g.attempts == 1 for g in s.scalars(select(VideoSegment)))
    firsts = {min((i for i, t, _, _ in got if t >= start), default=None) for start in starts}
    for index, _, ref, bands in got:
        if index in firsts:
            assert (ref, bands) == (None, None), index
        elif bands is not None:
            assert ref is not None and ref < index  # a reference within the segment, renumbered
    assert sum(1 for *_, b in got if b is None) > len(firsts)  # not every frame read in full
    finalize_video(vid)
    assert _video(vid).status == "done"


def test_a_caption_spanning_a_segment_boundary_is_one_track(db, tmp_path, segment_s):
    from dva_ocr.ocr import OcrEngine

    segment_s(10)
    caption = Caption("Harbour lights festival", 4, 16, y=140, size=40)
    path = make_video(tmp_path / "boundary.mp4", [caption], duration=20, size="640x360")
    vid = _register(path, IngestOptions(fps=1))
    engine = OcrEngine()
    queue = InlineQueue(lambda _model: engine)
    queue.send(EXTRACT, vid)
    assert [s.args for s in queue.ran if s.task == EXTRACT_SEGMENT] == [(vid, 0), (vid, 1)]
    v = _video(vid)
    assert v.status == "done", v.error
    with session_scope() as s:
        tracks = list(s.scalars(select(TextTrack).where(TextTrack.video_id == vid)))
        boundary = s.scalar(select(Frame).where(Frame.video_id == vid, Frame.index == 10))
        assert boundary.bands is None  # the second segment's first frame, read in full
    assert [(t.text, t.start_s, t.end_s) for t in tracks] == [("Harbour lights festival", 4.0, 17.0)]
    assert tracks[0].readings >= 2  # read in the first segment and again at the boundary


def test_segments_ending_at_the_same_time_end_the_extraction_once(
    db, videos, tmp_path, segment_s, monkeypatch
):
    """The last two segments of each item run in two threads at once: exactly one of them ends the
    item's extraction (decided under the item's row lock), and the roll-up is queued once."""
    segment_s(11)
    ended: list[int] = []
    finish = segments.finish

    def counted(media_id, *args, **kwargs):
        last = finish(media_id, *args, **kwargs)
        if last:
            ended.append(media_id)
        return last

    monkeypatch.setattr(segments, "finish", counted)
    for n in range(3):
        vid = _register(_copy(videos["29.97"], tmp_path / f"race{n}.mp4", f"race{n}"))
        queue = RecordingQueue()
        extract_video(vid, queue=queue)
        seqs = [seq for _, seq in queue.take(EXTRACT_SEGMENT)]
        for seq in seqs[:-2]:
            extract_segment(vid, seq, queue=queue)
        barrier = threading.Barrier(2)
        errors: list[BaseException] = []

        threads = [
            threading.Thread(target=_at_once, args=(barrier, errors, vid, seq, queue)) for seq in seqs[-2:]
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert not errors, errors
        assert ended.count(vid) == 1
        read_queued(queue, lambda _model: Reader())
        assert queue.ids_sent(FINALIZE) == [vid]
        v = _video(vid)
        assert v.extracted and v.frames_total == v.frames_extracted == len(_frames(vid))


def _at_once(barrier: threading.Barrier, errors: list, vid: int, seq: int, queue: RecordingQueue) -> None:
    try:
        barrier.wait()
        extract_segment(vid, seq, queue=queue)
    except BaseException as exc:  # reported by the test
        errors.append(exc)


def test_a_segment_run_twice_writes_once_and_a_late_run_stops(db, videos, tmp_path, segment_s, monkeypatch):
    """A segment whose run died after writing its frames (before it was marked done) runs again, as a
    redelivered task does: the same rows, no duplicates; a run of a segment that is done writes
    nothing, and one still writing when another run finished it stops."""
    options = OPTIONS["keyframes"]
    one = _register(_copy(videos["29.97"], tmp_path / "one.mp4", "one"), options)
    extract_video(one, queue=RecordingQueue())
    segment_s(11)
    vid = _register(_copy(videos["29.97"], tmp_path / "twice.mp4", "twice"), options)
    queue = RecordingQueue()
    extract_video(vid, queue=queue)
    seqs = [seq for _, seq in queue.take(EXTRACT_SEGMENT)]
    finish = segments.finish

    def dies(media_id, seq, *args, **kwargs):
        if seq == 2:
            raise SystemExit("the worker died")
        return finish(media_id, seq, *args, **kwargs)

    monkeypatch.setattr(segments, "finish", dies)
    for seq in seqs:
        if seq == 2:
            with pytest.raises(SystemExit):
                extract_segment(vid, seq, queue=queue)
        else:
            extract_segment(vid, seq, queue=queue)
    monkeypatch.setattr(segments, "finish", finish)
    with session_scope() as s:
        assert s.get(VideoSegment, (vid, 2)).status == "running" and not s.get(Video, vid).extracted
    assert extract_segment(vid, 2, queue=queue) > 0  # the redelivered task
    assert [f[:2] for f in _frames(vid)] == [f[:2] for f in _frames(one)]  # index, time; none twice
    assert _video(vid).extracted
    with session_scope() as s:
        assert s.get(VideoSegment, (vid, 2)).attempts == 2
    assert extract_segment(vid, 2, queue=queue) == 0  # done: nothing to do
    with pytest.raises(segments.SegmentDone), session_scope() as s:
        segments.keep_alive(s, vid, 2)


def test_retry_and_reprocessing_of_a_segmented_item(db, videos, tmp_path, segment_s):
    from dva_ocr.work.submit import retry_media, submit_job

    segment_s(11)
    vid = _register(_copy(videos["29.97"], tmp_path / "again.mp4", "again"))
    reader = Reader()
    queue = InlineQueue(lambda _model: reader)
    queue.send(EXTRACT, vid)
    first = _frames(vid)
    assert _video(vid).status == "done" and len(first) == _video(vid).frames_total > 30
    rows.fail_media(vid, "failed on purpose")
    with session_scope() as s:
        retry_media(s, queue, vid)  # reset (segments too), extracted again in segments
        assert (
            s.scalar(select(func.count()).select_from(VideoSegment).where(VideoSegment.video_id == vid)) == 4
        )
    v = _video(vid)
    assert v.status == "done" and v.error is None and _frames(vid) == first
    with session_scope() as s:
        job = submit_job(s, queue, "ppocrv5", media=[vid])
        job_id = job.id
    with session_scope() as s:
        mv = s.scalar(text("SELECT model_version_id FROM jobs WHERE id = :j"), {"j": job_id})
        read = s.scalar(select(func.count()).select_from(FrameOcr).where(FrameOcr.model_version_id == mv))
        assert s.scalar(text("SELECT status FROM jobs WHERE id = :j"), {"j": job_id}) == "done"
    assert read == sum(1 for *_, b in first if b != [])


def test_the_sweep_queues_a_running_segment_whose_worker_died_again(db, videos, tmp_path, segment_s):
    segment_s(11)
    vid = _register(_copy(videos["29.97"], tmp_path / "dead.mp4", "dead"))
    queue = RecordingQueue()
    extract_video(vid, queue=queue)
    queue.take(EXTRACT_SEGMENT)
    second = segments.plan(_video(vid).duration, 11)[1]
    assert segments.begin(vid, 1, max_attempts=4) == second  # started, then its worker died
    queue.send(EXTRACT_SEGMENT, vid, 1)  # its message: unacknowledged in Redis, for hours
    assert sweep_stuck(queue, stale_after_s=600) == []  # written to lately: alive
    with session_scope() as s:
        s.execute(text("UPDATE video_segments SET touched_at = now() - interval '20 minutes'"))
    (action,) = sweep_stuck(queue, stale_after_s=600)
    assert (action.media_id, action.action) == (vid, "requeued") and "segment 1" in action.message
    assert queue.sent[-1].task == EXTRACT_SEGMENT and queue.sent[-1].args == (vid, 1)
    with session_scope() as s:
        assert s.get(VideoSegment, (vid, 1)).status == "queued"
    # a segment whose runs keep dying (out of memory each time) fails the item after max_attempts
    for _ in range(3):
        segments.begin(vid, 1, max_attempts=4)
    assert segments.begin(vid, 1, max_attempts=4) is None
    v = _video(vid)
    assert v.status == "failed" and f"segment 1 ({segments.describe(second)}) was started 4 times" in v.error


def test_short_videos_and_images_stay_one_task(db, tmp_path, segment_s):
    segment_s(10)
    short = make_video(tmp_path / "short.mp4", [Caption("Ten seconds", 0, 9)], duration=10, size="320x240")
    vid = _register(short)
    queue = RecordingQueue()
    extract_video(vid, queue=queue)
    assert queue.take(EXTRACT_SEGMENT) == [] and _video(vid).extracted
    assert segments.plan(10.0, 10) == [Span()] and segments.plan(None, 10) == [Span()]
    assert segments.plan(25.0, 10) == [Span(0.0, 8.333), Span(8.333, 16.667), Span(16.667, None)]
