"""Model-free unit tests: CTC decoding, detection geometry and post-processing, runtime, image loading."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dva_ocr.ocr.crops import crop_quad
from dva_ocr.ocr.detection import geometry, order_clockwise, postprocess
from dva_ocr.ocr.engine import load_image
from dva_ocr.ocr.recognition import ctc_decode, target_width
from dva_ocr.ocr.runtime import Device, RuntimeUnavailableError, providers_for
from dva_ocr.ocr.spec import DetParams, RecParams, model_spec

CHARSET = ["", "a", "b", " "]  # blank, two letters, space (the PP-OCR layout)


def _probs(rows: list[list[float]]) -> np.ndarray:
    return np.asarray(rows, np.float32)


def test_ctc_collapses_repeats_and_drops_blanks():
    # time steps: blank a a blank b b blank a
    p = _probs(
        [
            [0.9, 0.05, 0.05, 0.0],
            [0.1, 0.8, 0.1, 0.0],
            [0.1, 0.6, 0.3, 0.0],
            [0.7, 0.1, 0.0, 0.2],
            [0.1, 0.1, 0.8, 0.0],
            [0.2, 0.0, 0.8, 0.0],
            [0.9, 0.0, 0.0, 0.1],
            [0.1, 0.9, 0.0, 0.0],
        ]
    )
    r = ctc_decode(p, CHARSET)
    assert r.text == "aba"
    assert r.char_positions == (1, 4, 7)
    assert r.char_confidences == pytest.approx((0.8, 0.8, 0.9))
    assert r.confidence == pytest.approx((0.8 + 0.8 + 0.9) / 3)
    assert r.space_probs == pytest.approx((0.2, 0.1))  # max P(space) strictly between characters
    assert r.steps == 8


def test_ctc_repeated_letter_needs_a_blank_and_padding_is_ignored():
    a, blank = [0.0, 1.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0]
    assert ctc_decode(_probs([a, blank, a, a]), CHARSET).text == "aa"
    assert ctc_decode(_probs([a, a, a]), CHARSET).text == "a"
    # steps: the columns past the crop's own width (padding) are not decoded
    assert ctc_decode(_probs([a, blank, [0, 0, 1.0, 0]]), CHARSET, steps=2).text == "a"


def test_ctc_empty_and_space():
    blank, sp, b = [1.0, 0, 0, 0], [0, 0, 0, 1.0], [0, 0, 1.0, 0]
    empty = ctc_decode(_probs([blank, blank]), CHARSET)
    assert (empty.text, empty.confidence, empty.char_positions) == ("", 0.0, ())
    assert ctc_decode(_probs([b, sp, b]), CHARSET).text == "b b"


def test_rec_width_keeps_aspect():
    p = RecParams()
    assert target_width(24, 240, p) == 480
    assert target_width(100, 10, p) == 5
    assert target_width(10, 10_000, p) == p.max_width


def test_order_clockwise_from_top_left():
    tl, tr, br, bl = [10, 20], [110, 22], [109, 52], [9, 50]
    rng = np.random.default_rng(0)
    for _ in range(10):
        pts = np.array([tl, tr, br, bl], np.float32)[rng.permutation(4)]
        assert order_clockwise(pts).tolist() == [tl, tr, br, bl]
    # a box tilted the other way
    pts = np.array([[50, 0], [100, 30], [80, 60], [30, 30]], np.float32)
    assert order_clockwise(pts[::-1]).tolist() == pts.tolist()


def test_det_geometry():
    p = DetParams()
    g = geometry(720, 1280, p)
    assert (g.h, g.w, g.pad_h, g.pad_w) == (720, 1280, 736, 1280)  # no upscaling, padded to 32
    g = geometry(3000, 4000, p)
    assert max(g.h, g.w) == p.max_side and g.pad_h % 32 == 0 and g.pad_w % 32 == 0
    g = geometry(20, 300, p)
    assert g.h == p.min_side  # thin strips are enlarged


def test_det_postprocess_boxes_in_source_pixels_and_reading_order():
    p = DetParams()
    src_h, src_w = 1440, 2560  # detected at half size
    g = geometry(src_h, src_w, p)
    prob = np.zeros((g.pad_h, g.pad_w), np.float32)
    prob[600:640, 200:700] = 0.9  # second line, left
    prob[600:640, 800:1200] = 0.9  # second line, right
    prob[100:150, 300:1500] = 0.9  # first line
    dets = postprocess(prob, g, p)
    assert len(dets) == 3
    lefts = [float(d.quad[0, 0]) for d in dets]
    tops = [float(d.quad[0, 1]) for d in dets]
    assert tops[0] < tops[1] and lefts[1] < lefts[2]  # top first, then left to right
    # the first box covers its blob, scaled back to source pixels, grown by the unclip margin only
    x0, y0 = dets[0].quad.min(axis=0) / [src_w / g.w, src_h / g.h]
    x1, y1 = dets[0].quad.max(axis=0) / [src_w / g.w, src_h / g.h]
    assert 300 - 50 < x0 <= 300 and 100 - 50 < y0 <= 100 and 1500 <= x1 < 1500 + 50 and 150 <= y1 < 150 + 50
    for d in dets:  # clockwise from top-left
        tl, tr, br, bl = d.quad
        assert tl[0] < tr[0] and bl[0] < br[0] and tl[1] < bl[1] and tr[1] < br[1]
        assert d.score > 0.8


def test_det_postprocess_ignores_weak_and_tiny_blobs():
    p = DetParams()
    g = geometry(736, 1280, p)
    prob = np.zeros((g.pad_h, g.pad_w), np.float32)
    prob[10:40, 10:300] = 0.35  # above the pixel threshold, below the box threshold
    prob[100:102, 100:102] = 0.99  # too small
    assert postprocess(prob, g, p) == []


def test_crop_rotates_tall_boxes():
    img = np.zeros((200, 200, 3), np.uint8)
    wide = crop_quad(img, np.array([[10, 10], [110, 10], [110, 40], [10, 40]], np.float32))
    assert wide.shape[:2] == (30, 100)
    tall = crop_quad(img, np.array([[10, 10], [40, 10], [40, 110], [10, 110]], np.float32))
    assert tall.shape[:2] == (30, 100)


def test_device_parsing_and_providers():
    assert str(Device.parse("cuda:1")) == "cuda:1" and Device.parse("CPU").kind == "cpu"
    for bad in ("gpu", "cuda:x", "cpu:0", ""):
        with pytest.raises(ValueError):
            Device.parse(bad)
    assert providers_for(Device("cpu"), ["CPUExecutionProvider"]) == ["CPUExecutionProvider"]
    with pytest.raises(RuntimeUnavailableError, match="CUDAExecutionProvider"):
        providers_for(Device("cuda"), ["CPUExecutionProvider"])
    got = providers_for(Device("cuda", 1), ["CUDAExecutionProvider", "CPUExecutionProvider"])
    assert got[0] == ("CUDAExecutionProvider", {"device_id": 1, "arena_extend_strategy": "kSameAsRequested"})


def test_model_spec_is_json_with_hashes():
    spec = model_spec(DetParams(), RecParams(), None).describe()
    assert spec["name"] == "ppocrv4"
    assert [f["role"] for f in spec["files"]] == ["det", "rec"]
    assert all(len(f["sha256"]) == 64 for f in spec["files"])
    assert json.loads(json.dumps(spec)) == spec


def test_load_image_inputs(tmp_path):
    rgb = np.zeros((40, 60, 3), np.uint8)
    rgb[..., 0] = 200
    assert np.array_equal(load_image(rgb), rgb)
    assert load_image(rgb[..., 0]).shape == (40, 60, 3)
    assert load_image(np.dstack([rgb, np.full((40, 60), 255, np.uint8)])).shape == (40, 60, 3)
    assert load_image(Image.fromarray(rgb).convert("L")).shape == (40, 60, 3)
    # EXIF orientation 6 (stored landscape, shown rotated 90 degrees): loaded as shown, RGB
    path = tmp_path / "rot.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(rgb).save(path, exif=exif)
    loaded = load_image(str(path))
    assert loaded.shape == (60, 40, 3) and loaded[..., 0].mean() > 150 and loaded[..., 2].mean() < 50


@pytest.mark.parametrize(
    "bad",
    [np.zeros((10, 10, 5), np.uint8), np.zeros((10, 10, 3), np.float32), np.zeros(10, np.uint8), 42, b"x"],
)
def test_load_image_rejects_bad_input(bad):
    with pytest.raises(ValueError, match="got"):
        load_image(bad)


def test_import_is_cheap():
    code = "import sys, dva_ocr.ocr; print('onnxruntime' in sys.modules, 'wordninja' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


@pytest.mark.parametrize(
    "modules",
    ["dva_ocr.ocr", "dva_ocr.ocr.spec", "dva_ocr.model_registry", "dva_ocr.ocr.spec, dva_ocr.model_registry"],
)
def test_spec_and_registry_imports_load_no_model_runtime(modules):
    # a fresh interpreter, so that what other tests imported does not count
    heavy = ("cv2", "onnxruntime", "shapely", "torch", "wordninja")
    code = f"import sys, {modules}; print(*[m for m in {heavy!r} if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == []
    # the lazy names still resolve, to the engine's own classes
    code = (
        "import dva_ocr.ocr as o, dva_ocr.ocr.engine as e; "
        "print(o.OcrEngine is e.OcrEngine, 'LineReading' in dir(o))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "True"]


class _StubSession:
    """A ``Session`` without onnxruntime: fixed outputs shaped like the real models'."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.input_name = "x"
        self.metadata = {"character": "a\nb"} if kind == "rec" else {}

    def run(self, inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
        x = inputs["x"]
        n, _, h, w = x.shape
        if self.kind == "det":
            prob = np.zeros((n, 1, h, w), np.float32)
            prob[:, 0, 100:130, 100:400] = 0.9
            return [prob]
        steps = w // 8
        probs = np.zeros((n, steps, 4), np.float32)
        probs[:, :, 0] = 1.0
        probs[:, 1, :] = [0, 1, 0, 0]  # "a" at step 1
        probs[:, 3, :] = [0.3, 0, 0.7, 0]  # "b" at step 3
        probs[:, 5, :] = [0, 1, 0, 0]  # "a" at step 5 (three letters: not a short junk line)
        return [probs]


def test_engine_runs_on_stub_sessions():
    from dva_ocr.ocr import OcrEngine
    from dva_ocr.ocr.runtime import Session

    def factory(path):
        return _StubSession("det" if "det" in path.name else "rec")

    assert isinstance(_StubSession("det"), Session)
    engine = OcrEngine(session_factory=factory)
    img = np.zeros((360, 640, 3), np.uint8)
    img[100:130, 100:400] = 255
    [region] = engine(img)
    assert (region.raw_text, region.text) == ("aba", "aba")
    assert region.confidence == pytest.approx(0.9) and region.char_confidences == (1.0, 0.7, 1.0)
    assert region.to_json()["polygon"][0][0] < 100 < region.to_json()["polygon"][1][0]


def test_read_lines_on_stub_sessions():
    """Whole images read as one line each by the recogniser alone: no detection, no min_confidence."""
    from dva_ocr.ocr import LineReader, LineReading, OcrEngine

    calls = []

    class CountingStub(_StubSession):
        def run(self, inputs):
            calls.append((self.kind, inputs["x"].shape))
            return super().run(inputs)

    engine = OcrEngine(
        session_factory=lambda path: CountingStub("det" if "det" in path.name else "rec"), min_confidence=0.9
    )
    line = np.full((32, 200, 3), 255, np.uint8)
    got = engine.read_lines([line, np.zeros((0, 0, 3), np.uint8), Image.fromarray(line), line[..., 0]])
    assert got[1] == LineReading("", "", 0.0)  # no pixels: an empty reading, the rest still read
    for r in (got[0], got[2], got[3]):  # array, PIL image, greyscale array alike
        assert (r.text, r.raw_text, r.confidence, r.char_confidences) == ("aba", "aba", 0.9, (1.0, 0.7, 1.0))
    assert {kind for kind, _ in calls} == {"rec"}  # the detector never ran
    assert engine.read_lines([]) == []
    with pytest.raises(ValueError, match="float"):
        engine.read_lines([line, line.astype(np.float32)])
    # the engine's detected crops go through the same reader it exposes
    assert isinstance(engine.lines, LineReader) and engine.lines.recognizer is engine.recognizer
    # a reader over any Session reads the same way (training validation builds one on a PyTorch model)
    reader = LineReader.from_session(_StubSession("rec"), RecParams(), word_spacing=False)
    assert reader.classifier is None and not reader.word_spacing
    assert [r.text for r in reader.read_bgr([line, line[:0]])] == ["aba", ""]
    assert reader.recognise([]) == []


def test_short_latin_lines_need_a_confident_reading_numbers_and_cjk_do_not():
    from dva_ocr.ocr.engine import short_junk

    assert short_junk("ll", 0.9) and short_junk("I", 0.8) and short_junk("a.", 0.94)
    assert not short_junk("ll", 0.97)  # read confidently
    assert not short_junk("4", 0.71) and not short_junk("12", 0.8)  # a number on a sign
    assert not short_junk("東", 0.8) and not short_junk("Exit", 0.71)  # CJK, and longer words


def test_unclip_geometry_matches_shapely_without_importing_it():
    """The detector's unclip distance uses area / perimeter of the box: computed with numpy (the OCR
    path no longer imports shapely), equal to shapely's on random quads, self-intersecting ones too."""
    import numpy as np
    from shapely.geometry import Polygon

    from dva_ocr.ocr.detection import _area_and_perimeter

    rng = np.random.default_rng(7)
    for _ in range(500):
        box = (rng.random((4, 2)) * 800).astype(np.float32)
        area, length = _area_and_perimeter(box)
        poly = Polygon(box)
        assert area == pytest.approx(poly.area, rel=1e-9, abs=1e-9)
        assert length == pytest.approx(poly.length, rel=1e-9)


def test_the_ocr_command_imports_no_database_broker_web_or_training_code(tmp_path):
    """`./manage.py ocr IMAGE` with a bundled model: start-up time is import time (issue 13)."""
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (320, 96), "white")
    ImageDraw.Draw(img).text((16, 40), "Harbour 42", fill="black")
    img.save(tmp_path / "one.png")
    heavy = (
        "sqlalchemy", "psycopg", "redis", "celery", "kombu", "fastapi", "starlette", "alembic",
        "prometheus_client", "torch", "shapely", "rapidocr_onnxruntime", "yaml",
    )  # fmt: skip
    code = (
        "import sys, io, contextlib; from dva_cli.main import main\n"
        "with contextlib.redirect_stdout(io.StringIO()) as out:\n"
        f"    rc = main(['ocr', {str(tmp_path / 'one.png')!r}, '--json'])\n"
        f"print(rc, 'Harbour' in out.getvalue(), *[m for m in {heavy!r} if m in sys.modules])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert out.stdout.split() == ["0", "True"], out.stdout


@pytest.mark.integration
def test_optimised_models_are_cached_on_disk_and_give_the_same_outputs(tmp_path, monkeypatch):
    from dva_ocr.ocr.runtime import OrtSession
    from dva_ocr.ocr.spec import V4
    from dva_ocr.settings import get_settings

    model = V4.directory() / V4.files["rec"]
    x = np.random.default_rng(3).random((1, 3, 48, 160)).astype(np.float32)
    monkeypatch.setenv("MODEL_CACHE_DIR", str(tmp_path / "cache"))
    get_settings.cache_clear()
    try:
        first = OrtSession(model)
        assert not first.optimised_from_cache
        (written,) = (tmp_path / "cache").iterdir()
        assert written.name.startswith(model.stem) and written.suffix == ".onnx"
        second = OrtSession(model)
        assert second.optimised_from_cache
        assert second.metadata == first.metadata  # the recogniser's dictionary travels with it
        np.testing.assert_array_equal(
            second.run({second.input_name: x})[0], first.run({first.input_name: x})[0]
        )
        # a folder that cannot be written: no cache, the session still works
        (tmp_path / "ro").write_text("a file, not a folder")
        monkeypatch.setenv("MODEL_CACHE_DIR", str(tmp_path / "ro" / "cache"))
        get_settings.cache_clear()
        plain = OrtSession(model)
        assert not plain.optimised_from_cache and plain.run({plain.input_name: x})[0].shape == (1, 20, 6625)
        monkeypatch.setenv("MODEL_CACHE_DIR", "")  # off
        get_settings.cache_clear()
        assert get_settings().model_cache_dir is None and not OrtSession(model).optimised_from_cache
    finally:
        get_settings.cache_clear()
