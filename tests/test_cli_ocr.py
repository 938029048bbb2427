"""`./manage.py ocr`: the library's image OCR from the command line, with no database or queue; and the
installed `dva-ocr` console script."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont
from runcli import run_cli
from textgen import FONT_DIR, render_lines

pytestmark = pytest.mark.integration  # every test here runs the bundled OCR models


def test_ocr_json_lines_without_any_service(tmp_path, monkeypatch):
    # nothing listens on these ports: the command must not need them
    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    monkeypatch.setenv("BROKER_URL", "redis://127.0.0.1:1/0")
    folder = tmp_path / "imgs"
    folder.mkdir()
    image, truth = render_lines(["Invoice number 48213", "Thank you for watching"], size=(800, 400), seed=3)
    Image.fromarray(image).save(folder / "a.png")
    Image.new("RGB", (320, 200), (255, 255, 255)).save(folder / "blank.jpg")
    (folder / "notes.txt").write_text("not an image")  # ignored: not an image suffix
    proc = run_cli("ocr", str(folder), "--json", "--draw", str(tmp_path / "drawn"))
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [line["image"].rsplit("/", 1)[-1] for line in lines] == ["a.png", "blank.jpg"]
    a, blank = lines
    assert blank["regions"] == []
    assert set(a) == {"image", "regions", "elapsed_ms"} and a["elapsed_ms"] > 0
    texts = [r["text"] for r in a["regions"]]
    assert texts == ["Invoice number 48213", "Thank you for watching"]
    for r in a["regions"]:
        assert {"polygon", "text", "confidence"} <= set(r)
        (x1, y1), (x2, y2), (x3, y3), (x4, y4) = r["polygon"]
        # clockwise from top-left, in the image's own pixels
        assert x1 < x2 and y2 < y3 and x3 > x4 and y4 > y1
        assert min(x1, x4) >= 0 and max(x2, x3) <= 800 and max(y3, y4) <= 400
        assert 0.5 <= r["confidence"] <= 1
    assert sorted(p.name for p in (tmp_path / "drawn").iterdir()) == ["a.jpg", "blank.jpg"]


def test_ocr_reports_unreadable_files_and_goes_on(tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG not really")
    good = tmp_path / "good.png"
    Image.fromarray(render_lines(["Harbour lights"], size=(600, 200), seed=1)[0]).save(good)
    proc = run_cli("ocr", str(bad), str(good), "--json")
    assert proc.returncode == 1
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert lines[0]["regions"] == [] and "error" in lines[0]
    assert [r["text"] for r in lines[1]["regions"]] == ["Harbour lights"]


def test_a_folder_read_by_two_processes_gives_the_same_lines_in_the_same_order(tmp_path):
    folder = tmp_path / "many"
    folder.mkdir()
    lines = ["Harbour lights", "Invoice 48213", "Platform nine", "Exit 14 next right", "Sukehiro Tanaka"]
    for i in range(9):
        image, _ = render_lines([lines[i % len(lines)], f"Gate {i + 10}"], size=(640, 240), seed=i)
        Image.fromarray(image).save(folder / f"{i:02d}.png")
    (folder / "08.png").write_bytes(b"\x89PNG truncated")  # unreadable, in the middle of the order
    one = run_cli("ocr", str(folder), "--json", "--jobs", "1")
    two = run_cli("ocr", str(folder), "--json", "--jobs", "2", "--draw", str(tmp_path / "drawn"))
    assert one.returncode == two.returncode == 1  # the broken file
    first = [json.loads(line) for line in one.stdout.splitlines()]
    second = [json.loads(line) for line in two.stdout.splitlines()]
    assert [d["image"] for d in second] == [d["image"] for d in first] == sorted(d["image"] for d in first)
    assert [[r["text"] for r in d["regions"]] for d in second] == [
        [r["text"] for r in d["regions"]] for d in first
    ]
    assert "error" in second[8] and all(d["elapsed_ms"] > 0 for d in second if "error" not in d)
    assert [r["text"] for r in second[3]["regions"]] == ["Exit 14 next right", "Gate 13"]
    assert two.stderr.strip().splitlines()[-1] == one.stderr.strip().splitlines()[-1]  # the same tally
    assert len(list((tmp_path / "drawn").iterdir())) == 8


def test_rec_only_reads_each_image_as_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")  # the bundled model needs none
    lines = ["Invoice number 48213", "Platform 4", "coffee", "Thank you for watching", "EXIT"]
    folder = tmp_path / "crops"
    folder.mkdir()
    for n, text in enumerate(lines):
        image, truth = render_lines([text], size=(700, 120), seed=20 + n, background_kind="solid")
        (_, (x, y, w, h)), pad = truth[0], 5
        Image.fromarray(image[y - pad : y + h + pad, x - pad : x + w + pad]).save(folder / f"line_{n}.png")
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG not really")
    proc = run_cli("ocr", "--rec-only", "--model", "ppocrv4", str(broken), str(folder), "--json")
    assert proc.returncode == 1  # the broken file; the rest are read
    out = [json.loads(line) for line in proc.stdout.splitlines()]
    assert out[0]["image"] == str(broken) and out[0]["text"] == "" and "error" in out[0]
    out = out[1:]
    assert [o["image"].rsplit("/", 1)[-1] for o in out] == [f"line_{n}.png" for n in range(5)]
    for o in out:
        assert set(o) == {"image", "text", "confidence", "elapsed_ms"} and o["elapsed_ms"] > 0
        assert 0.5 <= o["confidence"] <= 1
    assert [o["text"] for o in out] == lines
    # plain output: path, confidence, text
    proc = run_cli("ocr", "--rec-only", str(folder / "line_1.png"))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().endswith("Platform 4")


def test_installed_console_script(tmp_path, monkeypatch):
    """`pip install` puts `dva-ocr` beside the interpreter; it is the same CLI as ./manage.py."""
    script = Path(sys.executable).parent / "dva-ocr"
    assert script.is_file(), f"{script} missing: reinstall the project (pip install -e .)"
    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")  # ocr needs no service

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        # from another folder: nothing may depend on the repository being the working directory
        return subprocess.run(
            [str(script), *args],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env=os.environ.copy(),
            timeout=300,
        )

    helped = run("--help")
    assert helped.returncode == 0, helped.stderr
    assert helped.stdout.startswith("usage: dva-ocr ")  # it names itself as the user typed it
    assert all(cmd in helped.stdout for cmd in ("ocr", "ingest", "search", "eval", "train-rec"))

    image = Image.new("RGB", (640, 160), (250, 250, 245))
    font = ImageFont.truetype(str(FONT_DIR / "DejaVuSans.ttf"), 40)
    ImageDraw.Draw(image).text((30, 50), "Harbour lights 42", font=font, fill=(20, 20, 30))
    left, top, right, bottom = font.getbbox("Harbour lights 42")  # the ink, relative to (30, 50)
    path = tmp_path / "line.png"
    image.save(path)
    proc = run("ocr", str(path), "--json")
    assert proc.returncode == 0, proc.stderr
    [out] = [json.loads(line) for line in proc.stdout.splitlines()]
    assert set(out) == {"image", "regions", "elapsed_ms"}
    assert out["image"] == str(path) and out["elapsed_ms"] > 0
    [region] = out["regions"]
    assert {"polygon", "text", "confidence"} <= set(region)
    assert region["text"] == "Harbour lights 42" and 0.5 <= region["confidence"] <= 1
    (x1, y1), (x2, y2), (x3, y3), (x4, y4) = region["polygon"]
    # clockwise from top-left, around the drawn text (within a few pixels), in the image's own pixels
    assert x1 < x2 and y2 < y3 and x3 > x4 and y4 > y1
    assert abs(min(x1, x4) - (30 + left)) < 12 and abs(max(x2, x3) - (30 + right)) < 12
    assert abs(min(y1, y2) - (50 + top)) < 12 and abs(max(y3, y4) - (50 + bottom)) < 12
