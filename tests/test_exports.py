"""Track exports (JSON, CSV, SRT, WebVTT) parsed back with real parsers: csv, json, srt, webvtt-py."""

from __future__ import annotations

import csv
import html
import io
import json
from datetime import timedelta

import pytest
import srt
import webvtt

from dva_ocr.exports import (
    FORMATS,
    ExportMedia,
    ExportTrack,
    TrackBox,
    export_filename,
    render,
)

VIDEO = ExportMedia(
    id=7, name="talk.mp4", media_type="video", duration=30.0, width=1280, height=720, model="ppocrv4"
)
IMAGE = ExportMedia(
    id=8, name="photo.jpg", media_type="image", duration=None, width=800, height=600, model="ppocrv4"
)


def track(
    id: int, text: str, start: float, end: float, y: int = 100, x: int = 40, conf: float = 0.9
) -> ExportTrack:
    boxes = tuple(
        TrackBox(t=float(t), frame=t, box=(x, y, 200, 30)) for t in range(int(start), max(int(end), 1))
    )
    return ExportTrack(id=id, text=text, start=start, end=end, confidence=conf, boxes=boxes)


TRACKS = [
    track(1, "Welcome to the annual meeting", 0.0, 4.0, y=600),
    track(2, "Café 東京 Ünïcödé", 5.0, 7.5, y=300),
    track(3, "Profit <b>up</b> 12% & rising", 8.0, 10.0, y=300),
    track(4, "then --> next", 11.0, 12.0, y=300),
    track(5, "first line\nsecond line", 13.0, 14.5, y=300),
]


def parse_srt(text: str) -> list[srt.Subtitle]:
    return list(srt.parse(text))


def _seconds(stamp: str) -> float:
    h, m, s = stamp.split(":")
    return int(h) * 3600 + int(m) * 60 + float(s)


def parse_vtt(text: str) -> list[tuple[float, float, list[str]]]:
    """(start, end, unescaped lines) per cue; webvtt-py 0.6's ``start_in_seconds`` drops the milliseconds."""
    cues = webvtt.from_string(text)
    return [(_seconds(c.start), _seconds(c.end), [html.unescape(x) for x in c.lines]) for c in cues]


def assert_ordered_no_overlap(spans: list[tuple[float, float]]) -> None:
    for (s, e), (s2, _) in zip(spans, spans[1:], strict=False):
        assert s < e
        assert e <= s2, (spans, "cues overlap")
    if spans:
        assert spans[-1][0] < spans[-1][1]


def test_formats_and_bad_format() -> None:
    assert set(FORMATS) == {"json", "csv", "srt", "vtt"}
    for fmt, (ctype, ext) in FORMATS.items():
        assert "charset=utf-8" in ctype
        assert ext == fmt
        assert export_filename(fmt, VIDEO) == f"talk.{fmt}"
    with pytest.raises(ValueError, match="json, csv, srt, vtt"):
        render("xml", VIDEO, TRACKS)
    assert export_filename("srt", ExportMedia(1, "../a b/evil name?.MP4", "video", 1, 1, 1, "m")) == (
        "evil_name.srt"
    )


def test_srt_round_trip_texts_and_order() -> None:
    out = render("srt", VIDEO, list(reversed(TRACKS)))
    out.encode("utf-8")
    subs = parse_srt(out)
    assert [s.index for s in subs] == list(range(1, len(TRACKS) + 1))
    assert [s.content for s in subs] == [
        "Welcome to the annual meeting",
        "Café 東京 Ünïcödé",
        "Profit <b>up</b> 12% & rising",
        "then --> next",
        "first line second line",
    ]
    assert subs[1].start == timedelta(seconds=5) and subs[1].end == timedelta(seconds=7.5)
    assert_ordered_no_overlap([(s.start.total_seconds(), s.end.total_seconds()) for s in subs])
    assert "00:00:05,000 --> 00:00:07,500\n" in out
    assert "\n\n\n" not in out


