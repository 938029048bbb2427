"""The GPU's shape buckets (``spec.shape_buckets``), run on this CPU with the same shapes a GPU gets:
detection inputs padded to multiples of 128 and batched, recognition widths to multiples of 128. The
readings must be the CPU's exact-size ones (up to a character where padding moves a CTC step), and the
inputs few and bucketed. The CUDA provider itself is measured by ``make bench-gpu`` on a GPU host.
"""

from __future__ import annotations

import pytest
import textgen

from dva_ocr.ocr import OcrEngine
from dva_ocr.ocr.runtime import RuntimeUnavailableError
from dva_ocr.ocr.spec import GPU_PAD
from dva_ocr.tracks import agree

pytestmark = pytest.mark.integration  # loads the OCR models


def images():
    scenes = [textgen.scene_image(i)[0] for i in range(6)] + [
        textgen.distractor_scene(1000 + i)[0] for i in range(4)
    ]
    return scenes + [im[: 500 + 17 * i, : 900 + 13 * i] for i, im in enumerate(scenes[:4])]  # odd sizes


def read_recording_shapes(engine):
    shapes: dict[str, list[tuple[int, ...]]] = {"det": [], "rec": []}
    for role, session in (("det", engine.detector.session), ("rec", engine.recognizer.session)):
        run = session.run

        def recording(inputs, run=run, seen=shapes[role]):
            seen.append(next(iter(inputs.values())).shape)
            return run(inputs)

        session.run = recording
    return [[r.text for r in regions] for regions in engine.batch(images())], shapes


def test_shape_buckets_read_what_exact_sizes_read_with_few_shapes():
    exact, exact_shapes = read_recording_shapes(OcrEngine(threads=1, shapes="exact"))
    bucketed, shapes = read_recording_shapes(OcrEngine(threads=1, shapes="buckets"))
    assert all(h % GPU_PAD == 0 and w % GPU_PAD == 0 for _, _, h, w in shapes["det"]), shapes["det"]
    assert all(w % GPU_PAD == 0 for *_, w in shapes["rec"]), shapes["rec"]
    for role in ("det", "rec"):
        assert len({s[1:] for s in shapes[role]}) < len({s[1:] for s in exact_shapes[role]}), role
    assert max(s[0] for s in shapes["det"]) > 1 and max(s[0] for s in shapes["rec"]) > 6  # real batches
    assert sum(len(t) for t in bucketed) == sum(len(t) for t in exact)
    for a, b in zip(exact, bucketed, strict=True):
        for x, y in zip(sorted(a), sorted(b), strict=True):
            assert x == y or agree(x, y) > 0.85, (x, y)


def test_auto_buckets_only_a_gpu_and_cuda_without_its_provider_fails_loudly():
    assert not OcrEngine(threads=1).shape_buckets
    assert OcrEngine(threads=1, shapes="buckets").shape_buckets
    with pytest.raises(ValueError, match="shapes must be"):
        OcrEngine(shapes="fast")
    with pytest.raises(RuntimeUnavailableError, match="CUDAExecutionProvider"):
        OcrEngine(device="cuda:0")  # the pinned onnxruntime is the CPU build
