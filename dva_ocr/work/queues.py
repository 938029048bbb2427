"""The queues and tasks of the system, named in one place, and the protocol that sends work to them.

``dva_ocr`` never imports Celery: it sends work through a ``WorkQueue``. ``workers.queue.CeleryQueue``
is the real one; ``RecordingQueue`` keeps what was sent (tests, dry runs) and ``InlineQueue``
(``dva_ocr.work.inline``) runs each task at once in this process.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

QEXTRACT = "qextract"  # ffprobe, ffmpeg decoding, change detection (CPU)
QOCR = "qocr"  # the models (GPU-pinned where there is one)
QDEFAULT = "qdefault"  # roll-ups: tracks, counts, status; the stuck-work sweep
QUEUES = (QEXTRACT, QOCR, QDEFAULT)

TaskArgs = tuple[int | list[int], ...]  # ids only: tasks never carry objects


@dataclass(frozen=True)
class Task:
    name: str  # the Celery task name
    queue: str


EXTRACT = Task("dva_ocr.extract_video", QEXTRACT)  # (media_id,): probe; a long video: plan segments
EXTRACT_SEGMENT = Task("dva_ocr.extract_segment", QEXTRACT)  # (media_id, seq): one time range of a video
OCR_FRAMES = Task("dva_ocr.ocr_frames", QOCR)  # (media_id, [frame_id, ...]): a full batch of one item
OCR_POOL = Task("dva_ocr.ocr_pool", QOCR)  # (model_version_id,): a batch of the OCR pool, across items
REPROCESS_ITEM = Task("dva_ocr.reprocess_item", QOCR)  # (job_id, media_id)
FINALIZE = Task("dva_ocr.finalize_video", QDEFAULT)  # (media_id,)
SWEEP = Task("dva_ocr.sweep_stuck", QDEFAULT)  # ()
TASKS = (EXTRACT, EXTRACT_SEGMENT, OCR_FRAMES, OCR_POOL, REPROCESS_ITEM, FINALIZE, SWEEP)
BY_NAME = {t.name: t for t in TASKS}


@dataclass(frozen=True)
class Sent:
    task: Task
    args: TaskArgs


class WorkQueue(Protocol):
    """Where work goes. ``send`` queues one task; ``pending`` lists the tasks queued, reserved by a
    worker or running (what the sweep needs to tell stuck work from work that is only waiting)."""

    def send(self, task: Task, *args: int | list[int]) -> None: ...

    def pending(self) -> list[Sent]: ...


@dataclass
class RecordingQueue:
    """A queue that only records: ``sent`` in order; ``pending()`` is what was sent and not ``take``n."""

    sent: list[Sent] = field(default_factory=list)

    def send(self, task: Task, *args: int | list[int]) -> None:
        self.sent.append(Sent(task, tuple(args)))

    def pending(self) -> list[Sent]:
        return list(self.sent)

    def ids_sent(self, task: Task) -> list[int | list[int]]:
        """The first argument (the media id; a job's id for REPROCESS_ITEM) of each task of one kind."""
        return [s.args[0] for s in self.sent if s.task == task]

    def take(self, task: Task | None = None) -> list[TaskArgs]:
        """The args of the recorded tasks (of one kind), removed from the record."""
        taken = [s for s in self.sent if task is None or s.task == task]
        self.sent = [s for s in self.sent if s not in taken]
        return [s.args for s in taken]

    def frame_batches(self) -> list[list[int]]:
        """The frame ids of the full OCR batches sent (and taken), in order (smaller ones are pooled:
        ``pool_wakeups``)."""
        return [list(args[1]) for args in self.take(OCR_FRAMES)]  # type: ignore[arg-type]

    def pool_wakeups(self) -> list[int]:
        """The model versions of the OCR pool wake-ups sent (and taken), in order."""
        return [int(args[0]) for args in self.take(OCR_POOL)]  # type: ignore[arg-type]
