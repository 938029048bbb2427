"""Each bundled model before and after `dva_ocr.ocr.folding`'s rewrites: nodes, time per run, difference.

    python bench/fold_speed.py [--threads 1] [--runs 5] [--out results.json]

Both graphs get onnxruntime's full optimisation (``ORT_ENABLE_ALL``) and read the same seeded random
input (detectors 1x3x736x1280, a 720p frame as the engine pads it; recognisers 1x3x48x640, a long line);
the two sessions take turns, ``--runs`` times each after a warm-up, and the median CPU time is reported.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import onnxruntime as ort  # noqa: E402

from dva_ocr.ocr.folding import folded_model, onnx_proto  # noqa: E402
from dva_ocr.ocr.spec import bundled_model  # noqa: E402

SHAPES = {"det": (1, 3, 736, 1280), "rec": (1, 3, 48, 640)}


def _session(model: str | bytes, threads: int) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3
    return ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])


def measure(path: Path, shape: tuple[int, ...], threads: int, runs: int) -> dict[str, Any]:
    data = folded_model(path)
    if data is None:
        return {"folded": False}
    pb = onnx_proto()
    nodes = len(pb.ModelProto.FromString(path.read_bytes()).graph.node)
    sessions = {"before": _session(str(path), threads), "after": _session(data, threads)}
    name = sessions["before"].get_inputs()[0].name
    x = np.random.default_rng(0).random(shape, dtype=np.float32) * 2 - 1
    outputs = {k: s.run(None, {name: x})[0] for k, s in sessions.items()}  # also the warm-up
    times: dict[str, list[float]] = {k: [] for k in sessions}
    for r in range(runs):
        for k in list(sessions)[:: 1 if r % 2 == 0 else -1]:
            t0 = time.process_time()
            sessions[k].run(None, {name: x})
            times[k].append(time.process_time() - t0)
    before, after = (statistics.median(times[k]) * 1000 for k in ("before", "after"))
    return {
        "input": list(shape),
        "nodes_in_file": nodes,
        "nodes_folded": len(pb.ModelProto.FromString(data).graph.node),
        "before_ms": round(before, 1),
        "after_ms": round(after, 1),
        "speedup": round(before / after, 2),
        "max_abs_diff": float(np.abs(outputs["after"] - outputs["before"]).max()),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    results: dict[str, Any] = {"onnxruntime": ort.__version__, "threads": args.threads, "models": {}}
    for model_name in ("ppocrv4", "ppocrv5"):
        model = bundled_model(model_name)
        for role in ("det", "rec"):
            res = measure(model.directory() / model.files[role], SHAPES[role], args.threads, args.runs)
            results["models"][f"{model_name} {role}"] = res
            print(f"{model_name} {role}: {res}", flush=True)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
