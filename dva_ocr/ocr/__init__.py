"""OCR engine: PP-OCRv4 detection and recognition on onnxruntime, with word-space recovery.

Importing this package (or a light module in it, such as ``dva_ocr.ocr.spec``) loads no cv2, shapely or
onnxruntime: the names below are imported on first use, and onnxruntime sessions are created when an
``OcrEngine`` is built.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["LineReader", "LineReading", "OcrEngine", "OcrRegion"]

if TYPE_CHECKING:
    from dva_ocr.ocr.engine import OcrEngine, OcrRegion
    from dva_ocr.ocr.lines import LineReader, LineReading

_LAZY = {
    "OcrEngine": "dva_ocr.ocr.engine",
    "OcrRegion": "dva_ocr.ocr.engine",
    "LineReader": "dva_ocr.ocr.lines",
    "LineReading": "dva_ocr.ocr.lines",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
