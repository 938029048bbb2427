"""Pure parts of video-aware OCR: change detection, region filters, track linking and voting."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from mediagen import FONT
from PIL import Image, ImageDraw, ImageFont

from dva_ocr.errors import DvaOcrError
from dva_ocr.filters import RegionFilter, parse_rect
from dva_ocr.media.changes import ChangeDetector
from dva_ocr.tracks import FrameRec, Reading, build_tracks, effective_readings, vote

# --- change detection ---------------------------------------------------------------------------


def _canvas(lines: list[tuple[str, int]], shift: tuple[int, int] = (0, 0), noise: float = 0.0, seed: int = 0):
    """A 1280x720 frame with text lines at given y positions, optionally shifted and noisy."""
    canvas = Image.new("RGB", (1280, 720), (40, 60, 90))
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.truetype(FONT, 44)
    for text, y in lines:
        draw.text((100 + shift[0], y + shift[1]), text, font=font, fill=(255, 255, 255))
    img = np.asarray(canvas)
    if noise:
        rng = np.random.default_rng(seed)
        img = np.clip(img + rng.normal(0, noise, img.shape), 0, 255).astype(np.uint8)
    return img


def test_unchanged_noisy_frames_are_skipped_and_a_new_subtitle_is_one_band():
    title = ("Quarterly results for the northern region", 80)
    det = ChangeDetector()
    assert det.observe(_canvas([title, ("First subtitle line here", 600)])).bands is None  # first: full
    # the same picture with sensor noise, or JPEG-compressed: nothing to read again
    again = _canvas([title, ("First subtitle line here", 600)], noise=6, seed=1)
    assert det.observe(again).unchanged
    ok, jpeg = cv2.imencode(
        ".jpg", _canvas([title, ("First subtitle line here", 600)]), [cv2.IMWRITE_JPEG_QUALITY, 30]
    )
    assert det.observe(cv2.imdecode(jpeg, cv2.IMREAD_COLOR)).unchanged
    # one letter changed: that line's band is read again (a clock or a price must not be missed)
    one = det.observe(_canvas([title, ("First subtitle line hers", 600)]))
    assert one.bands is not None and len(one.bands) == 1 and one.bands[0][0] > 500, one
    # only the subtitle changed: one band around it, the title is not read again
    change = det.observe(_canvas([title, ("A different subtitle now", 600)]))
    assert change.bands is not None and len(change.bands) == 1
    (y0, y1, x0, x1) = change.bands[0]
    assert y0 <= 605 and y1 >= 640 and y1 - y0 < 150, change.bands
    assert 0 <= x0 < x1 <= 1280, change.bands
    # a cut to a different picture: read it all
    assert det.observe(np.full((720, 1280, 3), 200, np.uint8)).bands is None


def test_changes_are_measured_against_the_last_frame_read_so_drift_adds_up():
    det = ChangeDetector()
    base = _canvas([("Slow fade test", 300)])
    det.observe(base)
    steps = [np.clip(base.astype(int) + 6 * k, 0, 255).astype(np.uint8) for k in range(1, 12)]
    answers = [det.observe(s) for s in steps]
    assert answers[0].unchanged  # 6 grey levels: below the tolerance
    assert any(not a.unchanged for a in answers)  # but 66 levels later it is a change


# --- filters ------------------------------------------------------------------------------------


def test_region_filters_use_relative_areas_that_hold_at_any_resolution():
    f = RegionFilter(
        min_confidence=0.6, min_height=12, roi=(parse_rect("0,0.5,1,1"),), ignore=((0.8, 0, 1, 0.2),)
    )
    for scale in (1, 2):  # 640x360 and 1280x720: the same decisions
        w, h = 640 * scale, 360 * scale
        assert f.keep((10 * scale, 300 * scale, 100 * scale, 20 * scale), 0.9, w, h)  # bottom half
        assert not f.keep((10 * scale, 20 * scale, 100 * scale, 20 * scale), 0.9, w, h)  # top: outside roi
    assert not f.keep((10, 300, 100, 20), 0.5, 640, 360)  # low confidence
    assert not f.keep((10, 300, 100, 8), 0.9, 640, 360)  # too small
    g = RegionFilter(ignore=(parse_rect("0.8,0,1,0.2"),))
    assert not g.keep((540, 10, 90, 20), 0.99, 640, 360)  # the watermark corner
    assert g.keep((100, 10, 90, 20), 0.99, 640, 360)
    assert RegionFilter.from_json(f.to_json()) == f
    assert RegionFilter().to_json() == {}
    # no floor asked for: the measured default; a job may go lower (down to what the engine keeps)
    assert not RegionFilter().keep((10, 300, 100, 20), 0.65, 640, 360)
    assert RegionFilter().keep((10, 300, 100, 20), 0.75, 640, 360)
    assert RegionFilter(min_confidence=0.55).keep((10, 300, 100, 20), 0.65, 640, 360)
    assert RegionFilter.from_json({"min_confidence": 0.55}).min_confidence == 0.55
    for bad in ("0,0,1", "0.5,0,0.4,1", "0,0,1.5,1", "a,b,c,d"):
        with pytest.raises(DvaOcrError, match="area"):
            parse_rect(bad)
    with pytest.raises(DvaOcrError, match="confidence"):
        RegionFilter(min_confidence=2)


# --- tracks -------------------------------------------------------------------------------------

SUB = (300, 600, 500, 40)


def _r(rid: int, fid: int, text: str, conf: float = 0.95, box=SUB) -> Reading:
    return Reading(rid, fid, box, text, conf)


def _frames(n: int, **extra) -> list[FrameRec]:
    return [FrameRec(id=i + 1, index=i, time=float(i), **extra.get(i, {})) for i in range(n)]


def test_skipped_frames_repeat_their_reference_and_band_frames_replace_only_the_band():
    title = _r(1, 1, "Agenda", box=(100, 50, 300, 60))
    sub = _r(2, 1, "Hello there")
    frames = [
        FrameRec(1, 0, 0.0),
        FrameRec(2, 1, 1.0, ref_index=0, bands=()),  # unchanged
        FrameRec(3, 2, 2.0, ref_index=1, bands=((580, 660),)),  # the subtitle band changed
    ]
    new_sub = _r(3, 3, "Second line")
    shown = effective_readings(frames, {1: [title, sub], 3: [new_sub]})
    assert [r.text for r in shown[1]] == ["Agenda", "Hello there"]
    assert [r.text for r in shown[2]] == ["Agenda", "Second line"]


def test_a_band_patch_replaces_only_the_readings_it_changed_under():
    """A band with columns: an earlier reading centred in its rows but beside its changed columns (a
    static label left of a ticking clock) is kept; the one under the change goes."""
    label = _r(1, 1, "Live from the studio", box=(40, 20, 420, 30))
    clock = _r(2, 1, "00:00:00", box=(1118, 20, 84, 21))
    frames = [FrameRec(1, 0, 0.0), FrameRec(2, 1, 1.0, ref_index=0, bands=((14, 47, 1180, 1208),))]
    shown = effective_readings(frames, {1: [label, clock], 2: [_r(3, 2, "00:00:01", box=(1118, 20, 84, 21))]})
    assert [r.text for r in shown[1]] == ["Live from the studio", "00:00:01"]
    # rows stored without columns (before they were kept) mean the whole width, as they always did
    frames[1] = FrameRec(2, 1, 1.0, ref_index=0, bands=((14, 47),))
    assert [r.text for r in effective_readings(frames, {1: [label, clock], 2: []})[1]] == []


def test_voting_beats_a_blurred_frame_and_one_missed_frame_does_not_split_a_track():
    frames = _frames(6)
    own = {
        1: [_r(1, 1, "Platform nine departures")],
        2: [_r(2, 2, "Platfonn nlne departues", conf=0.6)],  # blurred
        3: [_r(3, 3, "Platform nine departures")],
        # frame 4 (index 3): detection missed it
        5: [_r(5, 5, "Platform nine departures", conf=0.9)],
    }
    (track,) = build_tracks(frames, own, duration=6.0)
    assert track.text == "Platform nine departures"
    assert (track.start, track.end, track.readings) == (0.0, 5.0, 4)
    assert 0.7 < track.agreement < 1.0
    assert [s.frame_index for s in track.seen] == [0, 1, 2, 4]


def test_different_texts_tickers_and_counters_make_separate_tracks():
    frames = _frames(4)
    own = {
        1: [_r(1, 1, "Breaking news markets rally today")],
        2: [_r(2, 2, "news markets rally today as oil")],  # scrolled: same letters, shifted
        3: [_r(3, 3, "Score 12 to 14")],
        4: [_r(4, 4, "Score 12 to 15")],  # a counter ticked: both confident
    }
    texts = [t.text for t in build_tracks(frames, own, duration=None)]
    assert texts == [
        "Breaking news markets rally today",
        "news markets rally today as oil",
        "Score 12 to 14",
        "Score 12 to 15",
    ]
    # the last frame's track ends at the last frame when the duration is unknown (an image)
    assert build_tracks(frames[:1], {1: own[1]}, duration=None)[0].end == 0.0


def test_a_gap_longer_than_allowed_starts_a_new_track():
    frames = _frames(5)
    own = {1: [_r(1, 1, "Exit 14")], 5: [_r(5, 5, "Exit 14")]}
    tracks = build_tracks(frames, own, duration=5.0)
    assert [(t.start, t.end) for t in tracks] == [(0.0, 1.0), (4.0, 5.0)]


def test_vote_weights_by_confidence():
    readings = [
        _r(1, 1, "Invoice 48213", 0.9),
        _r(2, 2, "Invoice 48218", 0.5),
        _r(3, 3, "Invoice 48218", 0.3),
    ]
    text, conf, agreement = vote(readings)
    assert text == "Invoice 48213" and conf == 0.9 and agreement == pytest.approx(0.9 / 1.7, abs=1e-3)
