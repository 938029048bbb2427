"""Submitting work: the queues and task names (``queues``), and the one way the API, the dashboard
and the CLI submit work (``submit``: commit, then enqueue). Celery-free; ``workers/`` implements
``WorkQueue`` with Celery."""

from dva_ocr.work.queues import (
    EXTRACT,
    EXTRACT_SEGMENT,
    FINALIZE,
    OCR_FRAMES,
    OCR_POOL,
    QUEUES,
    REPROCESS_ITEM,
    SWEEP,
    TASKS,
    RecordingQueue,
    Sent,
    Task,
    WorkQueue,
)

__all__ = [
    "EXTRACT",
    "EXTRACT_SEGMENT",
    "FINALIZE",
    "OCR_FRAMES",
    "OCR_POOL",
    "QUEUES",
    "REPROCESS_ITEM",
    "SWEEP",
    "TASKS",
    "RecordingQueue",
    "Sent",
    "Task",
    "WorkQueue",
]
