"""Changed bands read as patches (their changed columns with context), widened to the frame's width
when a line runs out of the patch: the real change detector, the real OCR stage (``read_frames``) and
the bundled models, on generated 720p frames with a corner clock and subtitles.
"""

from __future__ import annotations

from types import SimpleNamespace

import cv2
import numpy as np
import pytest
from mediagen import FONT
from PIL import Image, ImageDraw, ImageFont

from dva_ocr.media.changes import ChangeDetector
from dva_ocr.pipeline import bands
from dva_ocr.pipeline.read import read_frames
from dva_ocr.settings import get_settings

pytestmark = pytest.mark.integration  # loads the OCR models


def frame(subtitle: str, clock: str, label: str = "LIVE  Studio 4") -> np.ndarray:
    canvas = Image.new("RGB", (1280, 720), (28, 34, 46))
    draw = ImageDraw.Draw(canvas)
    draw.text(
        (60, 40), "Quarterly results for the northern region", font=ImageFont.truetype(FONT, 40), fill="white"
    )
    small = ImageFont.truetype(FONT, 18)
    draw.text((40, 14), label, font=small, fill=(190, 190, 190))
    draw.text((1120, 14), clock, font=small, fill=(170, 170, 170))  # 18 px grey clock, top right
    font = ImageFont.truetype(FONT, 40)
    width = draw.textlength(subtitle, font=font)
    draw.text(((1280 - width) / 2, 620), subtitle, font=font, fill=(255, 255, 230))
    return np.asarray(canvas)


@pytest.fixture(scope="module")
def engine():
    from dva_ocr.ocr import OcrEngine

    return OcrEngine(threads=1)


@pytest.fixture
def media_root(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDIA_ROOT", str(tmp_path))
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def as_frames(root, pictures, changes):
    """Frame records as the OCR stage reads them: JPEG files and their bands."""
    out = []
    for i, (picture, change) in enumerate(zip(pictures, changes, strict=True)):
        path = f"f{i}.jpg"
        ok, jpeg = cv2.imencode(
            ".jpg", cv2.cvtColor(picture, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 92]
        )
        assert ok
        (root / path).write_bytes(jpeg.tobytes())
        band_rows = None if change.bands is None else [list(b) for b in change.bands]
        out.append(SimpleNamespace(path=path, width=1280, height=720, bands=band_rows))
    return out


def texts(regions):
    return sorted(r.text for r in regions)


def test_a_ticking_clock_is_a_small_patch_and_is_read_as_in_the_whole_frame(engine, media_root):
    det = ChangeDetector()
    pictures = [frame("We need 19 more volunteers", f"00:00:0{s}") for s in range(3)]
    changes = [det.observe(p) for p in pictures]
    assert changes[0].bands is None
    for change in changes[1:]:
        (band,) = change.bands or []
        y0, y1, x0, x1 = band
        assert y1 - y0 < 60 and x0 > 1100 and x1 - x0 < 110, band  # the changed digit, not the width
        (part,) = bands.parts_of(720, 1280, [band])
        assert part.right - part.left < 400, part  # what the detector sees: a patch, not a strip
    found, _ = read_frames(as_frames(media_root, pictures, changes), engine, lambda *_: True)
    assert "00:00:01" in texts(found[1]) and "00:00:02" in texts(found[2]), found
    assert not any("LIVE" in t for t in texts(found[1]))  # the unchanged label is left to the reference


def test_a_line_whose_unchanged_start_lies_outside_the_patch_is_read_whole(engine, media_root):
    """Only "19" -> "20" changes; the patch around it cuts "We need" and "volunteers", so the band is read
    again across the width: the stored line is the whole new subtitle."""
    det = ChangeDetector()
    pictures = [
        frame("We need 19 more volunteers", "00:00:00"),
        frame("We need 20 more volunteers", "00:00:00"),
    ]
    changes = [det.observe(p) for p in pictures]
    (band,) = changes[1].bands or []
    (part,) = bands.parts_of(720, 1280, [band])
    assert part.right - part.left < 0.75 * 1280, (band, part)  # a patch was tried first
    found, _ = read_frames(as_frames(media_root, pictures, changes), engine, lambda *_: True)
    (line,) = found[1]
    assert line.text == "We need 20 more volunteers", found[1]
    assert line.box[0] < 400 and line.box[0] + line.box[2] > 880, line.box  # in frame coordinates


def test_runs_out_looks_only_at_sides_inside_the_frame():
    part = bands.Part(top=0, bottom=80, y0=20, y1=60, left=100, right=400)
    assert bands.runs_out(part, 1280, (2, 20, 50, 30))  # at the left side
    assert bands.runs_out(part, 1280, (240, 20, 45, 30))  # within its height of the right side
    assert not bands.runs_out(part, 1280, (80, 20, 100, 30))  # well inside
    edge = bands.Part(top=0, bottom=80, y0=20, y1=60, left=0, right=1280)
    assert not bands.runs_out(edge, 1280, (0, 20, 1280, 30))  # the frame's own edges
    assert bands.parts_of(720, 1280, [[600, 660]]) == [bands.Part(570, 690, 600, 660, 0, 1280)]