def test_vtt_round_trip_escapes_and_order() -> None:
    out = render("vtt", VIDEO, TRACKS)
    assert out.startswith("WEBVTT\n\n")
    assert "&lt;b&gt;up&lt;/b&gt; 12% &amp; rising" in out
    assert "then --&gt; next" in out
    cues = parse_vtt(out)
    assert [c[2] for c in cues] == [
        ["Welcome to the annual meeting"],
        ["Café 東京 Ünïcödé"],
        ["Profit <b>up</b> 12% & rising"],
        ["then --> next"],
        ["first line second line"],
    ]
    assert [c[:2] for c in cues] == [(0.0, 4.0), (5.0, 7.5), (8.0, 10.0), (11.0, 12.0), (13.0, 14.5)]
    assert_ordered_no_overlap([(s, e) for s, e, _ in cues])


def test_overlapping_tracks_become_pieces_top_to_bottom() -> None:
    # a subtitle low on the frame from 0 to 6 s; a slide title above it from 2 to 10 s
    tracks = [
        track(1, "subtitle at the bottom", 0.0, 6.0, y=620),
        track(2, "Slide title", 2.0, 10.0, y=50),
        track(3, "bullet one", 2.0, 10.0, y=200, x=60),
        track(4, "same row, right", 2.0, 4.0, y=200, x=600),
    ]
    subs = parse_srt(render("srt", VIDEO, tracks))
    got = [(s.start.total_seconds(), s.end.total_seconds(), s.content.split("\n")) for s in subs]
    assert got == [
        (0.0, 2.0, ["subtitle at the bottom"]),
        (2.0, 4.0, ["Slide title", "bullet one", "same row, right", "subtitle at the bottom"]),
        (4.0, 6.0, ["Slide title", "bullet one", "subtitle at the bottom"]),
        (6.0, 10.0, ["Slide title", "bullet one"]),
    ]
    cues = parse_vtt(render("vtt", VIDEO, tracks))
    assert [(s, e, lines) for s, e, lines in cues] == got
    assert_ordered_no_overlap([(s, e) for s, e, _ in cues])


def test_adjacent_pieces_with_same_text_merge() -> None:
    # the same text as two tracks back to back (a tracking break) is one cue; a gap keeps two cues
    tracks = [
        track(1, "Exit 14", 0.0, 3.0),
        track(2, "Exit 14", 3.0, 5.0),
        track(3, "Exit 14", 6.0, 7.0),
        # a short overlap of an identical text is one line per track, not merged into one
        track(4, "Other", 10.0, 12.0, y=10),
        track(5, "Other", 11.0, 13.0, y=10),
    ]
    subs = parse_srt(render("srt", VIDEO, tracks))
    got = [(s.start.total_seconds(), s.end.total_seconds(), s.content) for s in subs]
    assert got == [
        (0.0, 5.0, "Exit 14"),
        (6.0, 7.0, "Exit 14"),
        (10.0, 11.0, "Other"),
        (11.0, 12.0, "Other\nOther"),
        (12.0, 13.0, "Other"),
    ]


def test_image_tracks_get_a_minimum_duration() -> None:
    tracks = [
        ExportTrack(1, "Lower text", 0.0, 0.0, 0.8, (TrackBox(0.0, 0, (10, 400, 90, 20)),)),
        ExportTrack(2, "Upper text", 0.0, 0.0, 0.95, (TrackBox(0.0, 0, (10, 40, 90, 20)),)),
        ExportTrack(3, "   ", 0.0, 0.0, 0.95, ()),  # nothing to show: no cue, no empty line
    ]
    subs = parse_srt(render("srt", IMAGE, tracks))
    assert len(subs) == 1
    assert subs[0].start == timedelta(0) and subs[0].end == timedelta(seconds=1)
    assert subs[0].content == "Upper text\nLower text"
    cues = parse_vtt(render("vtt", IMAGE, tracks))
    assert cues == [(0.0, 1.0, ["Upper text", "Lower text"])]


