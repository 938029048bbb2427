"""Video-aware OCR against reading every sampled frame with RapidOCR, on a generated 720p lecture (slides
changing every 20-40 s, subtitles every 2-3 s, an 18 px clock changing every second: tests/videogen.lecture),
both measured in the same run.

    python bench/bench_video.py --out build/bench/video.json [--minutes 5] [--fps 1] [--in-process]

Ours, end to end: the real stack (`./manage.py up` on a scratch database and Redis key prefix), timed as
`./manage.py ingest VIDEO --fps F --wait`: probe, sampling, change detection (unchanged frames skipped,
changed row bands read alone), OCR, text tracks, roll-up. ``--in-process`` calls the same stages in this
process instead (no Celery; quicker to set up).

Baseline: the same frames from the same sampler (``dva_ocr.media.frames.sample_frames``, fixed policy at
the same fps), each read whole by RapidOCR's own API (``RapidOCR()(bgr_image)``), timed end to end too
(decoding + OCR). It runs after the stack has stopped, so the two never share the CPU; RapidOCR's models
are loaded and warmed up on one frame before timing, as the workers load theirs at start.

Word recall against the truth (all truth words: each slide line and subtitle once; case-insensitive, edge
punctuation stripped, as a multiset): ``word_recall`` counts a line's words as found when they are among
the texts on screen during that line (our tracks overlapping its span; the baseline's readings of the
frames inside it); ``word_recall_any_time`` among all the texts of the video.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import videogen  # noqa: E402
from textgen import word_recall  # noqa: E402


def _env(work: Path) -> dict[str, str]:
    env = os.environ.copy()
    env.update(
        {
            "DATABASE_URL": "postgresql+psycopg://postgres:postgres@127.0.0.1:5432/dva_ocr_bench_video",
            "BROKER_PREFIX": f"dvabenchvideo{os.getpid()}",
            "MEDIA_ROOT": str(work / "media"),
        }
    )
    return env


def _own_cpu() -> float:
    """CPU seconds of this process (all its threads) and of its children that have ended (ffmpeg)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def _tree_cpu(root: int) -> float:
    """CPU seconds of ``root`` and all its descendants, from /proc (ended children count in their
    parent's once reaped): the stack's web app, workers and their pool processes and ffmpeg runs."""
    tick = os.sysconf("SC_CLK_TCK")
    procs: dict[int, tuple[int, int]] = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()  # from field 3 (state) on
        procs[int(d.name)] = (int(fields[1]), sum(int(x) for x in fields[11:15]))  # ppid; u/s/cu/cs time
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in procs.items():
        children.setdefault(ppid, []).append(pid)
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += procs.get(pid, (0, 0))[1]
        todo += children.get(pid, [])
    return total / tick


def run_ours_stack(video: Path, fps: float, work: Path) -> tuple[int, float, float]:
    """(media id, seconds, CPU seconds) of `manage.py ingest --wait` against a running `manage.py up`."""
    from stack import running_stack

    with running_stack(work / "up.log", env=os.environ.copy()):
        (stack_pid,) = [pid for pid, _ in _children_of(os.getpid())]
        cpu0, own0 = _tree_cpu(stack_pid), _own_cpu()
        t0 = time.perf_counter()
        cmd = [sys.executable, str(ROOT / "manage.py"), "ingest", str(video), "--fps", str(fps), "--wait"]
        proc = subprocess.run([*cmd, "--json"], capture_output=True, text=True, check=True)
        seconds = time.perf_counter() - t0
        cpu = _tree_cpu(stack_pid) - cpu0 + _own_cpu() - own0  # the stack, and the ingest command
    item = json.loads(proc.stdout.splitlines()[-1])
    if item["status"] != "done":
        raise RuntimeError(f"ingest ended {item['status']}: {item.get('error')}")
    return int(item["id"]), seconds, cpu


def _children_of(parent: int) -> list[tuple[int, int]]:
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
            except OSError:
                continue
            ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
            if ppid == parent:
                out.append((int(d.name), ppid))
    return out


