"""Evaluation on labelled data: metric functions on hand-made cases, the ICDAR layout parsers, and
``./manage.py eval`` / ``ocr --rec-only`` on small labelled sets generated here with PIL."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont
from runcli import run_cli
from textgen import FONT_DIR, SENTENCES, background

from dva_ocr.evaluation import evaluate_dataset
from dva_ocr.evaluation.datasets import (
    DatasetError,
    GtRegion,
    detect_layout,
    load_dataset,
    parse_box_line,
    parse_crop_line,
    parse_quad_line,
)
from dva_ocr.evaluation.metrics import (
    bag_of_words,
    edit_distance,
    ignored_predictions,
    match_detections,
    normalise_word,
    normalised_edit_distance,
    polygon_iou,
    prf,
)
from dva_ocr.evaluation.runner import WordTotals

# --- generated labelled sets ------------------------------------------------------------------------------

FONTS = ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSerif.ttf", "DejaVuSansCondensed.ttf")
Quad = list[tuple[float, float]]


def _box_quad(left: float, top: float, right: float, bottom: float) -> Quad:
    return [(left, top), (right, top), (right, bottom), (left, bottom)]


def _rotate(quad: Quad, degrees: float, centre: tuple[float, float]) -> Quad:
    """Where ``quad``'s corners land after ``Image.rotate(degrees, center=centre)`` (counter-clockwise)."""
    t = math.radians(degrees)
    cx, cy = centre
    return [
        (
            cx + (x - cx) * math.cos(t) + (y - cy) * math.sin(t),
            cy - (x - cx) * math.sin(t) + (y - cy) * math.cos(t),
        )
        for x, y in quad
    ]


def make_scene(
    lines: list[str], seed: int, size: tuple[int, int] = (800, 450), rotate: float = 0.0
) -> tuple[Image.Image, list[tuple[str, Quad, list[tuple[str, Quad]]]]]:
    """Lines drawn top to bottom on a plain or gradient background: the image and, per line, its text,
    its quadrilateral and its words' quadrilaterals (tight glyph boxes, rotated with the image)."""
    rng = random.Random(seed)
    img = background(rng, size, rng.choice(("solid", "gradient")))
    draw = ImageDraw.Draw(img)
    mean = img.resize((1, 1)).getpixel((0, 0))
    colour = (250, 250, 250) if sum(mean) < 384 else (10, 10, 10)
    truth = []
    y = 40
    for text in lines:
        name, px = rng.choice(FONTS), rng.randrange(26, 42)
        font = ImageFont.truetype(str(FONT_DIR / name), px)
        while font.getlength(text) > size[0] - 60:
            px -= 2
            font = ImageFont.truetype(str(FONT_DIR / name), px)
        x = rng.randrange(30, max(31, int(size[0] - font.getlength(text)) - 30))
        draw.text((x, y), text, font=font, fill=colour)
        words = []
        offset = 0
        for word in text.split(" "):
            start = text.index(word, offset)
            offset = start + len(word)
            wx = x + font.getlength(text[:start])
            words.append((word, _box_quad(*draw.textbbox((wx, y), word, font=font))))
        truth.append((text, _box_quad(*draw.textbbox((x, y), text, font=font)), words))
        y += int(font.size * 2.2)
    if rotate:
        centre = (size[0] / 2, size[1] / 2)
        img = img.rotate(rotate, resample=Image.BICUBIC, center=centre, fillcolor=mean)
        truth = [
            (t, _rotate(q, rotate, centre), [(w, _rotate(wq, rotate, centre)) for w, wq in ws])
            for t, q, ws in truth
        ]
    return img, truth


def _coords(quad: Quad) -> str:
    return ",".join(str(round(v)) for p in quad for v in p)


