"""Reading still images: the one place that turns an image file into upright RGB arrays.

JPEG, PNG, GIF, WebP, BMP and TIFF (and whatever else PIL opens), turned upright by their EXIF
orientation, transparent pixels laid on a background that contrasts with the picture, 16-bit pixels
scaled to 8 bits. ``read_pages`` gives every page of a multi-page TIFF and the first frame of any other
image; an animated GIF or PNG is a video (``ImageFacts.animated``: ffmpeg decodes those).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from dva_ocr.errors import MediaError

FORMATS = ("JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF")  # PIL names (a multi-picture JPEG opens as MPO)
SUFFIXES = frozenset({".jpg", ".jpeg", ".jpe", ".png", ".gif", ".webp", ".bmp", ".dib", ".tif", ".tiff"})
_ORIENTATION = 0x0112
_ERRORS = (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError)
# PIL's own bomb check refuses big images at open with a message that hides their size, so the
# header of a 30000 x 30000 PNG looked corrupt; dva-ocr applies its own limit (IMAGE_MAX_PIXELS)
# from the header, before any pixel is decoded: at upload and in ``read_pages``.
Image.MAX_IMAGE_PIXELS = None


def too_many_pixels(width: int, height: int) -> str | None:
    """Why an image this size is refused (over IMAGE_MAX_PIXELS), or None."""
    from dva_ocr.settings import get_settings

    limit = get_settings().image_max_pixels
    if width * height <= limit:
        return None
    return (
        f"{width} x {height} pixels ({width * height / 1e6:.0f} megapixels) is over the limit of "
        f"{limit / 1e6:g} megapixels (IMAGE_MAX_PIXELS)"
    )


class UnreadableImage(MediaError):
    """An image file that cannot be read; ``reason`` says why without the path."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


@dataclass(frozen=True)
class ImageFacts:
    format: str  # PIL's name: JPEG, PNG, GIF, WEBP, BMP, TIFF, MPO
    width: int  # upright: after EXIF orientation
    height: int
    frames: int  # frames of a GIF/PNG/WebP, pages of a TIFF

    @property
    def animated(self) -> bool:
        """More than one frame of a format ffmpeg decodes as a video (GIF, APNG)."""
        return self.format in ("GIF", "PNG") and self.frames > 1

    @property
    def pages(self) -> int:
        """How many pictures ``read_pages`` gives: a TIFF's pages, else 1 (the first frame)."""
        return self.frames if self.format == "TIFF" else 1


def inspect_image(path: str | Path) -> ImageFacts | None:
    """What an image file of one of ``FORMATS`` holds, from its headers (no pixels decoded); None when
    the file is not one of them (or its headers are broken)."""
    try:
        with Image.open(path, formats=FORMATS) as im:
            w, h = im.size
            tags = getattr(im, "tag_v2", {})  # newer Pillow reports a TIFF's size upright
            stored = (tags.get(256), tags.get(257)) if im.format == "TIFF" else (w, h)
            if _orientation(im) in (5, 6, 7, 8) and stored == (w, h):
                w, h = h, w
            return ImageFacts(im.format or "", w, h, int(getattr(im, "n_frames", 1)))
    except _ERRORS:
        return None


def _orientation(im: Image.Image) -> int:
    """The EXIF orientation from the headers. PIL's ``getexif`` on a PNG decodes every pixel to look
    for an eXIf chunk after the image data; only the chunks before it are read here."""
    if im.format == "PNG":
        exif = Image.Exif()
        if "exif" in im.info:
            exif.load(im.info["exif"])
        return int(exif.get(_ORIENTATION, 1))
    return int(im.getexif().get(_ORIENTATION, 1))


def read_image(path: str | Path) -> np.ndarray:
    """An image file (its first frame or page) as H x W x 3 uint8 RGB, upright."""
    return next(read_pages(path))


def read_pages(path: str | Path) -> Iterator[np.ndarray]:
    """Every page of a multi-page TIFF, in order, else the first frame, each H x W x 3 uint8 RGB,
    upright. A file that cannot be read raises ``UnreadableImage`` (a ``MediaError``) saying why:
    missing, empty, not an image, corrupt."""
    path = Path(path)
    if not path.is_file():
        raise UnreadableImage(path, "file not found")
    if path.stat().st_size == 0:
        raise UnreadableImage(path, "empty file (0 bytes)")
    try:
        im = Image.open(path)
    except UnidentifiedImageError as exc:
        raise UnreadableImage(path, "corrupt or not an image (no image format recognised)") from exc
    except _ERRORS as exc:
        raise UnreadableImage(path, f"unreadable image: {exc}") from exc
    with im:
        if (why := too_many_pixels(*im.size)) is not None:
            raise UnreadableImage(path, why)
        pages = int(getattr(im, "n_frames", 1)) if im.format == "TIFF" else 1
        for n in range(pages):
            try:
                im.seek(n)
                rgb = upright_rgb(im)
            except _ERRORS as exc:
                where = f"page {n + 1} of {pages}" if pages > 1 else "image"
                raise UnreadableImage(path, f"corrupt or truncated {where}: {exc}") from exc
            yield rgb


def upright_rgb(im: Image.Image) -> np.ndarray:
    """A PIL image (its current frame) as upright H x W x 3 uint8 RGB."""
    im = ImageOps.exif_transpose(im) or im
    if im.mode in ("I", "F") or im.mode.startswith("I;16"):
        im = _to_8bit(im)
    if im.mode in ("RGBA", "LA", "PA") or "transparency" in im.info:
        return _flatten(im.convert("RGBA"))
    return np.asarray(im.convert("RGB"))


def _to_8bit(im: Image.Image) -> Image.Image:
    """16-bit or float greyscale scaled to 0-255 (8-bit data stored wide is kept as it is)."""
    a = np.asarray(im, dtype=np.float64)
    top = float(a.max(initial=0.0))
    scale = 255.0 if top <= 255 else 65535.0 if top <= 65535 else top
    return Image.fromarray(np.clip(a * (255.0 / scale), 0, 255).astype(np.uint8), "L")


def _flatten(rgba: Image.Image) -> np.ndarray:
    """Transparent pixels laid on white, or on black when what is drawn is light (white text on a
    transparent background must stay readable)."""
    a = np.asarray(rgba)
    alpha = a[:, :, 3:].astype(np.float32) / 255.0
    drawn = a[:, :, :3][a[:, :, 3] >= 128]
    light = drawn.size > 0 and float(drawn.mean()) > 160
    background = 0.0 if light else 255.0
    out = a[:, :, :3] * alpha + background * (1.0 - alpha)
    return np.ascontiguousarray(np.rint(out).astype(np.uint8))