def test_no_tracks() -> None:
    assert parse_srt(render("srt", VIDEO, [])) == []
    assert parse_vtt(render("vtt", VIDEO, [])) == []
    assert list(csv.DictReader(io.StringIO(render("csv", VIDEO, [])))) == []
    assert json.loads(render("json", VIDEO, []))["tracks"] == []


def test_csv_rows_and_formula_guard() -> None:
    tracks = [
        *TRACKS,
        track(6, '=HYPERLINK("http://x","click")', 20.0, 21.0),
        track(7, "+1 555 0199", 22.0, 23.0),
        track(8, "-5 degrees", 24.0, 25.0),
        track(9, "@home, today", 26.0, 27.0),
        ExportTrack(10, "no box", 28.0, 29.0, 0.5, ()),
    ]
    out = render("csv", VIDEO, tracks)
    assert out.startswith("id,start,end,text,confidence,x,y,w,h,frames\r\n")
    rows = list(csv.DictReader(io.StringIO(out, newline="")))
    assert [int(r["id"]) for r in rows] == list(range(1, 11))
    by_id = {int(r["id"]): r for r in rows}
    assert by_id[2]["text"] == "Café 東京 Ünïcödé"
    assert by_id[5]["text"] == "first line\nsecond line"  # quoted field, newline kept
    assert by_id[6]["text"] == '\'=HYPERLINK("http://x","click")'
    assert by_id[7]["text"] == "'+1 555 0199"
    assert by_id[8]["text"] == "'-5 degrees"
    assert by_id[9]["text"] == "'@home, today"
    assert by_id[1]["text"] == "Welcome to the annual meeting"
    r = by_id[2]
    assert (float(r["start"]), float(r["end"]), float(r["confidence"])) == (5.0, 7.5, 0.9)
    assert (r["x"], r["y"], r["w"], r["h"], r["frames"]) == ("40", "300", "200", "30", "2")
    assert (by_id[10]["x"], by_id[10]["frames"]) == ("", "0")


def test_json_round_trip() -> None:
    tracks = [
        ExportTrack(2, "Café 東京 Ünïcödé", 1.23456, 2.5, 0.876543, (TrackBox(1.23456, 12, (1, 2, 3, 4)),)),
        ExportTrack(1, "first", 1.23456, 2.0, 0.5, ()),
        ExportTrack(3, "earlier", 0.5, 1.0, 1.0, ()),
    ]
    out = render("json", VIDEO, tracks)
    assert "Café 東京" in out  # not \\u escaped
    doc = json.loads(out)
    assert doc["media"] == {
        "id": 7,
        "name": "talk.mp4",
        "media_type": "video",
        "duration": 30.0,
        "width": 1280,
        "height": 720,
        "model": "ppocrv4",
    }
    assert [t["id"] for t in doc["tracks"]] == [3, 1, 2]
    assert doc["tracks"][2] == {
        "id": 2,
        "text": "Café 東京 Ünïcödé",
        "start": 1.235,
        "end": 2.5,
        "confidence": 0.8765,
        "boxes": [{"t": 1.235, "frame": 12, "box": [1, 2, 3, 4]}],
    }
    image = json.loads(render("json", IMAGE, []))
    assert image["media"]["duration"] is None and image["media"]["media_type"] == "image"


def test_long_times_and_many_tracks() -> None:
    # over an hour, and enough tracks that a quadratic sweep would show
    tracks = [
        track(i, f"line {i}", 3600.0 + i * 0.5, 3600.0 + i * 0.5 + 2.0, y=i % 5 * 100) for i in range(3000)
    ]
    out = render("srt", VIDEO, tracks)
    subs = parse_srt(out)
    assert subs[0].start == timedelta(hours=1)
    assert out.split("\n")[1] == "01:00:00,000 --> 01:00:00,500"
    assert_ordered_no_overlap([(s.start.total_seconds(), s.end.total_seconds()) for s in subs])
    assert all(1 <= len(s.content.split("\n")) <= 4 for s in subs)
