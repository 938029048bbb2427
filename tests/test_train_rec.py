"""train-rec / export-rec: a real (short) training run, Ctrl-C and resume, ONNX export, OpenCV parity.

One module-scoped run trains a digits-only CRNN through the command line: it is interrupted with SIGINT
part-way (the checkpoint it leaves must resume), then resumed to the step budget. The exported model
must read clean digit lines that this file renders itself (not the trainer's generator) through the
project's ``TextRecognizer``, and give the same probabilities in onnxruntime and OpenCV DNN.
"""

from __future__ import annotations

import json
import math
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort
import pytest
import torch
from PIL import Image, ImageDraw, ImageFont
from runcli import ROOT, run_cli

from dva_ocr.ocr.detection import normalise_into
from dva_ocr.ocr.distance import edit_distance
from dva_ocr.ocr.recognition import TextRecognizer, charset_from_metadata, ctc_decode, target_width
from dva_ocr.ocr.runtime import OrtSession
from dva_ocr.ocr.spec import RecParams
from dva_ocr.ocr.training.crnn import CrnnConfig, LabelCodec, parse_charset
from dva_ocr.ocr.training.synth import TextSource

CHARSET = "0123456789"
STEPS = 300  # enough for a digits model to read clean print (measured: ~95 % exact lines at 300)
INTERRUPT_AT = 120  # SIGINT once the progress line shows this step
MIN_EXACT = 0.75  # clean rendered digit lines read exactly (measured 0.9-1.0 after 300 steps)
MIN_CHARS = 0.93  # 1 - character error rate on the same lines
FONTS = Path("/usr/share/fonts/truetype/dejavu")
TRAIN_ARGS = [
    "--charset", CHARSET, "--max-chars", "12", "--batch-size", "16", "--val-size", "48",
    "--val-every", "1000", "--save-every", "50", "--easy-lines", "1000", "--seed", "3",
]  # fmt: skip


