"""The ``qocr`` stage: read frames (whole, or only their changed bands) and store their regions.

``read_and_store`` is the one way frames are read and stored; the ingest OCR task (``ocr_frames``)
and a reprocessing job's item (``dva_ocr.jobs.run_item``) both call it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sqlalchemy import select

from dva_ocr import logs, telemetry
from dva_ocr.db.session import session_scope
from dva_ocr.db.tables import Frame, ModelVersion, Video, VideoStatus
from dva_ocr.filters import RegionFilter
from dva_ocr.media.frames import read_jpeg
from dva_ocr.pipeline import bands, rows
from dva_ocr.pipeline.contracts import FoundRegion, Keep, Reader
from dva_ocr.pipeline.finalize import maybe_finalize
from dva_ocr.settings import get_settings
from dva_ocr.work.queues import WorkQueue

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Stored:
    regions: int  # regions written
    new_frames: int  # frames the model version had not read before


def read_frames(frames: Sequence[Frame], reader: Reader, keep: Keep) -> tuple[list[list[FoundRegion]], float]:
    """Regions of each frame (whole, or only its changed bands) that pass ``keep``; ms per frame.
    A band read as a patch narrower than the frame whose lines run out at a side is read again across
    the frame's width (``bands.runs_out``), in a second batch."""
    root = get_settings().media_root
    images: list[np.ndarray] = []
    owners: list[tuple[int, bands.Part]] = []  # frame position, part of the frame
    pictures = [read_jpeg(root / f.path) for f in frames]
    for pos, f in enumerate(frames):
        for part in bands.parts_of(f.height, f.width, f.bands):
            images.append(bands.part_image(pictures[pos], part))
            owners.append((pos, part))
    started = time.perf_counter()
    results = list(reader.batch(images)) if images else []
    again = [
        j
        for j, ((pos, part), regions) in enumerate(zip(owners, results, strict=True))
        if any(bands.runs_out(part, frames[pos].width, r.box) for r in regions)
    ]
    if again:
        wide = [(owners[j][0], owners[j][1].widened(frames[owners[j][0]].width)) for j in again]
        for j, (pos, part), regions in zip(
            again,
            wide,
            reader.batch([bands.part_image(pictures[pos], part) for pos, part in wide]),
            strict=True,
        ):
            owners[j], results[j] = (pos, part), regions
    per_frame_ms = (time.perf_counter() - started) * 1000 / max(1, len(frames))
    found: list[list[FoundRegion]] = [[] for _ in frames]
    for (pos, part), regions in zip(owners, results, strict=True):
        frame = frames[pos]
        for r in regions:
            region = FoundRegion.of(r, part.top, part.left)
            if bands.owns(part, region.box) and keep(
                region.box, region.confidence, frame.width, frame.height
            ):
                found[pos].append(region)
    return found, per_frame_ms


def read_and_store(frames: Sequence[Frame], reader: Reader, model_version_id: int, keep: Keep) -> Stored:
    """Read ``frames`` and replace their regions of the model version, in one transaction."""
    if not frames:
        return Stored(0, 0)
    found, per_frame_ms = read_frames(frames, reader, keep)
    new = 0
    with session_scope() as s:
        for frame, regions in zip(frames, found, strict=True):
            new += rows.save_frame_regions(s, frame, model_version_id, regions, per_frame_ms)
        model = s.scalar(select(ModelVersion.name).where(ModelVersion.id == model_version_id))
    stored = Stored(sum(len(r) for r in found), new)
    _count_work(model or str(model_version_id), len(frames), stored.regions, per_frame_ms)
    return stored


def _count_work(model: str, frames: int, regions: int, per_frame_ms: float) -> None:
    """The cluster's work counters (``dva_ocr.telemetry``), once the regions are committed. ``queue`` is
    the worker queue the task came from (``inline`` when the pipeline runs in this process)."""
    labels = {"queue": logs.context().get("queue", "inline"), "model": model}
    telemetry.count(telemetry.FRAMES_READ, frames, **labels)
    telemetry.count(telemetry.OCR_SECONDS, per_frame_ms * frames / 1000, **labels)
    telemetry.count(telemetry.REGIONS_STORED, regions, **labels)


def ocr_frames(
    media_id: int,
    frame_ids: list[int],
    *,
    reader: Reader,
    queue: WorkQueue,
    model_version_id: int | None = None,
) -> int:
    """Read the given frames of a media item being ingested, count them, and queue the roll-up once
    every frame is read. Returns regions written."""
    with session_scope() as s:
        video = s.get(Video, media_id)
        if video is None or video.status in (VideoStatus.failed, VideoStatus.cancelled):
            log.info("media %s is gone, failed or cancelled; skipping %d frames", media_id, len(frame_ids))
            return 0
        mv_id = model_version_id or video.model_version_id
        keep = RegionFilter.from_json(video.filters).keep
        frames = list(s.scalars(select(Frame).where(Frame.id.in_(frame_ids)).order_by(Frame.index)))
        frames = [f for f in frames if f.bands != []]
    if not frames:
        return 0
    stored = read_and_store(frames, reader, mv_id, keep)
    with session_scope() as s:
        rows.touch(s, media_id, frames_ocr=Video.frames_ocr + stored.new_frames)
    maybe_finalize(media_id, queue)
    return stored.regions


def model_name_of(media_id: int) -> str | None:
    """The name of the model version a media item is read with (None when it is gone)."""
    with session_scope() as s:
        return s.scalar(
            select(ModelVersion.name)
            .join(Video, Video.model_version_id == ModelVersion.id)
            .where(Video.id == media_id)
        )