SCENES = [  # (lines, rotation); the line "###" marks a don't-care region (its text is drawn all the same)
    (["Invoice 48213, total 129.50", "Thank you for shopping"], 0.0),
    (["Next train to Central Station", "departs from platform 4", "###"], 0.0),
    (["Fresh bread and coffee", "Mind the gap, please"], 8.0),
    (["Exit 14 for the airport", "Room 204, second floor", "Free wireless internet"], 0.0),
]
SCRIBBLE = "tiny print here"  # what the don't-care region holds


def write_quad_set(root: Path) -> Path:
    """ICDAR 2015: images/img_N.jpg and gt/gt_img_N.txt, line-level quads, BOM and CRLF on some files."""
    (root / "images").mkdir(parents=True)
    (root / "gt").mkdir()
    for n, (lines, angle) in enumerate(SCENES, 1):
        img, truth = make_scene([SCRIBBLE if t == "###" else t for t in lines], seed=n, rotate=angle)
        img.save(root / "images" / f"img_{n}.jpg", quality=92)
        rows = [
            f"{_coords(q)},{'###' if want == '###' else t}"
            for want, (t, q, _) in zip(lines, truth, strict=True)
        ]
        bom = "\ufeff" if n % 2 else ""
        newline = "\r\n" if n == 3 else "\n"
        (root / "gt" / f"gt_img_{n}.txt").write_bytes((bom + newline.join(rows) + newline).encode())
    return root


def write_box_set(root: Path) -> Path:
    """ICDAR 2013: img_N.jpg with gt_img_N.txt beside it, ``xmin, ymin, xmax, ymax, "text"`` lines
    (the last file space-separated), line-level boxes."""
    root.mkdir(parents=True)
    for n, lines in enumerate(([s] for s in SENTENCES[:3]), 1):
        img, truth = make_scene(lines + ["Call now"], seed=10 + n)
        img.save(root / f"img_{n}.jpg", quality=92)
        rows = []
        for text, quad, _ in truth:
            (x0, y0), _, (x1, y1), _ = quad
            sep = " " if n == 3 else ", "
            rows.append(sep.join(str(round(v)) for v in (x0, y0, x1, y1)) + f'{sep}"{text}"')
        (root / f"gt_img_{n}.txt").write_text("\n".join(rows) + "\n")
    return root


def write_word_set(root: Path) -> Path:
    """Word-level quads in ``<stem>.txt`` beside each image (as many datasets annotate words)."""
    root.mkdir(parents=True)
    for n, (lines, angle) in enumerate(SCENES[:2], 1):
        lines = [t for t in lines if t != "###"]
        img, truth = make_scene(lines, seed=n, rotate=angle)
        img.save(root / f"scene{n}.png")
        rows = [f"{_coords(q)},{w}" for _, _, words in truth for w, q in words]
        (root / f"scene{n}.txt").write_text("\n".join(rows) + "\n")
    return root


def write_bag_set(root: Path) -> Path:
    """Three images in the box layout for the bag-of-words counts: word-level boxes with a don't-care line
    (whose text is drawn all the same), an image whose gt file is empty although it shows a line (every
    word read there is false), and one line-level box."""
    root.mkdir(parents=True)
    scenes = [
        (["Fresh bread and coffee", SCRIBBLE], "words"),
        (["Exit 14 for the airport"], "none"),
        (["Room 204, second floor"], "line"),
    ]
    for n, (lines, kind) in enumerate(scenes, 1):
        img, truth = make_scene(lines, seed=30 + n)
        img.save(root / f"img_{n}.png")
        rows = []
        for text, quad, words in truth:
            boxes = [("###", quad)] if text == SCRIBBLE else words if kind == "words" else [(text, quad)]
            for label, (p0, _, p2, _) in boxes if kind != "none" else []:
                rows.append(",".join(str(round(v)) for v in (*p0, *p2)) + f',"{label}"')
        (root / f"gt_img_{n}.txt").write_text("".join(row + "\n" for row in rows))
    return root


