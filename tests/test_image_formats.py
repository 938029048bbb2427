"""Images of every common kind (JPEG, PNG, GIF, WebP, BMP, TIFF), EXIF orientation, multi-page TIFF and
animated GIF: read by `./manage.py ocr` and by ingest. Every file is generated here with PIL."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont
from runcli import run_cli
from sqlalchemy import select
from textgen import FONT_DIR

from dva_ocr.db.session import session_scope
from dva_ocr.db.tables import Frame, Video
from dva_ocr.errors import MediaError
from dva_ocr.media.frames import sample_frames
from dva_ocr.media.probe import probe
from dva_ocr.pipeline import IngestOptions
from dva_ocr.search import search
from dva_ocr.work.inline import InlineQueue
from dva_ocr.work.submit import submit_file

pytestmark = pytest.mark.integration  # the CLI tests run the bundled OCR models

FONT = ImageFont.truetype(str(FONT_DIR / "DejaVuSans.ttf"), 44)
TEXTS = {  # one still file per format, each with its own text
    "photo.jpg": "Invoice number 48213",
    "poster.png": "Harbour lights festival",
    "still.gif": "Fresh bread and coffee",
    "banner.webp": "Summer sale today",
    "sign.bmp": "Room 204 second floor",
    "flat.tif": "Welcome to the museum",
}
ANIMATED = ["Platform nine departures", "Mind the gap please", "Thank you for watching"]
PAGES = ["Chapter seven begins", "Quarterly report revenue", "Emergency exit only"]
ROTATED = "Exit 14 for the airport"


def card(lines: list[str], size: tuple[int, int] = (900, 200)) -> Image.Image:
    """Dark text on a light background, 44 px, one line every 80 px."""
    image = Image.new("RGB", size, (246, 244, 238))
    draw = ImageDraw.Draw(image)
    for n, text in enumerate(lines):
        draw.text((40, 40 + 80 * n), text, font=FONT, fill=(25, 25, 35))
    return image


def save_frames(path: Path, images: list[Image.Image], **options: object) -> Path:
    """A multi-frame file: an animated GIF (1 s a frame) or a multi-page TIFF."""
    images[0].save(path, save_all=True, append_images=images[1:], **options)
    return path


def save_rotated_jpeg(path: Path, text: str) -> Path:
    """Pixels stored turned a quarter left, EXIF orientation 6 (show turned a quarter right)."""
    exif = Image.Exif()
    exif[0x0112] = 6
    card([text]).transpose(Image.Transpose.ROTATE_90).save(path, exif=exif, quality=92)
    return path


def squash(text: str) -> str:
    return "".join(text.lower().split())  # word spaces aside


def texts(entry: dict) -> list[str]:
    return [squash(r["text"]) for r in entry["regions"]]


@pytest.fixture(scope="module")
def folder_run(tmp_path_factory):
    """One `ocr FOLDER --json` run over a folder holding every kind of file."""
    folder = tmp_path_factory.mktemp("formats")
    for name, text in TEXTS.items():
        card([text]).save(folder / name, **({"quality": 90} if name.endswith((".jpg", ".webp")) else {}))
    save_frames(folder / "anim.gif", [card([t]) for t in ANIMATED], duration=1000, loop=0)
    save_frames(folder / "scan.tif", [card([t]) for t in PAGES], compression="tiff_lzw")
    save_rotated_jpeg(folder / "rotated.jpg", ROTATED)
    card(["Opening hours Monday to Friday", "Call now on 0800 555 0199", "Free wireless internet"] * 4,
         size=(1600, 1040)).save(folder / "big.png")  # fmt: skip
    card(["EXIT"], size=(200, 120)).save(folder / "tiny.png")
    (folder / "notes.txt").write_text("shopping list: bread, coffee\n")
    whole = io.BytesIO()
    card(["Truncated"]).save(whole, "PNG")
    (folder / "broken.png").write_bytes(whole.getvalue()[: len(whole.getvalue()) // 2])
    proc = run_cli("ocr", str(folder), "--json")
    entries = {Path(e["image"]).name: e for e in map(json.loads, proc.stdout.splitlines())}
    return folder, proc, entries


def test_each_format_is_read_with_its_text(folder_run):
    _, _, entries = folder_run
    for name, text in TEXTS.items():
        assert texts(entries[name]) == [squash(text)], (name, entries[name])


def test_a_gif_is_read_at_its_first_frame(folder_run):
    folder, proc, entries = folder_run
    assert texts(entries["anim.gif"]) == [squash(ANIMATED[0])]
    assert f"note {folder / 'anim.gif'}: 3 frames (GIF); only the first is read here" in proc.stderr


def test_a_jpeg_with_exif_orientation_is_read_upright(folder_run):
    _, _, entries = folder_run
    assert texts(entries["rotated.jpg"]) == [squash(ROTATED)]


def test_every_page_of_a_tiff_is_an_entry(folder_run):
    _, _, entries = folder_run
    assert "scan.tif" not in entries
    for n, text in enumerate(PAGES, 1):
        assert texts(entries[f"scan.tif#page={n}"]) == [squash(text)]


def test_files_not_read_are_named_with_the_reason(folder_run):
    folder, proc, entries = folder_run
    assert proc.returncode == 1  # the broken image; everything else was read
    assert f"skipped {folder / 'notes.txt'}: not an image (text/plain)" in proc.stderr.splitlines()
    assert f"skipped {folder / 'broken.png'}: corrupt or truncated image" in proc.stderr
    assert "notes.txt" not in entries  # not an image: named on stderr only
    assert entries["broken.png"]["regions"] == [] and "truncated" in entries["broken.png"]["error"]
    summary = "ocr: 11 file(s) read (13 image(s)); 2 skipped: 1 unreadable, 1 not an image"
    assert proc.stderr.splitlines()[-1] == summary  # 13: the TIFF's 3 pages are 3 images


def test_elapsed_ms_is_each_images_own(folder_run):
    _, _, entries = folder_run
    read = {name: e["elapsed_ms"] for name, e in entries.items() if "error" not in e}
    assert len(read) == 13 and all(ms > 0 for ms in read.values()), read
    assert len(set(read.values())) > len(read) // 2, read  # not one batch time shared out
    assert read["big.png"] > read["tiny.png"], read  # 12 lines on 1600x1040 against one word


def test_probe_tells_still_images_from_animations(tmp_path):
    for name in TEXTS:
        card(["Hello"]).save(tmp_path / name)
        info = probe(tmp_path / name)
        assert (info.media_type, info.pages, info.width, info.height) == ("image", 1, 900, 200), name
    gif = save_frames(tmp_path / "anim.gif", [card([t]) for t in ANIMATED], duration=1000, loop=0)
    info = probe(gif)
    assert (info.media_type, info.duration) == ("video", 3.0)
    tif = save_frames(tmp_path / "scan.tif", [card([t]) for t in PAGES])
    info = probe(tif)
    assert (info.media_type, info.pages) == ("image", 3)
    assert [(f.index, f.time_s) for f in sample_frames(tif, info, 1.0)] == [(0, 0.0), (1, 1.0), (2, 2.0)]
    rotated = probe(save_rotated_jpeg(tmp_path / "rotated.jpg", ROTATED))
    assert (rotated.media_type, rotated.width, rotated.height) == ("image", 900, 200)


def test_a_truncated_image_fails_with_the_reason_not_the_stored_path(tmp_path):
    whole = io.BytesIO()
    card(["Truncated"]).save(whole, "JPEG")
    path = tmp_path / "cut.jpg"
    path.write_bytes(whole.getvalue()[: len(whole.getvalue()) // 3])
    info = probe(path)  # its headers are whole
    with pytest.raises(MediaError) as err:
        list(sample_frames(path, info, 1.0))
    assert str(err.value).startswith("not an image that can be read: corrupt or truncated image")
    assert str(tmp_path) not in str(err.value)


@pytest.fixture(scope="module")
def engine():
    from dva_ocr.ocr import OcrEngine

    return OcrEngine()


def test_ingest_animated_gif_as_video_and_multipage_tiff_as_one_item(db, engine, tmp_path):
    gif = save_frames(tmp_path / "anim.gif", [card([t]) for t in ANIMATED], duration=1000, loop=0)
    tif = save_frames(tmp_path / "scan.tif", [card([t]) for t in PAGES], compression="tiff_lzw")
    queue = InlineQueue(lambda _model: engine)  # each stage runs at once, in this process
    gif_id = submit_file(queue, gif, IngestOptions(fps=1)).media_id
    tif_id = submit_file(queue, tif, IngestOptions(fps=1)).media_id
    with session_scope() as s:
        for vid, kind, lines in ((gif_id, "video", ANIMATED), (tif_id, "image", PAGES)):
            v = s.get(Video, vid)
            assert (v.status, v.media_type, v.frames_total) == ("done", kind, 3), v.error
            frames = s.scalars(select(Frame).where(Frame.video_id == vid).order_by(Frame.index)).all()
            assert [(f.index, f.time_s, f.width, f.height) for f in frames] == [
                (k, float(k), 900, 200) for k in range(3)
            ]
            for k, text in enumerate(lines):
                word = max(re.findall(r"[A-Za-z]+", text), key=len)  # its longest word
                hits = search(s, word, media_id=vid)
                assert [(h.time, squash(h.text)) for h in hits] == [(float(k), squash(text))], (word, hits)
