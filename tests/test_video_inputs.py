"""Videos that are not quite right still get an answer: a file damaged in the middle is read around the
damage and says which seconds could not be decoded; a file with several video streams says which one
was read, and the upload (API, CLI) can choose another."""

from __future__ import annotations

import json
import random
import subprocess
from pathlib import Path

import numpy as np
import pytest
from factories import FakeRegion
from fastapi.testclient import TestClient
from runcli import run_cli
from sqlalchemy import select

from dva_ocr.db.session import session_scope
from dva_ocr.db.tables import Frame, Video
from dva_ocr.errors import MediaError
from dva_ocr.media.frames import DecodeReport, sample_frames
from dva_ocr.media.probe import probe
from dva_ocr.pipeline import IngestOptions, extract_video, register_media
from dva_ocr.users import create_user, issue_token
from dva_ocr.web import create_app
from dva_ocr.work import EXTRACT, RecordingQueue
from dva_ocr.work.inline import InlineQueue


class SeenReader:
    """Finds one line in every image it is given: which frames reached OCR is what these tests ask."""

    def batch(self, images):
        return [[FakeRegion("seen", (2, 2, 20, 10))] for _ in images]


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-y", "-loglevel", "error", *args], check=True, timeout=120)


@pytest.fixture(scope="module")
def damaged(tmp_path_factory) -> tuple[Path, float, float]:
    """A 60 s video (2 s GOPs) with 7% of its bytes overwritten around the middle; also the first and
    last second of the packets the damage hit (from ffprobe's packet positions: the truth)."""
    d = tmp_path_factory.mktemp("damaged")
    clean = d / "clean.mp4"
    _ffmpeg(
        "-f", "lavfi", "-i", "testsrc2=s=320x240:r=10:d=60", "-c:v", "libx264", "-preset", "veryfast",
        "-g", "20", "-pix_fmt", "yuv420p", str(clean),
    )  # fmt: skip
    data = bytearray(clean.read_bytes())
    start, end = int(len(data) * 0.45), int(len(data) * 0.52)
    rng = random.Random(12)
    data[start:end] = bytes(rng.randrange(256) for _ in range(end - start))
    bad = d / "damaged.mp4"
    bad.write_bytes(bytes(data))
    packets = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "packet=pts_time,pos,size",
         "-of", "json", str(clean)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    hit = [
        float(p["pts_time"])
        for p in json.loads(packets.stdout)["packets"]
        if int(p["pos"]) < end and int(p["pos"]) + int(p["size"]) > start
    ]
    return bad, min(hit), max(hit)


def test_damage_in_the_middle_is_placed_in_time_and_the_rest_is_read(damaged):
    path, first_hit, last_hit = damaged
    report = DecodeReport()
    frames = list(sample_frames(path, probe(path), 1.0, report))
    assert len(frames) == 60 and frames[-1].time_s == 59.0  # the frames after the damage are there
    assert report.errors > 0 and len(report.spans) == 1
    ((start, end),) = report.spans
    # the span covers the damaged packets; ffmpeg reads ahead, so it may start a little early, and
    # frames are broken until the next keyframe (2 s later at most)
    assert first_hit - 3 <= start <= first_hit, (start, first_hit)
    assert last_hit <= end <= last_hit + 3, (end, last_hit)
    (note,) = report.notes()
    assert note.startswith(f"frames between {int(start)} s and ") and "could not be decoded" in note
    assert "the rest of the video was read" in note


def test_a_clean_video_has_no_notes(tmp_path):
    clean = tmp_path / "clean.mp4"
    _ffmpeg("-f", "lavfi", "-i", "testsrc2=s=160x120:r=10:d=5", "-c:v", "libx264", str(clean))
    report = DecodeReport()
    assert len(list(sample_frames(clean, probe(clean), 1.0, report))) == 5
    assert (report.errors, report.spans, report.notes()) == (0, [], [])


@pytest.fixture()
def client(db):
    queue = RecordingQueue()
    with session_scope() as s:
        user = create_user(session=s, name="ana", password="correct horse", is_admin=True)
        _, token = issue_token(session=s, user=user, name="tests")
    app = create_app(queue=queue)
    c = TestClient(app, headers={"Authorization": f"Bearer {token}"}, follow_redirects=False)
    c.queue = queue  # type: ignore[attr-defined]
    return c


def test_a_damaged_video_ends_done_with_the_damage_in_its_notes(client, damaged):
    path, _, _ = damaged
    with session_scope() as s:
        vid = register_media(s, path).media_id
    InlineQueue(lambda _model: SeenReader()).send(EXTRACT, vid)
    item = client.get(f"/api/media/{vid}").json()
    assert item["status"] == "done" and item["error"] is None
    (note,) = item["notes"]
    assert note.startswith("frames between ") and "could not be decoded" in note
    page = client.get(f"/media/{vid}").text  # the media page says it too
    assert '<ul class="notes" id="media-notes">' in page and "could not be decoded" in page
    with session_scope() as s:
        times = list(s.scalars(select(Frame.time_s).where(Frame.video_id == vid).order_by(Frame.index)))
    assert times[-1] == 59.0 and item["regions"] > 0


