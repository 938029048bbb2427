"""The ingest pipeline as plain functions: register -> extract -> OCR batches -> finalize.

One job per module: ``register`` (storage, the media row), ``extract`` (the ``qextract`` stage),
``segments`` (a long video's segments, extracted in parallel),
``read`` (the ``qocr`` stage: full batches of one item, and batches across items from the OCR pool,
which reprocessing jobs read through too), ``pool`` (the OCR pool: frames waiting to be read, in
PostgreSQL), ``finalize`` (the ``qdefault`` roll-up), ``rows`` (the SQL writes and counters),
``job_items`` (a job item's rows), ``bands`` (pure band geometry), ``track_rows`` (text track rows),
``sweep`` (stuck work), ``contracts`` (what a reader is and returns).

Each stage takes ids, does its work in short transactions and is safe to run twice. Nothing here
knows about Celery: stages queue the next one through a ``dva_ocr.work.WorkQueue``.
"""

from dva_ocr.pipeline.contracts import FoundRegion, Reader, TextRegion
from dva_ocr.pipeline.extract import extract_segment, extract_video
from dva_ocr.pipeline.finalize import finalize_video, maybe_finalize
from dva_ocr.pipeline.read import fail_pool, ocr_frames, ocr_pool, read_frames
from dva_ocr.pipeline.register import IngestOptions, Registered, register_media, reset_media
from dva_ocr.pipeline.rows import fail_media, save_frame_regions
from dva_ocr.pipeline.track_rows import build_video_tracks, rebuild_tracks

__all__ = [
    "FoundRegion",
    "IngestOptions",
    "Reader",
    "Registered",
    "TextRegion",
    "build_video_tracks",
    "extract_segment",
    "extract_video",
    "fail_media",
    "fail_pool",
    "finalize_video",
    "maybe_finalize",
    "ocr_frames",
    "ocr_pool",
    "read_frames",
    "rebuild_tracks",
    "register_media",
    "reset_media",
    "save_frame_regions",
]
