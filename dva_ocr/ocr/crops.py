"""Cut each detected quadrilateral out of the image as an upright, rectified line image."""

from __future__ import annotations

import cv2
import numpy as np

TALL_RATIO = 1.5  # crops at least this much taller than wide are read as vertical text


def crop_quad(image: np.ndarray, quad: np.ndarray) -> np.ndarray:
    """Perspective-warp ``quad`` (tl, tr, br, bl) to a rectangle; tall crops are turned 90 degrees."""
    quad = np.asarray(quad, np.float32)
    w = max(1, int(round(max(np.linalg.norm(quad[0] - quad[1]), np.linalg.norm(quad[3] - quad[2])))))
    h = max(1, int(round(max(np.linalg.norm(quad[0] - quad[3]), np.linalg.norm(quad[1] - quad[2])))))
    target = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    m = cv2.getPerspectiveTransform(quad, target)
    crop = cv2.warpPerspective(image, m, (w, h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
    if h / w >= TALL_RATIO:
        crop = np.ascontiguousarray(np.rot90(crop))
    return crop
