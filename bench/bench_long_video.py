"""A long video through the real workers: wall time, frames/s and the peak memory of each worker.

    python bench/bench_long_video.py --out build/bench/long_video.json                 # 10 h, 64x64, 1 fps
    python bench/bench_long_video.py --out build/bench/scaling.json --scaling           # 20 min, 640x360
    python bench/bench_long_video.py --out X.json --hours 1 --extract-procs 1 2         # any mix

(bench/bench_scaling.py runs the same workers over the scaling video and a folder of images, with 1
and 2 qextract and qocr processes.)

Generates the video with ffmpeg (lavfi: a dark picture whose number changes every 10 minutes, or with
``--scaling`` a 640x360 one whose caption changes every 5 s), starts one worker per queue on a scratch
database and Redis key prefix (`manage.py worker`, as `make up` does; the qextract worker with
``--concurrency N`` for each N of ``--extract-procs``), and times `./manage.py ingest VIDEO --wait`:
probe, segments (EXTRACT_SEGMENT_S, default 300 s: a 10-hour video is 120 of them, each its own
qextract task), frames written 1,000 rows per statement, OCR of the frames that changed, tracks,
roll-up. Each worker's process tree (main process and pool) is sampled every 0.5 s for its resident
memory: ``peak_rss_mib`` is the tree's largest sum, ``peak_process_rss_mib`` its largest process.
``extracted_s``: when the last segment ended (frames decoded and written; OCR may still run).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from bench_search import bench_database_url  # noqa: E402
from mediagen import make_counter_video  # noqa: E402

from dva_ocr.db.migrate import drop_database, upgrade  # noqa: E402

QUEUES = ("qextract", "qocr", "qdefault")


def _tree(pid: int) -> list[int]:
    out = [pid]
    try:
        for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
            out += _tree(int(child))
    except OSError:
        pass
    return out


def _rss_kib(pid: int, field: str = "VmRSS") -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


class MemoryWatch:
    """Samples each worker's process tree every ``every`` seconds (resident memory, KiB)."""

    def __init__(self, pids: dict[str, int], every: float = 0.5) -> None:
        self.pids, self.every = pids, every
        self.tree_peak = dict.fromkeys(pids, 0)
        self.process_peak = dict.fromkeys(pids, 0)
        self.processes = dict.fromkeys(pids, 0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        for name, pid in self.pids.items():
            tree = _tree(pid)
            rss = [max(_rss_kib(p), _rss_kib(p, "VmHWM")) for p in tree]
            self.tree_peak[name] = max(self.tree_peak[name], sum(_rss_kib(p) for p in tree))
            self.process_peak[name] = max(self.process_peak[name], *rss)
            self.processes[name] = max(self.processes[name], len(tree))

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self._sample()

    def __enter__(self) -> MemoryWatch:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._sample()
        self._stop.set()
        self._thread.join()

    def report(self) -> dict[str, dict[str, float | int]]:
        return {
            name: {
                "peak_rss_mib": round(self.tree_peak[name] / 1024, 1),
                "peak_process_rss_mib": round(self.process_peak[name] / 1024, 1),
                "processes": self.processes[name],
            }
            for name in self.pids
        }


@contextmanager
def workers(
    env: dict[str, str], work: Path, extract_procs: int, ocr_procs: int | None = None
) -> Iterator[dict[str, int]]:
    """One worker per queue (qextract with ``extract_procs`` processes, qocr with ``ocr_procs``: by
    default one per core, as `manage.py worker` starts it); yields their main pids."""
    procs: dict[str, subprocess.Popen[bytes]] = {}
    concurrency = {"qextract": extract_procs, "qocr": ocr_procs}
    try:
        for q in QUEUES:
            cmd = [sys.executable, str(ROOT / "manage.py"), "worker", "--queue", q]
            if concurrency.get(q):
                cmd += ["--concurrency", str(concurrency[q])]
            log = (work / f"{q}.log").open("wb")
            procs[q] = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, env=env)
        deadline = time.monotonic() + 180
        while not all(" ready." in (work / f"{q}.log").read_text(errors="replace") for q in QUEUES):
            dead = [q for q, p in procs.items() if p.poll() is not None]
            if dead or time.monotonic() > deadline:
                raise RuntimeError(f"worker {dead or QUEUES} did not start; see {work}")
            time.sleep(0.3)
        yield {q: p.pid for q, p in procs.items()}
    finally:
        for p in procs.values():
            p.terminate()
        for p in procs.values():
            try:
                p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                p.kill()