CROP_TEXTS = [
    "Tiredness", "kills", "TAKE", "a", "BREAK", "Invoice", "48213", "Central", "Station", "platform",
    "coffee", "Exit 14", "airport", "Room 204", "London", "Summer sale", "HOSPITAL", "gates", "Quote",
    "museum",
]  # fmt: skip


def write_crops(root: Path, form: str) -> Path:
    """Cropped words/lines and a labels file: ``gt.txt`` with ``word_1.png, "text"`` lines (ICDAR, with a
    BOM) or ``labels.txt`` with ``image<TAB>text`` lines (crops in a sub-folder)."""
    root.mkdir(parents=True)
    sub = root / "crops" if form == "tab" else root
    sub.mkdir(exist_ok=True)
    rows = []
    for n, text in enumerate(CROP_TEXTS, 1):
        img, truth = make_scene([text], seed=100 + n, size=(520, 120))
        _, quad, _ = truth[0]
        (x0, y0), _, (x1, y1), _ = quad
        pad = 6
        crop = img.crop((x0 - pad, y0 - pad, x1 + pad, y1 + pad))
        name = f"word_{n}.png"
        crop.save(sub / name)
        rows.append(f"crops/{name}\t{text}" if form == "tab" else f'{name}, "{text}"')
    labels = root / ("labels.txt" if form == "tab" else "gt.txt")
    labels.write_text(("\ufeff" if form == "icdar" else "") + "\n".join(rows) + "\n", encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def sets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("evalsets")
    return {
        "quad": write_quad_set(base / "ic15"),
        "box": write_box_set(base / "ic13"),
        "words": write_word_set(base / "words"),
        "bag": write_bag_set(base / "bag"),
        "crops": write_crops(base / "crops_icdar", "icdar"),
        "crops_tab": write_crops(base / "crops_tab", "tab"),
    }


# --- metrics --------------------------------------------------------------------------------------------


def rect(x0: float, y0: float, x1: float, y1: float) -> Quad:
    return _box_quad(x0, y0, x1, y1)


def test_iou_of_rectangles_and_rotated_quads():
    assert polygon_iou(rect(0, 0, 10, 10), rect(0, 0, 10, 10)) == 1.0
    assert polygon_iou(rect(0, 0, 10, 10), rect(20, 0, 30, 10)) == 0.0
    assert polygon_iou(rect(0, 0, 100, 10), rect(0, 0, 49, 10)) == pytest.approx(0.49)
    diamond = [(1, 0), (2, 1), (1, 2), (0, 1)]  # half the square's area, inside it
    assert polygon_iou(rect(0, 0, 2, 2), diamond) == pytest.approx(0.5)
    bow_tie = [(0, 0), (10, 10), (10, 0), (0, 10)]  # self-intersecting corners are repaired, not an error
    assert 0 < polygon_iou(rect(0, 0, 10, 10), bow_tie) <= 1


def test_iou_threshold_is_half():
    gt = [rect(0, 0, 100, 10)]
    assert match_detections(gt, [rect(0, 0, 51, 10)]).true_positives == 1  # IoU 0.51
    assert match_detections(gt, [rect(0, 0, 49, 10)]).true_positives == 0  # IoU 0.49


def test_one_of_two_found_is_recall_half():
    m = match_detections([rect(0, 0, 100, 20), rect(0, 50, 100, 70)], [rect(2, 1, 101, 21)])
    assert (m.true_positives, m.gt_count, m.pred_count) == (1, 2, 1)
    assert prf(m.true_positives, m.gt_count, m.pred_count) == pytest.approx(
        {"precision": 1.0, "recall": 0.5, "f1": 2 / 3}
    )


def test_matching_is_one_to_one_and_prefers_the_best_overlap():
    gts = [rect(0, 0, 100, 20), rect(0, 0, 80, 20)]
    # the first prediction fits gt 1 best (IoU 1.0) but also gt 0 (0.8); the second fits gt 0 only
    m = match_detections(gts, [rect(0, 0, 80, 20), rect(0, 0, 100, 20), rect(1, 0, 100, 20)])
    assert m.pairs == ((0, 1), (1, 0)) and m.pred_count == 3  # the duplicate is a false positive


def test_dont_care_regions_are_ignored():
    gts = [rect(0, 0, 100, 20), rect(0, 100, 200, 140)]
    care = [False, True]
    preds = [
        rect(0, 0, 100, 20),  # found
        rect(10, 105, 60, 130),  # inside the don't-care region: ignored, not a false positive
        rect(150, 100, 260, 140),  # less than half inside it: a false positive
    ]
    m = match_detections(gts, preds, dont_care=care)
    assert (m.true_positives, m.gt_count, m.pred_count, m.ignored_preds, m.dont_care) == (1, 1, 2, (1,), 1)
    # an unfound don't-care region costs nothing
    assert match_detections(gts, [rect(0, 0, 100, 20)], dont_care=care).gt_count == 1
    with pytest.raises(ValueError, match="flags"):
        match_detections(gts, preds, dont_care=[True])


def test_word_normalisation():
    assert normalise_word("Invoice,") == "invoice"
    assert normalise_word("129.50") == "12950"
    assert normalise_word("ＣＡＦÉ") == "café"  # NFKC folds full-width letters
    assert normalise_word("STRASSE") == normalise_word("straße")  # case-folded, not just lower-cased
    assert normalise_word("###") == normalise_word("—") == ""


def test_word_multisets_score_word_and_line_annotations_alike():
    lines = bag_of_words(["the cat", "the dog"], ["The CAT.", "dog", "bird"])
    words = bag_of_words(["the", "cat", "the", "dog"], ["The CAT.", "dog", "bird"])
    assert lines == words
    assert (lines.tp, lines.truth, lines.predicted) == (3, 4, 4)  # one "the" missing; "bird" extra
    assert (lines.missed, lines.false) == (("the",), ("bird",))
    assert bag_of_words(["—"], []).truth == 0  # punctuation alone is no word


def _bag(b) -> tuple[int, int, int]:
    return b.tp, b.predicted, b.truth


def test_bag_of_words_a_dont_care_region_hides_the_predictions_inside_it():
    gts = [rect(0, 0, 200, 20), rect(0, 100, 200, 140)]
    gt_texts = ["Hello world", "###"]
    preds = [
        rect(0, 0, 200, 20),  # "hello world": both words right
        rect(10, 105, 60, 130),  # inside the don't-care region: ignored, its words counted nowhere
        rect(150, 100, 260, 140),  # 45% inside it: kept, a false word
    ]
    pred_texts = ["hello world", "tiny print", "extra"]
    b = bag_of_words(gt_texts, pred_texts, [False, True], gts, preds)
    assert _bag(b) == (2, 3, 2)
    assert (b.ignored_predictions, b.ignored_words, b.false, b.missed) == (1, 2, ("extra",), ())
    # the rule is the detection metric's: one function, the same indices
    assert ignored_predictions(gts, preds, [False, True]) == (1,)
    assert match_detections(gts, preds, [False, True]).ignored_preds == (1,)
    assert bag_of_words(gt_texts, pred_texts, [False, True], ignored=(1,)) == b  # indices given instead
    # more than half of the prediction's area: exactly half inside is not enough
    half = bag_of_words(
        gt_texts, ["hello world", "half"], [False, True], gts, [gts[0], rect(100, 100, 300, 140)]
    )
    assert (half.ignored_predictions, half.false) == (0, ("half",))
    # without the flag the region is truth like any other: "###" has no word, the scribble is false
    plain = bag_of_words(gt_texts, pred_texts, None, gts, preds)
    assert _bag(plain) == (2, 5, 2) and plain.ignored_predictions == 0
    with pytest.raises(ValueError, match="flags"):
        bag_of_words(gt_texts, pred_texts, [True])


def test_bag_of_words_a_repeated_word_counts_twice_only_if_twice_in_the_truth():
    assert _bag(bag_of_words(["the cat sat on the mat"], ["the the the cat"])) == (3, 4, 6)
    once = bag_of_words(["the"], ["the", "the"])
    assert _bag(once) == (1, 2, 1) and once.false == ("the",)
    twice = bag_of_words(["the end", "the"], ["the the"])
    assert _bag(twice) == (2, 2, 3) and twice.missed == ("end",)


def test_bag_of_words_ignores_case_and_punctuation():
    b = bag_of_words(
        ["Invoice 129.50 (paid)", "ＴＯＴＡＬ:"], ["INVOICE, 12950", "paid!", "total", "—", "..."]
    )
    assert _bag(b) == (4, 4, 4) and b.false == b.missed == ()
    assert _bag(bag_of_words(["don't"], ["dont"])) == (1, 1, 1)  # letters and digits only
    assert _bag(bag_of_words(["e-mail"], ["e mail"])) == (0, 2, 1)  # but split on whitespace


def test_bag_of_words_an_image_without_truth_lowers_precision():
    totals = WordTotals()
    totals.add(bag_of_words(["Exit 14"], ["exit 14"]))  # perfect
    totals.add(bag_of_words([], ["brick", "wall"]))  # no text in the truth: two false words
    r = totals.report()
    assert (r["tp"], r["predicted"], r["truth"]) == (2, 4, 2)  # summed over images, then divided
    assert (r["precision"], r["recall"], r["f1"]) == (0.5, 1.0, pytest.approx(0.6667))


def test_bag_of_words_with_nothing_is_defined():
    for b in (
        bag_of_words([], []),
        bag_of_words(["###"], [], [True], [rect(0, 0, 9, 9)], []),
        bag_of_words(["—"], [""]),
    ):
        assert _bag(b) == (0, 0, 0) and b.ignored_predictions == 0
    totals = WordTotals()
    assert totals.report() == {
        "precision": 0.0,
        "recall": 0.0,
        "f1": 0.0,
        "tp": 0,
        "predicted": 0,
        "truth": 0,
        "ignored_predictions": 0,
        "ignored_words": 0,
    }
    totals.add(bag_of_words([], []))
    assert totals.report()["f1"] == 0.0


def test_self_intersecting_quads_are_matched_not_a_crash():
    bow_tie = [(0, 0), (10, 10), (10, 0), (0, 10)]  # repaired into two triangles (a multi-polygon)
    m = match_detections([rect(0, 0, 10, 10), bow_tie], [bow_tie, rect(0, 0, 10, 10)], [False, True])
    assert m.ignored_preds == (0,) and m.pairs == ((0, 1),)


def test_edit_distance():
    assert edit_distance("kitten", "sitting") == 3
    assert edit_distance("", "abc") == edit_distance("abc", "") == 3
    assert normalised_edit_distance("kitten", "sitting") == pytest.approx(3 / 7)
    assert normalised_edit_distance("", "") == 0.0
    assert normalised_edit_distance("abc", "") == 1.0


def test_prf_with_nothing_to_divide_by():
    assert prf(0, 0, 0) == {"precision": 0.0, "recall": 0.0, "f1": 0.0}
    assert prf(0, 3, 0) == {"precision": 0.0, "recall": 0.0, "f1": 0.0}


# --- parsers --------------------------------------------------------------------------------------------


def test_quad_lines_keep_commas_in_the_text():
    r = parse_quad_line("377,117,463,117,465,130,378,130,Hello, world, again\r\n")
    assert r.polygon == ((377, 117), (463, 117), (465, 130), (378, 130))
    assert r.text == "Hello, world, again" and not r.dont_care
    assert parse_quad_line("1.5,2,3,4,5,6,7,8,###").dont_care
    with pytest.raises(ValueError, match="x1,y1"):
        parse_quad_line('38, 43, 920, 215, "Tiredness"')


def test_box_lines_both_separators_and_quotes():
    assert parse_box_line('38, 43, 920, 215, "Tiredness"') == GtRegion(
        ((38, 43), (920, 43), (920, 215), (38, 215)), "Tiredness"
    )
    assert parse_box_line('158 128 411 181 "Footpath"').text == "Footpath"
    assert parse_box_line('1,2,3,4,"a, b"').text == "a, b"
    assert parse_box_line(r'1,2,3,4,"say \"hi\""').text == 'say "hi"'
    assert parse_box_line("1,2,3,4,###").dont_care
    with pytest.raises(ValueError, match="quad"):
        parse_box_line("377,117,463,117,465,130,378,130,Genaxis")
    with pytest.raises(ValueError, match="xmin"):
        parse_box_line("Tiredness, 38, 43")


def test_crop_label_lines():
    assert parse_crop_line('word_1.png, "Tiredness"') == ("word_1.png", "Tiredness")
    assert parse_crop_line('word_2.png, "a, \\"b\\""') == ("word_2.png", 'a, "b"')
    assert parse_crop_line("train/img 3.jpg\tHello, world\n") == ("train/img 3.jpg", "Hello, world")
    with pytest.raises(ValueError, match="TAB"):
        parse_crop_line("word_1.png Tiredness")


def test_gt_files_are_found_beside_images_or_in_a_gt_folder(tmp_path):
    img = Image.new("RGB", (40, 20))
    (tmp_path / "imgs").mkdir()
    (tmp_path / "gt").mkdir()
    for name in ("img_1", "img_2", "img_10", "pic"):
        img.save(tmp_path / "imgs" / f"{name}.jpg")
    (tmp_path / "gt" / "gt_img_1.txt").write_text("\ufeff1,2,3,2,3,4,1,4,A, B\n", encoding="utf-8")
    (tmp_path / "gt" / "img_10.txt").write_bytes(b"1,2,3,2,3,4,1,4,###\r\n\r\n")
    (tmp_path / "imgs" / "img_2.txt").write_text("")  # an image without text
    ds = load_dataset(tmp_path)
    assert ds.layout == "quad"
    assert [s.image.name for s in ds.samples] == ["img_1.jpg", "img_2.jpg", "img_10.jpg"]  # natural order
    assert [[r.text for r in s.regions] for s in ds.samples] == [["A, B"], [], ["###"]]
    assert [p.name for p in ds.missing_gt] == ["pic.jpg"]
    assert len(load_dataset(tmp_path, limit=2)) == 2


def test_icdar2015_download_layout(tmp_path):
    (tmp_path / "ch4_test_images").mkdir()
    (tmp_path / "Challenge4_Test_Task1_GT").mkdir()
    Image.new("RGB", (40, 20)).save(tmp_path / "ch4_test_images" / "img_1.jpg")
    gt = "\ufeff377,117,463,117,465,130,378,130,Genaxis Theatre\r\n374,155,409,155,409,170,374,170,###\r\n"
    (tmp_path / "Challenge4_Test_Task1_GT" / "gt_img_1.txt").write_text(gt, encoding="utf-8")
    (sample,) = load_dataset(tmp_path).samples
    assert [(r.text, r.dont_care) for r in sample.regions] == [("Genaxis Theatre", False), ("###", True)]


def test_box_layout_is_detected_and_bad_lines_are_named(tmp_path):
    Image.new("RGB", (40, 20)).save(tmp_path / "a.png")
    (tmp_path / "gt_a.txt").write_text('1 2 30 12 "Hi there"\n3, 4, 5, 6, "x"\n')
    assert detect_layout(tmp_path) == "box"
    assert [r.text for r in load_dataset(tmp_path).samples[0].regions] == ["Hi there", "x"]
    (tmp_path / "gt_a.txt").write_text('1 2 30 12 "Hi"\nnot a line\n')
    with pytest.raises(DatasetError, match=r"gt_a.txt:2: .*box layout"):
        load_dataset(tmp_path)
    with pytest.raises(DatasetError, match=r"gt_a.txt:1: .*quad layout"):
        load_dataset(tmp_path, layout="quad")


def test_crops_labels_file(tmp_path):
    for name in ("word_1.png", "word_2.png"):
        Image.new("RGB", (40, 20)).save(tmp_path / name)
    (tmp_path / "gt.txt").write_text(
        '\ufeffword_1.png, "Tiredness"\nword_2.png, "kills, too"\n', encoding="utf-8"
    )
    assert detect_layout(tmp_path) == detect_layout(tmp_path / "gt.txt") == "crops"
    ds = load_dataset(tmp_path)
    assert [(c.image.name, c.text) for c in ds.crops] == [
        ("word_1.png", "Tiredness"),
        ("word_2.png", "kills, too"),
    ]
    assert len(load_dataset(tmp_path / "gt.txt", limit=1)) == 1
    (tmp_path / "more.txt").write_text("word_2.png\tkills\n")
    with pytest.raises(DatasetError, match="several labels files"):
        load_dataset(tmp_path)
    assert [c.text for c in load_dataset(tmp_path / "more.txt").crops] == ["kills"]
    (tmp_path / "more.txt").write_text("word_2.png\tkills\nword_9.png\tgone\n")
    with pytest.raises(DatasetError, match=r"more.txt:2: image 'word_9.png' not found"):
        load_dataset(tmp_path / "more.txt", layout="crops")


def test_nothing_recognisable_says_what_was_expected(tmp_path):
    Image.new("RGB", (40, 20)).save(tmp_path / "a.png")
    (tmp_path / "notes.txt").write_text("hello\n")
    with pytest.raises(
        DatasetError, match=r"no labelled data found .*expected .*image<TAB>text.*gt_img_1.txt"
    ):
        load_dataset(tmp_path)
    with pytest.raises(DatasetError, match="no such file"):
        load_dataset(tmp_path / "missing")


# --- end to end on generated sets -------------------------------------------------------------------------


def _eval_json(*args: str) -> dict:
    proc = run_cli("eval", *args, "--json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.mark.integration  # runs the bundled OCR models
def test_eval_quad_set(sets):
    r = _eval_json(str(sets["quad"]))
    assert (r["model"], r["layout"], r["images"], r["skipped"], r["missing_gt"]) == (
        "ppocrv4",
        "quad",
        4,
        [],
        0,
    )
    det, bag = r["detection"], r["bag_of_words"]
    # measured: detection 9/9 lines (one image rotated by 8 degrees), the don't-care line found and ignored;
    # words 33 of 37 (the recogniser drops the space after a comma: "48213,total")
    assert (det["gt"], det["dont_care"], det["ignored"]) == (9, 1, 1)
    assert det["recall"] >= 0.88 and det["precision"] >= 0.88
    assert bag["truth"] == 37 and bag["recall"] >= 0.8 and bag["precision"] >= 0.85
    assert bag["ignored_predictions"] == 1 and bag["ignored_words"] == 3  # "tiny print here"
    assert r["images_per_s"] > 0 and r["seconds"] > 0


@pytest.mark.integration  # runs the bundled OCR models
def test_eval_box_set_table(sets):
    proc = run_cli("eval", str(sets["box"]), "--limit", "3")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "(box layout): 3 images" in out and "images/s" in out
    det = next(line for line in out.splitlines() if "detection" in line).split()
    bag = next(line for line in out.splitlines() if "bag-of-words (e2e)" in line).split()
    # measured: all 6 lines found; 30 of 31 words ("lnvoice" for "Invoice")
    assert min(float(v) for v in det[2:5]) >= 0.8
    assert min(float(v) for v in bag[2:5]) >= 0.85 and "31 truth words" in " ".join(bag)


@pytest.mark.integration  # runs the bundled OCR models
def test_eval_bag_of_words_sums_the_images(sets):
    r = _eval_json(str(sets["bag"]))
    assert (r["layout"], r["images"]) == ("box", 3)
    bag = r["bag_of_words"]
    assert set(bag) == {
        "precision",
        "recall",
        "f1",
        "tp",
        "predicted",
        "truth",
        "ignored_predictions",
        "ignored_words",
    }
    per = {Path(i["image"]).name: i for i in r["per_image"]}
    assert list(per) == ["img_1.png", "img_2.png", "img_3.png"]
    for key in ("tp", "predicted", "truth", "ignored_predictions"):
        assert bag[key] == sum(i[key] for i in per.values()), key
    for i in per.values():
        assert i["truth"] - len(i["missed"]) == i["tp"] == i["predicted"] - len(i["false"])
    assert bag["precision"] == round(bag["tp"] / bag["predicted"], 4)
    assert bag["recall"] == round(bag["tp"] / bag["truth"], 4)
    p, rc = bag["tp"] / bag["predicted"], bag["tp"] / bag["truth"]
    assert bag["f1"] == round(2 * p * rc / (p + rc), 4)
    # the truth is fixed by the gt files: 4 words, none (the line is there, its gt file is empty), 4 words
    assert [i["truth"] for i in per.values()] == [4, 0, 4]
    # the don't-care line is read and ignored: its words are neither false nor predicted
    assert per["img_1.png"]["ignored_predictions"] == 1
    assert not {"tiny", "print", "here"} & set(per["img_1.png"]["false"])
    # the unlabelled line costs precision only (measured: 5 words read, all false)
    assert per["img_2.png"]["tp"] == 0 and per["img_2.png"]["predicted"] >= 3
    assert bag["recall"] >= 0.85 and bag["precision"] < 0.75
    # measured: 8 of 8 truth words found, 13 predicted, P 0.6154 R 1.0 F1 0.7619


@pytest.fixture(scope="module")
def engine():
    from dva_ocr.engines import load_engine

    return load_engine("ppocrv4")


@pytest.mark.integration  # runs the bundled OCR models
def test_word_level_annotations(sets, engine):
    """The detector finds lines, so word boxes do not match its boxes (IoU < 0.5): detection scores low,
    while the end-to-end word comparison is the same as for line annotations."""
    r = evaluate_dataset(engine, load_dataset(sets["words"], "quad"))
    assert r["detection"]["gt"] == 17 and r["detection"]["recall"] < 0.2
    # measured: 17 of 17 words
    assert r["bag_of_words"]["recall"] >= 0.9 and r["bag_of_words"]["precision"] >= 0.9


@pytest.mark.integration  # runs the bundled OCR models
def test_eval_crops(sets):
    r = _eval_json(str(sets["crops"]))
    assert (r["layout"], r["crops"], r["skipped"]) == ("crops", 20, [])
    rec = r["recognition"]
    # measured: 20 of 20 read exactly
    assert rec["accuracy"] >= 0.9 and rec["accuracy_case_sensitive"] >= 0.85 and rec["mean_ned"] <= 0.05
    assert r["bag_of_words"]["truth"] == 23 and r["bag_of_words"]["f1"] >= 0.9  # each crop an image
    assert r["crops_per_s"] > 0


@pytest.mark.integration  # runs the bundled OCR models
def test_crops_from_a_tab_labels_file(sets, engine):
    r = evaluate_dataset(engine, load_dataset(sets["crops_tab"] / "labels.txt", limit=12))
    assert r["crops"] == 12 and r["recognition"]["accuracy"] >= 0.9  # measured: 12 of 12


def test_eval_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    proc = run_cli("eval", str(tmp_path / "empty"))
    assert proc.returncode == 2
    assert "no labelled data found" in proc.stderr and "expected" in proc.stderr


def test_eval_unknown_model(sets, db):
    # a name other than the bundled one is looked up in the model registry (the database)
    proc = run_cli("eval", str(sets["crops"]), "--model", "no-such-model")
    assert proc.returncode == 2
    assert "unknown model version 'no-such-model'" in proc.stderr and "Traceback" not in proc.stderr
