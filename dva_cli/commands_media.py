"""``ingest`` and ``search``: the database-backed commands."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dva_ocr.db.tables import Video
    from dva_ocr.pipeline import IngestOptions

# VideoStatus values (a StrEnum): the module imports no database code
TERMINAL = ("done", "failed", "cancelled")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ingest", help="register media files (or folders of them) and queue them")
    p.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    add_ingest_options(p)
    p.add_argument("--wait", action="store_true", help="block until every item is done, showing progress")
    p.add_argument("--json", action="store_true", help="one JSON object per media item and line")
    p.set_defaults(func=ingest)

    p = sub.add_parser("retry", help="run failed or stuck media items again from the start")
    p.add_argument("ids", nargs="+", type=int, metavar="ID")
    p.set_defaults(func=retry)

    p = sub.add_parser("search", help="search the text found in all media")
    p.add_argument("query", help='words, "a phrase", a OR b, -excluded')
    p.add_argument("--json", action="store_true", help="one JSON object per hit and line")
    p.add_argument("--media", "--video", dest="media", type=int, default=None, help="only this media id")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument(
        "--frames", action="store_true", help="one hit per frame region instead of one per text track"
    )
    p.set_defaults(func=search)


def add_ingest_options(p: argparse.ArgumentParser) -> None:
    """How media is to be read: the options ``ingest`` and ``watch`` share."""
    p.add_argument("--fps", type=float, default=None, help="frames sampled per second (default: SAMPLE_FPS)")
    p.add_argument(
        "--sampling",
        choices=("fixed", "keyframes", "scene"),
        default="fixed",
        help="fixed: --fps frames a second; keyframes: the stream's I-frames; scene: frames where the "
        "picture cuts (ffmpeg scene score); the last two take a frame at least every --max-gap seconds",
    )
    p.add_argument("--scene-threshold", type=float, default=0.3, help="scene score (0-1) that is a cut")
    p.add_argument(
        "--max-gap", type=float, default=2.0, help="keyframes/scene: seconds between frames, at most"
    )
    p.add_argument(
        "--max-reuse",
        type=float,
        default=None,
        metavar="SECONDS",
        help="read a whole frame at least this often, whatever the change detector says "
        "(default: MAX_REUSE_S; 0: never)",
    )
    p.add_argument(
        "--min-conf",
        type=float,
        default=None,
        help="drop regions read with lower confidence (0.5-1; default 0.7, measured)",
    )
    p.add_argument("--min-height", type=int, default=0, help="drop text lines lower than this many pixels")
    p.add_argument(
        "--roi",
        action="append",
        default=[],
        metavar="X0,Y0,X1,Y1",
        help="only keep text inside this area, relative coordinates 0-1 (repeatable)",
    )
    p.add_argument(
        "--ignore",
        action="append",
        default=[],
        metavar="X0,Y0,X1,Y1",
        help="drop text inside this area, e.g. a watermark, relative coordinates 0-1 (repeatable)",
    )
    p.add_argument("--model", default=None, help="model version name (default: OCR_MODEL)")
    p.add_argument(
        "--video-stream",
        type=int,
        default=None,
        metavar="N",
        help="which of a file's video streams to read, from 0 (default: the first; the item's notes "
        "list them when there are several)",
    )


def _expand(paths: list[Path]) -> list[Path]:
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            out.extend(sorted(f for f in p.rglob("*") if f.is_file() and not f.name.startswith(".")))
        else:
            out.append(p)
    return out


def ingest_options(args: argparse.Namespace) -> IngestOptions:
    """The checked ``IngestOptions`` of ``add_ingest_options``' arguments (DvaOcrError on bad values,
    before anything is stored)."""
    from dva_ocr.errors import DvaOcrError
    from dva_ocr.filters import RegionFilter, parse_rect
    from dva_ocr.pipeline import IngestOptions

    if args.fps is not None and not 0 < args.fps <= 60:
        raise DvaOcrError("--fps must be above 0 and at most 60")
    options = IngestOptions(
        sampling=args.sampling,
        fps=args.fps,
        scene_threshold=args.scene_threshold,
        max_gap_s=args.max_gap,
        max_reuse_s=args.max_reuse,
        filters=RegionFilter(
            min_confidence=args.min_conf,
            min_height=args.min_height,
            roi=tuple(parse_rect(r) for r in args.roi),
            ignore=tuple(parse_rect(r) for r in args.ignore),
        ),
        model=args.model,
        video_stream=getattr(args, "video_stream", None),
    )
    options.sampler()  # bad values are reported before anything is stored
    return options


def ingest(args: argparse.Namespace) -> int:
    from dva_ocr.db.session import session_scope
    from dva_ocr.db.tables import Video
    from dva_ocr.work.submit import submit_file
    from workers.queue import default_queue

    options = ingest_options(args)
    queue = default_queue()
    items: list[tuple[Path, int]] = []
    for path in _expand(args.paths):
        reg = submit_file(queue, path, options)
        if not reg.created and not args.json:
            print(f"{path}: {_known(reg.media_id)}", file=sys.stderr)
        items.append((path, reg.media_id))
    if args.wait:
        _wait([vid for _, vid in items], quiet=args.json)
    failed = 0
    with session_scope() as s:
        for path, vid in items:
            v = s.get(Video, vid)
            assert v is not None
            failed += v.status == "failed"
            if args.json:
                print(
                    json.dumps(
                        {
                            "id": v.id,
                            "path": str(path),
                            "status": v.status,
                            "frames": v.frames_extracted,
                            "regions": v.regions_count,
                            "tracks": v.tracks_count,
                            "skipped": v.frames_skipped,
                            "error": v.error,
                        }
                    )
                )
            else:
                print(_summary(path, v))
    return 1 if failed and args.wait else 0


def _known(media_id: int) -> str:
    """The state of an item whose content was ingested before, and how to retry it."""
    from dva_ocr.db.session import session_scope
    from dva_ocr.db.tables import Video
    from dva_ocr.media_admin import known_item_note

    with session_scope() as s:
        v = s.get(Video, media_id)
        return known_item_note(v) if v is not None else f"already ingested as media {media_id}"


def retry(args: argparse.Namespace) -> int:
    """Run failed or stuck media items again from the start (a running one is refused, with why)."""
    from dva_ocr.db.session import session_scope
    from dva_ocr.errors import DvaOcrError
    from dva_ocr.work.submit import retry_media
    from workers.queue import default_queue

    queue, refused = default_queue(), 0
    for media_id in args.ids:
        try:
            with session_scope() as s:
                retry_media(s, queue, media_id)
            print(f"media {media_id}: queued again from the start")
        except DvaOcrError as exc:
            print(f"media {media_id}: {exc}", file=sys.stderr)
            refused += 1
    return 1 if refused else 0


def _summary(path: Path, v: Video) -> str:
    if v.status == "failed":
        return f"media {v.id} {path}: FAILED: {v.error}"
    if v.status != "done":
        return f"media {v.id} {path}: {v.status} (queued; run with --wait to follow it)"
    took = (v.finished_at - v.started_at).total_seconds() if v.finished_at and v.started_at else float("nan")
    return (
        f"media {v.id} {path}: done: {v.frames_extracted} frames sampled, {v.frames_skipped} unchanged "
        f"(skipped), {v.frames_partial} read in changed bands only, {v.regions_count} regions, "
        f"{v.tracks_count} text tracks, {took:.1f} s"
    )


def _wait(video_ids: list[int], *, quiet: bool, poll: float = 0.5) -> None:
    from sqlalchemy import select

    from dva_ocr.db.session import session_scope
    from dva_ocr.db.tables import Video

    tty = sys.stderr.isatty()
    last_line, last_print = "", 0.0
    while True:
        with session_scope() as s:
            rows = s.execute(select(Video).where(Video.id.in_(video_ids))).scalars().all()
        done = sum(v.status in TERMINAL for v in rows)
        extracted = sum(v.frames_extracted for v in rows)
        ocrd = sum(v.frames_ocr + v.frames_skipped for v in rows)
        total = sum(v.frames_total or 0 for v in rows)
        line = (
            f"{done}/{len(rows)} media finished | frames extracted {extracted}/{total or '?'} "
            f"| frames read or skipped {ocrd}/{total or '?'}"
        )
        now = time.monotonic()
        if not quiet and line != last_line and (tty or now - last_print > 2 or done == len(rows)):
            print(
                ("\r" + line.ljust(100)) if tty else line,
                end="" if tty else "\n",
                file=sys.stderr,
                flush=True,
            )
            last_line, last_print = line, now
        if done == len(rows):
            if tty and not quiet:
                print(file=sys.stderr)
            return
        time.sleep(poll)


def search(args: argparse.Namespace) -> int:
    from dva_ocr.db.session import session_scope
    from dva_ocr.search import search as run_search

    with session_scope() as s:
        level = "regions" if args.frames else "tracks"
        hits = run_search(s, args.query, media_id=args.media, limit=args.limit, level=level)
    for note in hits.notes:
        print(f"note: {note}", file=sys.stderr)
    if args.json:
        for h in hits:
            print(json.dumps(h.to_json(), ensure_ascii=False))
        return 0
    if not hits:
        print("no matches", file=sys.stderr)
        return 0
    if hits[0].match != "fulltext":
        print(
            "no exact word matches; closest text (spaces ignored, OCR look-alikes, near spellings):",
            file=sys.stderr,
        )
    for h in hits:
        x, y, w, hh = h.box
        span = f"{h.time:7.2f}s" + (f"-{h.end:.2f}s" if h.end is not None else "")
        print(
            f"[{h.match}] media {h.media_id} {h.media_name} @ {span}  score {h.score:.3f}  "
            f"box [{x},{y} {w}x{hh}]  {h.text}"
        )
    return 0
