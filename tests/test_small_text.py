"""Small text that changes is never hidden by change detection: a timecode, a counter, a clock, a price
changing one digit, a small lower-third name, white-on-light and grey-on-grey text. Every value is found
by search at its second (within one sample interval)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from dva_ocr.db.session import session_scope
from dva_ocr.db.tables import Video
from dva_ocr.media.changes import ChangeDetector
from dva_ocr.media_admin import tracks_of
from dva_ocr.pipeline import IngestOptions, register_media
from dva_ocr.search import search
from dva_ocr.work import EXTRACT
from dva_ocr.work.inline import InlineQueue

FONTS = Path("/usr/share/fonts/truetype/dejavu")
SECONDS = 12
NAMES = ["Maria Okafor", "Jonas Lindqvist", "Priya Raman"]


@dataclass(frozen=True)
class Element:
    name: str
    value: Callable[[int], str]  # the text shown during second t
    xy: tuple[int, int]
    size: int
    fg: tuple[int, int, int]
    bg: tuple[int, int, int] | None = None  # a box behind it
    bold: bool = False


ELEMENTS = [
    Element("timecode", lambda t: f"00:00:{t:02d}", (40, 668), 18, (150, 150, 150)),
    Element("counter", lambda t: f"Visitors {1040 + t}", (980, 40), 20, (235, 235, 235)),
    Element("clock", lambda t: f"10:{15 + t // 60:02d}:{(7 + t) % 60:02d}", (1120, 668), 22, (220, 220, 220)),
    Element("price", lambda t: f"Price {12 + t % 2}.{49 + t // 2:02d} EUR", (980, 90), 24, (255, 220, 120)),
    Element(
        "name", lambda t: NAMES[t // 4 % len(NAMES)], (60, 560), 20, (255, 255, 255), (20, 70, 140), True
    ),
    Element("light", lambda t: f"Gate B{10 + t}", (520, 300), 24, (250, 250, 250), (205, 210, 215)),
    Element("grey", lambda t: f"Room {200 + 3 * t}", (520, 400), 22, (150, 150, 150), (95, 95, 95)),
]


def render(t: int) -> np.ndarray:
    img = Image.new("RGB", (1280, 720), (29, 43, 58))
    draw = ImageDraw.Draw(img)
    title = ImageFont.truetype(str(FONTS / "DejaVuSans-Bold.ttf"), 56)
    draw.text((80, 170), "Quarterly results", font=title, fill=(255, 255, 255))
    for e in ELEMENTS:
        font = ImageFont.truetype(
            str(FONTS / ("DejaVuSans-Bold.ttf" if e.bold else "DejaVuSans.ttf")), e.size
        )
        text = e.value(t)
        if e.bg is not None:
            x0, y0, x1, y1 = draw.textbbox(e.xy, text, font=font)
            draw.rectangle((x0 - 14, y0 - 10, x1 + 14, y1 + 10), fill=e.bg)
        draw.text(e.xy, text, font=font, fill=e.fg)
    return np.asarray(img)


def make_small_text_video(path: Path, rate: int = 5) -> Path:
    """SECONDS seconds of H.264; during second t every element shows ``value(t)``."""
    proc = subprocess.Popen(
        ["ffmpeg", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", "1280x720",
         "-r", str(rate), "-i", "-", "-c:v", "libx264", "-preset", "veryfast", "-crf", "23",
         "-pix_fmt", "yuv420p", str(path)],
        stdin=subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdin is not None
    for t in range(SECONDS):
        frame = render(t).tobytes()
        for _ in range(rate):
            proc.stdin.write(frame)
    proc.stdin.close()
    assert proc.wait() == 0
    return path


def test_one_changed_digit_of_small_text_is_a_band_and_a_still_frame_is_not():
    det = ChangeDetector()
    assert det.observe(render(0)).bands is None
    assert det.observe(render(0)).unchanged
    change = det.observe(render(1))  # every element but the name changed a little
    assert change.bands is not None
    for e in ELEMENTS:
        y = e.xy[1] + e.size // 2
        if e.value(0) == e.value(1):
            assert not any(b[0] <= y < b[1] for b in change.bands), (e.name, change.bands)
            continue
        assert any(b[0] <= y < b[1] for b in change.bands), (e.name, change.bands)
    # one digit of the 18 px timecode alone
    only = render(1).copy()
    only[650:700, :400] = render(2)[650:700, :400]
    (band,) = det.observe(only).bands or [(0, 0, 0, 0)]
    assert band[0] <= 668 + 9 < band[1] and band[1] - band[0] < 80, band
    assert band[3] <= 400 + 6, band  # its columns: the changed digit's, not the frame's width


@pytest.fixture(scope="module")
def engine():
    from dva_ocr.ocr import OcrEngine

    return OcrEngine()


@pytest.mark.slow
def test_every_value_of_small_changing_text_is_found_at_its_second(db, engine, tmp_path):
    path = make_small_text_video(tmp_path / "small.mp4")
    with session_scope() as s:
        vid = register_media(s, path, IngestOptions(fps=1, max_reuse_s=0)).media_id
    InlineQueue(lambda _model: engine).send(EXTRACT, vid)
    with session_scope() as s:
        v = s.get(Video, vid)
        assert v.status == "done", v.error
        assert v.frames_skipped == 0 and v.frames_partial == SECONDS - 1  # never whole, never skipped
        tracks = tracks_of(s, vid)
        missing = []
        for e in ELEMENTS:
            for t in range(SECONDS):
                value = e.value(t)
                if e.name == "name":
                    # word-space recovery may split a name ("Oka for"); search across such a split is a
                    # separate matter: here the reading on screen at t must hold the name, spaces aside
                    on_screen = [x.text for x in tracks if x.start_s <= t < x.end_s]
                    if not any(_compact(value) in _compact(x) for x in on_screen):
                        missing.append((e.name, t, value, on_screen))
                    continue
                hits = search(s, value, media_id=vid, limit=20)
                at = [h for h in hits if h.time <= t + 1 and (h.end is None or h.end >= t)]
                if not any(value.lower() in h.text.lower() for h in at):
                    missing.append((e.name, t, value, [(h.text, h.time, h.end) for h in hits[:3]]))
    assert not missing, missing


def _compact(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch.isalnum())


@pytest.mark.slow
def test_the_safety_floor_reads_a_whole_frame_every_max_reuse_seconds(db, tmp_path):
    from mediagen import Caption, make_video

    from dva_ocr.db.tables import Frame
    from dva_ocr.work import RecordingQueue

    path = make_video(tmp_path / "still.mp4", [Caption("Harbour lights festival", 0, 10)], duration=10)
    with session_scope() as s:
        vid = register_media(s, path, IngestOptions(fps=1, max_reuse_s=4)).media_id
    from dva_ocr.pipeline import extract_video

    extract_video(vid, queue=RecordingQueue())
    with session_scope() as s:
        frames = s.query(Frame).filter(Frame.video_id == vid).order_by(Frame.index).all()
        full = [f.index for f in frames if f.bands is None]
    assert full == [0, 4, 8]  # a still picture, read in full every 4 s all the same