def run_ours_in_process(video: Path, fps: float) -> tuple[int, float, float]:
    """(media id, seconds, CPU seconds) of the pipeline stages called in this process, one OcrEngine."""
    from dva_ocr.db.session import session_scope
    from dva_ocr.ocr import OcrEngine
    from dva_ocr.pipeline import IngestOptions, register_media
    from dva_ocr.work import EXTRACT
    from dva_ocr.work.inline import InlineQueue

    engine = OcrEngine()
    engine.batch([videogen.read_frame(video, 0.0)])  # warm-up, as a worker's first task would be
    cpu0 = _own_cpu()
    t0 = time.perf_counter()
    with session_scope() as s:
        vid = register_media(s, video, IngestOptions(fps=fps)).media_id
    InlineQueue(lambda _model: engine).send(EXTRACT, vid)  # every stage, in this process
    return vid, time.perf_counter() - t0, _own_cpu() - cpu0


def ours_results(vid: int) -> tuple[dict, list[tuple[float, float, str]]]:
    from dva_ocr.db.session import session_scope
    from dva_ocr.db.tables import Video
    from dva_ocr.media_admin import tracks_of

    with session_scope() as s:
        v = s.get(Video, vid)
        counts = {
            "status": v.status,
            "frames": v.frames_total,
            "frames_read_full": v.frames_ocr - v.frames_partial,
            "frames_partial": v.frames_partial,
            "frames_skipped": v.frames_skipped,
            "regions": v.regions_count,
            "tracks": v.tracks_count,
        }
        tracks = [(t.start_s, t.end_s, t.text) for t in tracks_of(s, vid)]
    return counts, tracks


def run_rapidocr(video: Path, fps: float) -> tuple[dict, list[tuple[float, list[str]]]]:
    """Every sampled frame read whole by RapidOCR: (figures, [(frame time, texts)])."""
    import cv2
    from rapidocr_onnxruntime import RapidOCR

    from dva_ocr.media.frames import Sampling, sample_frames
    from dva_ocr.media.probe import probe

    rapid = RapidOCR()
    rapid(cv2.cvtColor(videogen.read_frame(video, 0.0), cv2.COLOR_RGB2BGR))  # warm-up
    readings: list[tuple[float, list[str]]] = []
    ocr_s = 0.0
    regions = 0
    cpu0 = _own_cpu()
    t0 = time.perf_counter()
    info = probe(video)
    for frame in sample_frames(video, info, Sampling("fixed", fps)):
        bgr = cv2.cvtColor(frame.image, cv2.COLOR_RGB2BGR)
        t1 = time.perf_counter()
        result = rapid(bgr)[0] or []
        ocr_s += time.perf_counter() - t1
        readings.append((frame.time_s, [line[1] for line in result]))
        regions += len(result)
    seconds = time.perf_counter() - t0
    figures = {"frames": len(readings), "seconds": round(seconds, 2), "ocr_seconds": round(ocr_s, 2)}
    figures["cpu_seconds"] = round(_own_cpu() - cpu0, 2)
    figures["regions"] = regions
    return figures, readings


def _recall(pairs: Iterable[tuple[list[str], list[str]]]) -> float:
    matched = total = 0
    for truth, found in pairs:
        m, n = word_recall(truth, found)
        matched += m
        total += n
    return round(matched / total, 4) if total else 1.0


def recalls(
    truths: list[videogen.Shown], texts_during, all_texts: list[str]
) -> dict[str, float | dict[str, float]]:
    by_kind = {}
    for kind in sorted({s.kind for s in truths}):
        by_kind[kind] = _recall(([s.text], texts_during(s)) for s in truths if s.kind == kind)
    return {
        "word_recall": _recall(([s.text], texts_during(s)) for s in truths),
        "word_recall_by_kind": by_kind,
        "word_recall_any_time": _recall([([s.text for s in truths], all_texts)]),
    }


