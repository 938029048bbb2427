"""Video in, searchable text out: the CLI against real Postgres, Redis, Celery workers and ffmpeg."""

from __future__ import annotations

import json

import pytest
from mediagen import Caption, make_audio_only, make_corrupt, make_empty, make_video
from runcli import run_cli
from sqlalchemy import select

from dva_ocr.db.session import session_scope
from dva_ocr.db.tables import Video

pytestmark = pytest.mark.slow

# (phrase, start s, end s): shown while start <= t <= end
CAPTIONS = [
    Caption("Welcome to the annual meeting", 2, 7),
    Caption("Exit 14 next right", 10, 14, y=120),
    Caption("Invoice number 48213", 18, 23, y=500),
    Caption("Total broadband gives you the best speed", 27, 32, size=44),
    Caption("Platform nine departures", 36, 43, y=100),
    Caption("Coffee shop open late", 38, 45, y=560, size=44),
    Caption("Thank you for watching", 52, 57),
]


def _json_lines(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def test_ingest_then_search_finds_each_phrase_at_its_second(workers, db, tmp_path):
    video = make_video(tmp_path / "meeting.mp4", CAPTIONS, duration=60)
    proc = run_cli("ingest", str(video), "--wait")
    assert proc.returncode == 0, proc.stderr + proc.stdout
    assert "done: 60 frames sampled" in proc.stdout, proc.stdout
    assert "frames read or skipped 60/60" in proc.stderr  # progress was shown
    with session_scope() as s:
        v = s.scalars(select(Video)).one()
        # the background is static: only frames where a caption came or went are read
        assert v.frames_skipped >= 40 and v.frames_ocr + v.frames_skipped == 60, (
            v.frames_skipped,
            v.frames_ocr,
        )
        assert v.tracks_count == len(CAPTIONS)

    for cap in CAPTIONS:
        proc = run_cli("search", f'"{cap.text}"', "--json")
        assert proc.returncode == 0, proc.stderr
        hits = _json_lines(proc.stdout)
        assert len(hits) == 1, (cap, hits)  # one hit per track, not one per frame
        (hit,) = hits
        assert hit["match"] == "fulltext" and hit["text"] == cap.text
        # sampled at 1 fps, shown while start <= t <= end: the track runs from the first sample at or
        # after start to the sample after the last one showing it, so within one interval of the truth
        assert cap.start <= hit["time"] <= cap.start + 1, (cap, hit)
        assert cap.end <= hit["end"] <= cap.end + 1, (cap, hit)
        x, y, w, hh = hit["box"]
        assert abs(y + hh / 2 - (cap.y + cap.size / 2)) < cap.size * 1.5, (cap, hit)
        # frame level: regions from the frames where the caption was read, all inside its span
        frames = _json_lines(run_cli("search", f'"{cap.text}"', "--json", "--frames").stdout)
        assert frames and all(cap.start - 1 <= h["time"] <= cap.end + 1 for h in frames), (cap, frames)
        assert all(h["end"] is None for h in frames)

    # the human-readable form prints the same hits
    proc = run_cli("search", "broadband")
    assert "[fulltext]" in proc.stdout and "meeting.mp4" in proc.stdout
    # a typo finds the text through the trigram fallback, marked as such
    proc = run_cli("search", "Invoise", "--json")
    hits = _json_lines(proc.stdout)
    assert hits and all(h["match"] == "fuzzy" for h in hits)
    assert any("Invoice" in h["text"] for h in hits)
    # OR and -exclusion
    both = {h["text"] for h in _json_lines(run_cli("search", "coffee OR platform", "--json").stdout)}
    assert any("Coffee" in t for t in both) and any("Platform" in t for t in both)
    assert _json_lines(run_cli("search", "departures", "--json").stdout)
    assert _json_lines(run_cli("search", "departures -nine", "--json").stdout) == []
    # AND binds tighter than OR: late | (departures & !nine)
    excl = _json_lines(run_cli("search", "late OR departures -nine", "--json").stdout)
    assert excl and all("Coffee" in h["text"] for h in excl)
    # exclusion holds in the typo-tolerant fallback too
    assert _json_lines(run_cli("search", "Exiit -right", "--json").stdout) == []

    # the same file again is the same media item: nothing is queued twice
    again = _json_lines(run_cli("ingest", str(video), "--json").stdout)
    assert again[0]["status"] == "done" and again[0]["frames"] == 60


def test_broken_files_fail_clearly_and_the_next_video_still_completes(workers, db, tmp_path):
    corrupt = make_corrupt(tmp_path / "corrupt.mp4")
    empty = make_empty(tmp_path / "empty.mp4")
    audio = make_audio_only(tmp_path / "song.m4a")
    good = make_video(tmp_path / "good.mp4", [Caption("Harbour lights festival", 1, 4)], duration=6)
    proc = run_cli("ingest", str(corrupt), str(empty), str(audio), str(good), "--wait", "--json")
    assert proc.returncode == 1, proc.stderr  # some failed
    items = {item["path"].rsplit("/", 1)[-1]: item for item in _json_lines(proc.stdout)}
    assert items["corrupt.mp4"]["status"] == "failed"
    assert "not a media file" in items["corrupt.mp4"]["error"]
    assert items["empty.mp4"]["status"] == "failed"
    assert "empty" in items["empty.mp4"]["error"]
    assert items["song.m4a"]["status"] == "failed"
    assert items["song.m4a"]["error"].startswith("not a video: ffprobe found no video stream")
    assert items["good.mp4"]["status"] == "done", items["good.mp4"]
    assert items["good.mp4"]["tracks"] == 1  # shown at t = 1, 2, 3, 4: one track
    hits = _json_lines(run_cli("search", "harbour festival", "--json").stdout)
    assert [(h["time"], h["end"]) for h in hits] == [(1.0, 5.0)]
