"""Running the OCR work a ``RecordingQueue`` holds in this process, as the qocr workers would: full
batches of one item (``OCR_FRAMES``) and wake-ups of the OCR pool (``OCR_POOL``, whose batches take
the pooled frames of any item: dva_ocr.pipeline.pool)."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select

from dva_ocr.db.session import session_scope
from dva_ocr.db.tables import OcrPending
from dva_ocr.pipeline import ocr_frames, ocr_pool
from dva_ocr.pipeline.contracts import Reader
from dva_ocr.pipeline.read import model_name, model_name_of
from dva_ocr.work import OCR_FRAMES, OCR_POOL, RecordingQueue


def read_queued(queue: RecordingQueue, reader_for: Callable[[str | None], Reader]) -> int:
    """Run the queue's OCR tasks and those they send until none is left (other tasks, the roll-up
    among them, stay queued); returns how many ran."""
    ran = 0
    while True:
        batches, wakeups = queue.take(OCR_FRAMES), queue.take(OCR_POOL)
        if not batches and not wakeups:
            return ran
        for media_id, frame_ids in batches:
            assert isinstance(media_id, int) and isinstance(frame_ids, list)
            ocr_frames(media_id, frame_ids, reader=reader_for(model_name_of(media_id)), queue=queue)
        for (model_version_id,) in wakeups:
            assert isinstance(model_version_id, int)
            ocr_pool(model_version_id, reader=reader_for(model_name(model_version_id)), queue=queue)
        ran += len(batches) + len(wakeups)


def frames_to_read(queue: RecordingQueue, media_id: int) -> list[int]:
    """The ids of an item's frames queued for OCR: in its full batches (taken from the queue) and in
    the OCR pool, in order."""
    queued = {i for b in queue.frame_batches() for i in b}
    with session_scope() as s:
        pooled = s.scalars(
            select(OcrPending.frame_id).where(OcrPending.video_id == media_id, OcrPending.job_id.is_(None))
        )
        return sorted(queued | set(pooled))
