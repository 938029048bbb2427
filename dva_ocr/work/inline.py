"""A ``WorkQueue`` that runs each task at once, in this process: for tests, benchmarks and scripts
that want the whole pipeline without a broker. Work sent by a task runs before ``send`` returns."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from dva_ocr import jobs, pipeline
from dva_ocr.pipeline import sweep
from dva_ocr.pipeline.contracts import Reader
from dva_ocr.pipeline.read import model_name_of
from dva_ocr.work.queues import (
    EXTRACT,
    EXTRACT_SEGMENT,
    FINALIZE,
    OCR_FRAMES,
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

    def send(self, task: Task, *args: int | list[int]) -> None:
        self.ran.append(Sent(task, tuple(args)))
        if task == EXTRACT:
            pipeline.extract_video(_id(args[0]), queue=self)
        elif task == EXTRACT_SEGMENT:
            pipeline.extract_segment(_id(args[0]), _id(args[1]), queue=self)
        elif task == OCR_FRAMES:
            media_id, frame_ids = _id(args[0]), args[1]
            assert isinstance(frame_ids, list)
            reader = self.reader_for(model_name_of(media_id))
            pipeline.ocr_frames(media_id, frame_ids, reader=reader, queue=self)
        elif task == REPROCESS_ITEM:
            jobs.run_item(_id(args[0]), _id(args[1]), reader_for=self.reader_for)
        elif task == FINALIZE:
            pipeline.finalize_video(_id(args[0]))
        elif task == SWEEP:
            sweep.sweep_stuck(self)
        else:
            raise ValueError(f"unknown task {task.name}")

    def pending(self) -> list[Sent]:
        return []  # nothing ever waits


def _id(value: int | list[int]) -> int:
    if not isinstance(value, int):
        raise TypeError(f"expected an id, got {value!r}")
    return value
