"""Render an image with its OCR boxes and texts drawn on it (``ocr --draw``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.truetype(FONT, size)
    except OSError:
        return ImageFont.load_default()


def draw_regions(image: np.ndarray, regions: Sequence[Any]) -> Image.Image:
    im = Image.fromarray(image).convert("RGB")
    draw = ImageDraw.Draw(im)
    font = _font(max(12, im.height // 50))
    for r in regions:
        pts = [tuple(map(float, p)) for p in r.polygon]
        draw.polygon(pts, outline=(255, 40, 40), width=2)
        label = f"{r.text} ({r.confidence:.2f})"
        x, y = pts[0]
        tb = draw.textbbox((x, y), label, font=font, anchor="lb")
        draw.rectangle(tb, fill=(255, 40, 40))
        draw.text((x, y), label, fill=(255, 255, 255), font=font, anchor="lb")
    return im