@pytest.fixture(scope="module")
def two_streams(tmp_path_factory) -> Path:
    """An MKV with two video streams: 0 red 320x240 (tagged English), 1 blue 160x120."""
    path = tmp_path_factory.mktemp("streams") / "two.mkv"
    _ffmpeg(
        "-f", "lavfi", "-i", "color=c=red:s=320x240:r=5:d=3",
        "-f", "lavfi", "-i", "color=c=blue:s=160x120:r=5:d=3",
        "-map", "0", "-map", "1", "-c:v", "libx264", "-metadata:s:v:0", "language=eng", str(path),
    )  # fmt: skip
    return path


def test_probe_lists_the_video_streams_and_reads_the_one_asked_for(two_streams):
    first = probe(two_streams)
    assert (first.width, first.height, first.video_stream) == (320, 240, 0)
    assert first.video_streams == ("0: h264 320x240 eng", "1: h264 160x120")
    assert "2 video streams" in first.stream_note() and "video stream 0 was read" in first.stream_note()
    second = probe(two_streams, 1)
    assert (second.width, second.height) == (160, 120)
    frame = next(iter(sample_frames(two_streams, second, 1.0)))
    assert frame.image.shape == (120, 160, 3)
    r, g, b = frame.image.reshape(-1, 3).mean(axis=0)
    assert b > 200 and r < 40  # the blue stream, not the red one
    with pytest.raises(
        MediaError, match="2 video stream\\(s\\), numbered from 0; there is no video stream 2"
    ):
        probe(two_streams, 2)


def test_one_video_stream_has_no_stream_note(tmp_path):
    one = tmp_path / "one.mp4"
    _ffmpeg("-f", "lavfi", "-i", "color=c=red:s=64x64:r=5:d=1", "-c:v", "libx264", str(one))
    assert probe(one).stream_note() is None


def test_the_item_says_which_stream_was_read_and_the_upload_chooses(db, two_streams):
    with session_scope() as s:
        default = register_media(s, two_streams).media_id
    queue = RecordingQueue()
    extract_video(default, queue=queue)
    with session_scope() as s:
        v = s.get(Video, default)
        assert (v.width, v.height) == (320, 240)
        (note,) = v.notes
        assert "video stream 0 was read" in note and "1: h264 160x120" in note
        s.delete(v)  # the same content, now read from its second stream
    with session_scope() as s:
        chosen = register_media(s, two_streams, IngestOptions(video_stream=1)).media_id
    extract_video(chosen, queue=queue)
    with session_scope() as s:
        v = s.get(Video, chosen)
        assert (v.video_stream, v.width, v.height) == (1, 160, 120)
        assert "video stream 1 was read" in v.notes[0]
        sizes = set(s.execute(select(Frame.width, Frame.height).where(Frame.video_id == chosen)).all())
        assert sizes == {(160, 120)}


def test_the_api_upload_takes_a_video_stream_and_refuses_one_that_is_not_there(client, two_streams):
    with two_streams.open("rb") as f:
        res = client.post("/api/media", files={"file": ("two.mkv", f)}, data={"video_stream": "5"})
    assert res.status_code == 415, res.text
    assert "there is no video stream 5" in res.json()["error"]
    with two_streams.open("rb") as f:
        res = client.post("/api/media", files={"file": ("two.mkv", f)}, data={"video_stream": "1"})
    assert res.status_code == 201, res.text
    body = res.json()
    assert body["media"]["video_stream"] == 1 and body["media"]["notes"] == []  # noted once extracted
    assert client.queue.ids_sent(EXTRACT) == [body["id"]]
    assert (
        client.post("/api/media", data={"video_stream": "-1"}, files={"file": ("x.mkv", b"x")}).status_code
        == 400
    )


def test_ingest_takes_a_video_stream(db, two_streams):
    proc = run_cli("ingest", str(two_streams), "--video-stream", "1", "--json")
    assert proc.returncode == 0, proc.stderr
    (line,) = [json.loads(x) for x in proc.stdout.splitlines()]
    with session_scope() as s:
        assert s.get(Video, line["id"]).video_stream == 1
    assert run_cli("ingest", str(two_streams), "--video-stream", "x").returncode == 2  # argparse: a number


def test_frames_of_the_damaged_span_are_missing_or_damaged_not_invented(damaged):
    """What the note promises: outside the span, frames are the clean video's (checked against it)."""
    path, _, _ = damaged
    clean = path.with_name("clean.mp4")
    report = DecodeReport()
    bad_frames = list(sample_frames(path, probe(path), 1.0, report))
    good_frames = list(sample_frames(clean, probe(clean), 1.0))
    ((start, end),) = report.spans
    for bad, good in zip(bad_frames, good_frames, strict=True):
        if bad.time_s < start - 0.5 or bad.time_s > end + 0.5:
            diff = np.abs(bad.image.astype(int) - good.image.astype(int)).mean()
            assert diff < 1.0, (bad.time_s, diff)
