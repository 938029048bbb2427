"""dva-ocr: video and image OCR analytics.

For OCR alone: ``from dva_ocr import OcrEngine``; ``OcrEngine()(image_or_path)``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["OcrEngine"]
__version__ = "0.1.0"

if TYPE_CHECKING:
    from dva_ocr.ocr.engine import OcrEngine


def __getattr__(name: str) -> Any:
    # Lazy, so that importing settings or db does not load onnxruntime.
    if name == "OcrEngine":
        from dva_ocr.ocr.engine import OcrEngine

        return OcrEngine
    raise AttributeError(name)