def render_clean(text: str, font: str, px: int) -> np.ndarray:
    """Black text on white, a margin of a fifth of the size: a tidy printed crop (BGR)."""
    f = ImageFont.truetype(str(FONTS / font), px)
    left, top, right, bottom = f.getbbox(text)
    m = max(2, px // 5)
    img = Image.new("RGB", (right - left + 2 * m, bottom - top + 2 * m), (255, 255, 255))
    ImageDraw.Draw(img).text((m - left, m - top), text, font=f, fill=(0, 0, 0))
    return cv2.cvtColor(np.asarray(img), cv2.COLOR_RGB2BGR)


def clean_lines(n: int, seed: int) -> list[tuple[str, np.ndarray]]:
    rng = random.Random(seed)
    fonts = ["DejaVuSans.ttf", "DejaVuSerif.ttf", "DejaVuSansMono.ttf", "DejaVuSans-Bold.ttf"]
    out = []
    for _ in range(n):
        groups = [
            "".join(rng.choice(CHARSET) for _ in range(rng.randint(2, 5))) for _ in range(rng.randint(1, 3))
        ]
        text = " ".join(groups)
        out.append((text, render_clean(text, rng.choice(fonts), rng.randint(22, 44))))
    return out


def checkpoint_step(path: Path) -> int:
    return int(torch.load(path, map_location="cpu", weights_only=True)["step"])


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("crnn")
    cmd = [sys.executable, str(ROOT / "manage.py"), "train-rec", "--out", str(out), "--steps", str(STEPS)]
    proc = subprocess.Popen(
        [*cmd, *TRAIN_ARGS],
        cwd=ROOT,
        env=os.environ.copy(),
        stderr=subprocess.PIPE,
        text=True,
        # as from a terminal: a shell without job control starts background jobs with SIGINT ignored,
        # and pytest run that way would pass that on
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    assert proc.stderr is not None
    first_log: list[str] = []
    try:
        deadline = time.monotonic() + 150
        for line in proc.stderr:
            first_log.append(line)
            if line.startswith("step ") and int(line.split()[1].split("/")[0]) >= INTERRUPT_AT:
                proc.send_signal(signal.SIGINT)  # what Ctrl-C in a terminal does
                break
            assert time.monotonic() < deadline, "".join(first_log)
        first_log.extend(proc.stderr)
        rc = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    interrupted_at = checkpoint_step(out / "last.pt")

    resumed = run_cli("train-rec", "--out", str(out), "--steps", str(STEPS), "--json", *TRAIN_ARGS)
    assert resumed.returncode == 0, resumed.stderr
    return {
        "dir": out,
        "first_rc": rc,
        "first_log": "".join(first_log),
        "interrupted_at": interrupted_at,
        "resumed": resumed,
        "summary": json.loads(resumed.stdout.strip().splitlines()[-1]),
    }


@pytest.fixture(scope="module")
def exported(trained: dict) -> dict[str, Path]:
    paths = {}
    for layout, extra in (("ntc", []), ("tnc", ["--opencv-layout"])):
        path = trained["dir"] / f"rec_{layout}.onnx"
        res = run_cli("export-rec", str(trained["dir"] / "last.pt"), "--onnx", str(path), "--json", *extra)
        assert res.returncode == 0, res.stderr
        summary = json.loads(res.stdout.strip().splitlines()[-1])
        assert summary["max_abs_diff_onnxruntime_vs_torch"] < 1e-4
        assert summary["max_abs_diff_opencv_vs_onnxruntime"] < 1e-4
        paths[layout] = path
    return paths


@pytest.mark.integration  # trains a model
def test_ctrl_c_leaves_a_checkpoint_that_resumes(trained: dict) -> None:
    assert trained["first_rc"] == 130, trained["first_log"]
    assert "interrupted at step" in trained["first_log"]
    at = trained["interrupted_at"]
    assert INTERRUPT_AT <= at < STEPS
    summary = trained["summary"]
    assert f"resuming from step {at}" in trained["resumed"].stderr
    assert summary["step"] == STEPS
    assert summary["steps_this_run"] == STEPS - at  # continued, not restarted
    assert checkpoint_step(trained["dir"] / "last.pt") == STEPS
    assert (trained["dir"] / "best.pt").is_file()
    # progress lines on stderr: step, loss, validation, lines/s, ETA
    progress = [line for line in trained["resumed"].stderr.splitlines() if line.startswith("step ")]
    assert progress and all(k in progress[-1] for k in ("loss", "val", "lines/s", "ETA"))


@pytest.mark.integration  # trains a model
def test_trained_model_reads_clean_lines_through_text_recognizer(exported: dict[str, Path]) -> None:
    session = OrtSession(exported["ntc"])
    meta = session.metadata
    assert meta["dva_model"] == "crnn"
    assert meta["character"].splitlines() == list(CHARSET)
    assert charset_from_metadata(meta) == ["", *CHARSET, " "]
    height = int(meta["rec_height"])
    assert height == 32
    rec = TextRecognizer(session, RecParams(height=height))
    lines = clean_lines(60, seed=11)
    results = rec.recognise([img for _, img in lines])
    truths = [t for t, _ in lines]
    exact = sum(r.text == t for r, t in zip(results, truths, strict=True)) / len(lines)
    chars = 1 - sum(edit_distance(r.text, t) for r, t in zip(results, truths, strict=True)) / sum(
        len(t) for t in truths
    )
    misses = [(t, r.text) for r, t in zip(results, truths, strict=True) if r.text != t]
    assert exact >= MIN_EXACT, (exact, chars, misses)
    assert chars >= MIN_CHARS, (exact, chars, misses)
    assert all(0 < r.confidence <= 1 for r in results if r.text)


@pytest.mark.integration  # trains a model
def test_validation_reads_like_the_exported_model_in_the_engine(
    trained: dict, exported: dict[str, Path]
) -> None:
    """Training validation (the PyTorch model behind a ``TorchSession``) and the exported ONNX file read
    lines through the same ``LineReader`` that ``OcrEngine.read_lines`` uses, with the same result."""
    from dva_ocr.ocr.lines import LineReader
    from dva_ocr.ocr.training.data import Sample
    from dva_ocr.ocr.training.train import load_model
    from dva_ocr.ocr.training.validation import TorchSession, recognise, score, validate_model

    model, _ = load_model(trained["dir"] / "last.pt")  # the checkpoint `exported` was made from
    lines = clean_lines(30, seed=13)
    images, truths = [img for _, img in lines], [t for t, _ in lines]
    in_training = recognise(TorchSession(model), model.config.height, images)
    onnx = LineReader.from_session(OrtSession(exported["ntc"]), word_spacing=False).read_bgr(images)
    assert in_training == [r.text for r in onnx]
    got = validate_model(model, [Sample(img, t) for t, img in lines])
    assert got == score(in_training, truths) and got.lines == 30 and got.exact >= MIN_EXACT


def _rec_batch(crops: list[np.ndarray], height: int) -> np.ndarray:
    """Crops preprocessed exactly as TextRecognizer does, padded to a shared width."""
    p = RecParams(height=height)
    widths = [target_width(c.shape[0], c.shape[1], p) for c in crops]
    pad = max(p.min_width, -(-max(widths) // p.width_bucket) * p.width_bucket)
    x = np.zeros((len(crops), 3, height, pad), np.float32)
    for i, (c, w) in enumerate(zip(crops, widths, strict=True)):
        normalise_into(x[i], cv2.resize(c, (w, height), interpolation=cv2.INTER_LINEAR), p.mean, p.std)
    return x


@pytest.mark.integration  # trains a model
def test_onnxruntime_and_opencv_dnn_agree(exported: dict[str, Path]) -> None:
    sess = ort.InferenceSession(str(exported["ntc"]), providers=["CPUExecutionProvider"])
    net = cv2.dnn.readNetFromONNX(str(exported["ntc"]))
    lines = clean_lines(8, seed=5)
    worst = 0.0
    batches = [[img] for _, img in lines[:5]] + [[img for _, img in lines[5:]]]  # widths vary; one batch of 3
    seen_widths = set()
    for crops in batches:
        x = _rec_batch(crops, 32)
        seen_widths.add(x.shape[3])
        want = sess.run(None, {"x": x})[0]
        net.setInput(x)
        got = net.forward()
        assert got.shape == want.shape == (len(crops), x.shape[3] // 4, len(CHARSET) + 2)
        np.testing.assert_allclose(want.sum(-1), 1.0, atol=1e-5)
        worst = max(worst, float(np.abs(got - want).max()))
    assert len(seen_widths) >= 3
    assert worst < 1e-5, worst


@pytest.mark.integration  # trains a model
def test_opencv_text_recognition_model_decodes_like_onnxruntime(exported: dict[str, Path]) -> None:
    path = exported["tnc"]
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    charset = charset_from_metadata(dict(sess.get_modelmeta().custom_metadata_map))
    model = cv2.dnn_TextRecognitionModel(str(path))
    model.setDecodeType("CTC-greedy")
    model.setVocabulary(charset[1:])  # OpenCV: class 0 is blank, class j is vocabulary[j - 1]
    read = []
    for text, img in clean_lines(12, seed=21):
        width = math.ceil(32 * img.shape[1] / img.shape[0] / 32) * 32  # its input size is fixed per call
        model.setInputParams(scale=1 / 127.5, size=(width, 32), mean=(127.5, 127.5, 127.5), swapRB=False)
        got = model.recognize(img)
        blob = cv2.dnn.blobFromImage(img, 1 / 127.5, (width, 32), (127.5, 127.5, 127.5), swapRB=False)
        probs = sess.run(None, {"x": blob})[0]
        assert probs.shape[1] == 1  # T x N x C
        assert got == ctc_decode(probs[:, 0], charset).text
        read.append(got == text)
    assert sum(read) >= len(read) // 2  # stretched to a bucket width, still mostly right


def test_charset_rules_and_text_source() -> None:
    with pytest.raises(ValueError, match="whitespace"):
        parse_charset("ab c")
    with pytest.raises(ValueError, match="twice"):
        parse_charset("abca")
    with pytest.raises(ValueError, match="multiple of 16"):
        CrnnConfig(height=40)
    codec = LabelCodec(CrnnConfig(charset="0123456789"))
    assert codec.encode("10 2") == [2, 1, 11, 3]
    src = TextSource("0123456789", max_chars=12)
    rng = random.Random(0)
    for _ in range(200):
        t = src(rng)
        assert t and len(t) <= 12 and t == t.strip() and "  " not in t
        assert set(t) <= set("0123456789 ")


@pytest.mark.integration  # trains a model
def test_train_rec_refuses_a_different_charset_on_resume(trained: dict) -> None:
    res = run_cli("train-rec", "--out", str(trained["dir"]), "--steps", "1", "--charset", "0123")
    assert res.returncode == 2
    assert "charset" in res.stderr and "another --out" in res.stderr


@pytest.mark.integration  # trains a model
def test_real_crops_are_mixed_in_and_bad_labels_are_reported(tmp_path: Path) -> None:
    crops = tmp_path / "crops"
    crops.mkdir()
    rows = []
    for i, (text, img) in enumerate(clean_lines(5, seed=31)):
        cv2.imwrite(str(crops / f"{i}.png"), img)
        rows.append(f"crops/{i}.png\t{text}")
    rows.append("crops/0.png\tnot digits")  # the charset cannot spell it: left out, counted
    labels = tmp_path / "labels.tsv"
    labels.write_text("\n".join(rows) + "\n", encoding="utf-8")
    args = ["--charset", CHARSET, "--steps", "3", "--val-size", "4", "--real-ratio", "1.0", "--json"]
    res = run_cli("train-rec", "--out", str(tmp_path / "run"), "--real", str(tmp_path), *args)
    assert res.returncode == 0, res.stderr
    assert "5 real crops (1 left out" in res.stderr
    assert json.loads(res.stdout.strip().splitlines()[-1])["step"] == 3

    labels.write_text("crops/missing.png\t123\n", encoding="utf-8")
    res = run_cli("train-rec", "--out", str(tmp_path / "run2"), "--real", str(labels), *args)
    assert res.returncode == 2
    assert "labels.tsv:1" in res.stderr and "missing.png does not exist" in res.stderr


def test_exported_model_is_registered_and_reads_through_the_cli(
    db, exported: dict[str, Path], tmp_path: Path
):
    """train-rec -> export-rec -> models add -> ocr --model: the whole custom-recogniser workflow."""
    added = run_cli("models", "add", "digits-crnn", "--rec", str(exported["ntc"]))
    assert added.returncode == 0, added.stderr
    assert json.loads(added.stdout)["params"]["rec"]["height"] == 32  # from the file's rec_height
    lines = clean_lines(12, seed=23)
    paths = []
    for i, (_, img) in enumerate(lines):
        path = tmp_path / f"line{i:02d}.png"
        cv2.imwrite(str(path), img)  # clean_lines gives BGR crops, as TextRecognizer takes them
        paths.append(str(path))
    proc = run_cli("ocr", "--rec-only", "--model", "digits-crnn", "--json", *paths)
    assert proc.returncode == 0, proc.stderr
    read = [json.loads(x)["text"] for x in proc.stdout.splitlines()]
    exact = sum(r == t for r, (t, _) in zip(read, lines, strict=True)) / len(lines)
    assert exact >= MIN_EXACT, list(zip(read, [t for t, _ in lines], strict=True))
