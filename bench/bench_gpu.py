"""720p sampled frames per second, detection + recognition batched, on a GPU against this machine's CPU
path in the same run, and what an hour of video sampled at 1 fps would take.

    python bench/bench_gpu.py --out build/bench/gpu.json [--frames 96] [--device cuda:0]

The frames are generated scenes (tests/textgen.scene_image: 1280x720, signs, labels, mixed sizes). The
CPU path is the qocr default (exact sizes; one process using every core here); the GPU path is what
``worker --gpu N`` runs (``shapes="auto"``: the shape buckets of ``spec.shape_buckets``), warmed up on
every bucket first, as a worker's first tasks would. Without a CUDA build of onnxruntime (the project
pins the CPU one; a GPU host installs ``onnxruntime-gpu``, as the Dockerfile's ``gpu`` target does) the
GPU side is reported as not run, with the reason, and the CPU figures alone are written.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import textgen  # noqa: E402

from dva_ocr.ocr import OcrEngine  # noqa: E402
from dva_ocr.ocr.runtime import RuntimeUnavailableError  # noqa: E402


def timed(engine: OcrEngine, frames: list[Any], chunk: int, rounds: int = 2) -> dict[str, float]:
    engine.batch(frames[:chunk])  # warm-up: sessions, arenas, the GPU's kernels for each shape
    best = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        for start in range(0, len(frames), chunk):
            engine.batch(frames[start : start + chunk])
        best = min(best, time.perf_counter() - t0)
    fps = len(frames) / best
    return {"seconds": round(best, 3), "frames_per_s": round(fps, 2), "hour_at_1fps_s": round(3600 / fps, 1)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--frames", type=int, default=96)
    ap.add_argument("--device", default="cuda:0")
    ap.add_argument("--chunk", type=int, default=32, help="frames per engine call on the GPU (a qocr task)")
    args = ap.parse_args(argv)
    frames = [textgen.scene_image(i)[0] for i in range(args.frames)]
    out: dict[str, Any] = {"frames": args.frames, "size": "1280x720", "cpu_count": os.cpu_count()}
    out["cpu"] = timed(OcrEngine(), frames, chunk=8)
    try:
        gpu = OcrEngine(device=args.device)
    except RuntimeUnavailableError as exc:
        out["gpu"] = {"run": False, "reason": str(exc)}
    else:
        out["gpu"] = {"run": True, "device": args.device} | timed(gpu, frames, chunk=args.chunk)
        out["gpu_over_cpu"] = round(out["gpu"]["frames_per_s"] / out["cpu"]["frames_per_s"], 2)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
