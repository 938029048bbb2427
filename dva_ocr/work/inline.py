"""A ``WorkQueue`` that runs each task in this process: for tests, benchmarks and scripts that want the
whole pipeline without a broker. The outermost ``send`` returns once every task it led to has run;
work a task sends runs after that task (in the order sent), as a worker would take it from the
queue, never inside it (an OCR batch's transaction is still open when it wakes another worker)."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from dva_ocr import jobs, pipeline
from dva_ocr.pipeline import sweep
from dva_ocr.pipeline.contracts import Reader
from dva_ocr.pipeline.read import model_name, model_name_of
from dva_ocr.work.queues import (
    EXTRACT,
    EXTRACT_SEGMENT,
    FINALIZE,
    OCR_FRAMES,
    OCR_POOL,
    REPROCESS_ITEM,
    SWEEP,
    Sent,
    Task,
)

ReaderFor = Callable[[str | None], Reader]  # model version name (None: the default) -> reader


@dataclass
class InlineQueue:
    reader_for: ReaderFor
    ran: list[Sent] = field(default_factory=list)  # every task run, in order
    _waiting: deque[Sent] = field(default_factory=deque)
    _running: bool = False

    def send(self, task: Task, *args: int | list[int]) -> None:
        self._waiting.append(Sent(task, tuple(args)))
        if self._running:
            return  # sent by a task: runs after it
        self._running = True
        try:
            while self._waiting:
                self._run(self._waiting.popleft())
        finally:
            self._running = False
            self._waiting.clear()

    def _run(self, sent: Sent) -> None:
        task, args = sent.task, sent.args
        self.ran.append(sent)
        if task == EXTRACT:
            pipeline.extract_video(_id(args[0]), queue=self)
        elif task == EXTRACT_SEGMENT:
            pipeline.extract_segment(_id(args[0]), _id(args[1]), queue=self)
        elif task == OCR_FRAMES:
            media_id, frame_ids = _id(args[0]), args[1]
            assert isinstance(frame_ids, list)
            reader = self.reader_for(model_name_of(media_id))
            pipeline.ocr_frames(media_id, frame_ids, reader=reader, queue=self)
        elif task == OCR_POOL:
            model_version_id = _id(args[0])
            reader = self.reader_for(model_name(model_version_id))
            pipeline.ocr_pool(model_version_id, reader=reader, queue=self)
        elif task == REPROCESS_ITEM:
            jobs.run_item(_id(args[0]), _id(args[1]), reader_for=self.reader_for, queue=self)
        elif task == FINALIZE:
            pipeline.finalize_video(_id(args[0]))
        elif task == SWEEP:
            sweep.sweep_stuck(self)
        else:
            raise ValueError(f"unknown task {task.name}")

    def pending(self) -> list[Sent]:
        return list(self._waiting)  # sent by the task running now, not run yet


def _id(value: int | list[int]) -> int:
    if not isinstance(value, int):
        raise TypeError(f"expected an id, got {value!r}")
    return value