def _extracted_at(
    env: dict[str, str], t0: float, items: int, stop: threading.Event, out: dict[str, float]
) -> None:
    """When every item's extraction ended (a long video's: every segment done), polled from the rows."""
    import psycopg

    url = env["DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url, autocommit=True) as conn:
        while not stop.wait(0.5):
            row = conn.execute("SELECT count(*) FROM videos WHERE extracted").fetchone()
            if row and row[0] >= items:
                out["extracted_s"] = round(time.perf_counter() - t0, 2)
                return


def scratch_env(work: Path, tag: str, **settings: str) -> dict[str, str]:
    """The environment of one run: a fresh bench database (migrated), its own Redis keys and media
    root, no periodic sweep; ``settings`` on top (EXTRACT_SEGMENT_S=..., OCR_BATCH_FRAMES=...)."""
    env = os.environ.copy() | {
        "DATABASE_URL": bench_database_url("dva_bench_long_video"),
        "BROKER_PREFIX": f"dvabenchlong{os.getpid()}",
        "MEDIA_ROOT": str(work / f"media-{tag}"),
        "SWEEP_INTERVAL_S": "0",
    }
    env |= settings
    shutil.rmtree(env["MEDIA_ROOT"], ignore_errors=True)  # a run of the same tag before: its files go
    drop_database(env["DATABASE_URL"])
    upgrade(env["DATABASE_URL"])
    subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "migrate"], env=env, check=True, capture_output=True
    )
    return env


def timed_ingest(
    env: dict[str, str],
    work: Path,
    targets: list[Path],
    items: int,
    extract_procs: int,
    ocr_procs: int | None,
) -> dict[str, object]:
    """Start the workers and time `./manage.py ingest TARGETS --wait --json --fps 1` (``items``: how
    many media items that is): wall and extraction time, each item's JSON line, each worker's memory.
    The scratch database is dropped afterwards."""
    with ExitStack() as stack:
        pids = stack.enter_context(workers(env, work, extract_procs, ocr_procs))
        watch = stack.enter_context(MemoryWatch(pids))
        marks: dict[str, float] = {}
        stop = threading.Event()
        t0 = time.perf_counter()
        poll = threading.Thread(target=_extracted_at, args=(env, t0, items, stop, marks), daemon=True)
        poll.start()
        cmd = [sys.executable, str(ROOT / "manage.py"), "ingest", *map(str, targets), "--wait", "--json"]
        # a run that never ends is a bug to see, not to wait for
        proc = subprocess.run([*cmd, "--fps", "1"], capture_output=True, text=True, env=env, timeout=3600)
        wall = time.perf_counter() - t0
        stop.set()
        poll.join()
    if proc.returncode != 0:
        raise RuntimeError(f"ingest failed ({proc.returncode}): {proc.stderr[-2000:]}")
    drop_database(env["DATABASE_URL"])
    return {
        "wall_s": round(wall, 2),
        "extracted_s": marks.get("extracted_s"),
        "items": [json.loads(line) for line in proc.stdout.splitlines() if line.strip()],
        "workers": watch.report(),
    }


def run(video: Path, seconds: int, extract_procs: int, work: Path, segment_s: float) -> dict[str, object]:
    env = scratch_env(work, str(extract_procs), EXTRACT_SEGMENT_S=str(segment_s))
    timed = timed_ingest(env, work, [video], 1, extract_procs, None)
    item, wall = timed["items"][-1], float(timed["wall_s"])  # type: ignore[index]
    frames = int(item["frames"] or 0)
    return {
        "extract_procs": extract_procs,
        "status": item["status"],
        "error": item["error"],
        "frames": frames,
        "regions": item["regions"],
        "segments": max(1, -(-seconds // int(segment_s))) if seconds > segment_s else 1,
        "wall_s": timed["wall_s"],
        "extracted_s": timed["extracted_s"],
        "frames_per_s": round(frames / wall, 1),
        "video_s_per_s": round(seconds / wall, 1),
        "workers": timed["workers"],
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--hours", type=float, default=10.0)
    ap.add_argument("--size", default="64x64")
    ap.add_argument("--extract-procs", type=int, nargs="+", default=[1])
    ap.add_argument("--segment-s", type=float, default=300.0)
    ap.add_argument("--scaling", action="store_true", help="20 min at 640x360, 1 and 2 qextract processes")
    args = ap.parse_args()
    if args.scaling:
        args.hours, args.size, args.extract_procs = 20 / 60, "640x360", [1, 2]
    seconds = round(args.hours * 3600)
    work = Path(tempfile.mkdtemp(prefix="dva-bench-long-"))
    t0 = time.perf_counter()
    change = 600 if args.size == "64x64" else 5
    video = make_counter_video(work / "long.mp4", seconds=seconds, size=args.size, change_s=change)
    generated = time.perf_counter() - t0
    runs = [run(video, seconds, n, work, args.segment_s) for n in args.extract_procs]
    load = os.getloadavg()
    result = {
        "video": {"seconds": seconds, "size": args.size, "sample_fps": 1, "bytes": video.stat().st_size},
        "generate_s": round(generated, 2),
        "extract_segment_s": args.segment_s,
        "runs": runs,
        "cpu_count": os.cpu_count(),
        "load_average_after": [round(x, 2) for x in load],
        "machine": platform.machine(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0 if all(r["status"] == "done" for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
