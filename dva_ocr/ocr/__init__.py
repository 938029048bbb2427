"""OCR engine: PP-OCRv4 detection and recognition on onnxruntime, with word-space recovery.

Importing this package is cheap: onnxruntime sessions are created when an ``OcrEngine`` is built.
"""

from dva_ocr.ocr.engine import OcrEngine, OcrRegion

__all__ = ["OcrEngine", "OcrRegion"]
