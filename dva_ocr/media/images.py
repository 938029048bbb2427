"""Reading still images: the one place that turns an image file into an upright RGB array."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from dva_ocr.errors import MediaError


def read_image(path: str | Path) -> np.ndarray:
    """An image file as H x W x 3 uint8 RGB, turned upright by its EXIF orientation."""
    try:
        with Image.open(path) as im:
            return np.asarray(ImageOps.exif_transpose(im).convert("RGB"))
    except (OSError, SyntaxError, ValueError) as exc:
        raise MediaError(f"not an image that can be read: {path}: {exc}") from exc
