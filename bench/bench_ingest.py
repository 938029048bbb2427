"""Ingest rate of a 720p video through the real stack, as a multiple of real time, against plain
ffmpeg decoding of the same sampled frames, measured in the same run.

    python bench/bench_ingest.py --out build/bench/ingest.json [--seconds 60] [--fps 1]

Starts `./manage.py up` against a scratch database and Redis key prefix, then times
`./manage.py ingest VIDEO --wait` end to end (probe, decode, JPEG frames, OCR, rows, roll-up).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from mediagen import Caption, make_video  # noqa: E402
from stack import running_stack  # noqa: E402

from dva_ocr.db.migrate import drop_database, upgrade  # noqa: E402

LINES = [
    "Welcome to the quarterly results",
    "Revenue grew 14 percent",
    "Exit 14 next right",
    "Platform nine departures",
    "Invoice number 48213",
    "Coffee shop open late",
    "The best speed available on your line",
    "Thank you for watching",
]


def make_bench_video(path: Path, seconds: int) -> Path:
    caps = []
    t = 0.0
    i = 0
    while t < seconds:
        caps.append(Caption(LINES[i % len(LINES)], t, min(seconds, t + 3.5), y=120 + 90 * (i % 5), size=48))
        if i % 3 == 0:
            caps.append(Caption(f"Slide {i // 3 + 1}", t, min(seconds, t + 6), x=1000, y=40, size=32))
        t += 3.0
        i += 1
    return make_video(path, caps, duration=seconds, size="1280x720", rate=25)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def time_ffmpeg(path: Path, fps: float) -> float:
    t0 = time.perf_counter()
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-nostdin",
            "-i",
            str(path),
            "-vf",
            f"fps={fps}:round=up,format=rgb24",
            "-f",
            "null",
            "-",
        ],
        check=True,
    )
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--fps", type=float, default=1.0)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="dva-bench-"))
    video = make_bench_video(work / "bench720p.mp4", args.seconds)
    env = os.environ.copy()
    env.update(
        {
            "DATABASE_URL": "postgresql+psycopg://postgres:postgres@127.0.0.1:5432/dva_ocr_bench",
            "BROKER_PREFIX": f"dvabench{os.getpid()}",
            "MEDIA_ROOT": str(work / "media"),
        }
    )
    drop_database(env["DATABASE_URL"])
    upgrade(env["DATABASE_URL"])
    ffmpeg_s = time_ffmpeg(video, args.fps)
    with running_stack(work / "up.log", env=env):
        t0 = time.perf_counter()
        proc = subprocess.run(
            [
                sys.executable,
                str(ROOT / "manage.py"),
                "ingest",
                str(video),
                "--wait",
                "--json",
                "--fps",
                str(args.fps),
            ],
            capture_output=True,
            text=True,
            env=env,
            check=True,
        )
        ingest_s = time.perf_counter() - t0
    item = json.loads(proc.stdout.splitlines()[-1])
    drop_database(env["DATABASE_URL"])
    result = {
        "video": {"seconds": args.seconds, "size": "1280x720", "source_fps": 25, "sample_fps": args.fps},
        "frames": item["frames"],
        "regions": item["regions"],
        "status": item["status"],
        "ffmpeg_decode_s": round(ffmpeg_s, 3),
        "ffmpeg_x_realtime": round(args.seconds / ffmpeg_s, 2),
        "ingest_s": round(ingest_s, 3),
        "ingest_x_realtime": round(args.seconds / ingest_s, 2),
        "ingest_vs_ffmpeg": round(ffmpeg_s / ingest_s, 3),
        "ocr_frames_per_s": round(item["frames"] / ingest_s, 2),
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0 if item["status"] == "done" else 1


if __name__ == "__main__":
    sys.exit(main())