def machine() -> dict[str, object]:
    import onnxruntime

    try:
        from importlib.metadata import version

        rapid = version("rapidocr_onnxruntime")
    except Exception:  # pragma: no cover - only for the record
        rapid = None
    return {
        "cpu_count": os.cpu_count(),
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "python": platform.python_version(),
        "onnxruntime": onnxruntime.__version__,
        "rapidocr_onnxruntime": rapid,
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True, help="JSON results file")
    ap.add_argument("--minutes", type=float, default=5.0, help="length of the generated lecture")
    ap.add_argument("--fps", type=float, default=1.0, help="frames sampled per second, both sides")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--in-process", action="store_true", help="run our stages in this process, no stack")
    args = ap.parse_args(argv)

    load_at_start = [round(x, 2) for x in os.getloadavg()]
    work = Path(tempfile.mkdtemp(prefix="dva-bench-video-"))
    os.environ.update(_env(work))  # before dva_ocr reads its settings: the scratch database and media root
    from dva_ocr.db.migrate import drop_database, upgrade

    t0 = time.perf_counter()
    video = work / "lecture.mp4"
    truths = videogen.lecture(video, args.minutes, seed=args.seed, timecode=True)
    generate_s = time.perf_counter() - t0

    url = os.environ["DATABASE_URL"]
    drop_database(url)
    upgrade(url)
    try:
        if args.in_process:
            vid, ours_s, ours_cpu = run_ours_in_process(video, args.fps)
        else:
            vid, ours_s, ours_cpu = run_ours_stack(video, args.fps, work)
        counts, tracks = ours_results(vid)
    finally:
        from dva_ocr.db.session import get_engine

        get_engine().dispose()
    base, readings = run_rapidocr(video, args.fps)
    drop_database(url)

    def ours_during(s: videogen.Shown) -> list[str]:
        return [text for start, end, text in tracks if start < s.end and end > s.start]

    def base_during(s: videogen.Shown) -> list[str]:
        return [text for t, texts in readings if s.start <= t < s.end for text in texts]

    ours = {
        "how": "in-process stages" if args.in_process else "manage.py up + manage.py ingest --wait",
        **counts,
        "seconds": round(ours_s, 2),
        "cpu_seconds": round(ours_cpu, 2),
        "frames_per_s": round(counts["frames"] / ours_s, 3),
        "frames_per_cpu_s": round(counts["frames"] / ours_cpu, 3),
        **recalls(truths, ours_during, [text for _, _, text in tracks]),
    }
    base.update(
        how="RapidOCR()(bgr) on every frame of dva_ocr's sampler",
        frames_per_s=round(base["frames"] / base["seconds"], 3),
        frames_per_cpu_s=round(base["frames"] / base["cpu_seconds"], 3),
        **recalls(truths, base_during, [text for _, texts in readings for text in texts]),
    )
    if base["frames"] != ours["frames"]:
        raise RuntimeError(f"frame counts differ: ours {ours['frames']}, baseline {base['frames']}")
    out = {
        "video": {
            "generator": "tests/videogen.lecture",
            "minutes": args.minutes,
            "seed": args.seed,
            "size": f"{videogen.WIDTH}x{videogen.HEIGHT}",
            "source_fps": 10,
            "sample_fps": args.fps,
            "truth_lines": len(truths),
            "truth_words": sum(len(s.text.split()) for s in truths),
            "generate_s": round(generate_s, 2),
        },
        "ours": ours,
        "rapidocr_every_frame": base,
        "ratio_frames_per_s": round(ours["frames_per_s"] / base["frames_per_s"], 2),
        # the box is shared and noisy: CPU time is the steadier measure of the work each side does
        "ratio_frames_per_cpu_s": round(ours["frames_per_cpu_s"] / base["frames_per_cpu_s"], 2),
        "recall_difference": round(ours["word_recall"] - base["word_recall"], 4),
        **machine(),
        "load_average_at_start": load_at_start,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))
    return 0 if counts["status"] == "done" else 1


if __name__ == "__main__":
    sys.exit(main())
