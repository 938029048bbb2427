"""Word-boundary recovery (dva_ocr.ocr.words): recogniser signals, dictionary, case, numbers, scripts."""

from __future__ import annotations

import subprocess
import sys

import pytest

from dva_ocr.ocr import words
from dva_ocr.ocr.words import Evidence, boundary_evidence, recover_spaces


def _signals(text: str, spaces_at: dict[int, float] = None, wide_at: set[int] = frozenset(), pitch: int = 3):
    """Positions and space probabilities for ``text``: ``wide_at`` boundaries get a doubled gap,
    ``spaces_at`` maps boundary index -> space probability (boundary i lies between text[i], text[i+1])."""
    positions, p = [], 0
    for i in range(len(text)):
        positions.append(p)
        p += pitch * 2 if i in wide_at else pitch
    probs = [0.0] * (len(text) - 1)
    for i, v in (spaces_at or {}).items():
        probs[i] = v
    return positions, probs


def test_dictionary_alone_splits_run_together_words():
    assert recover_spaces("TotalBroadbandgivesyou") == "Total Broadband gives you"
    assert recover_spaces("Thequickbrownfox") == "The quick brown fox"


def test_case_is_preserved():
    assert recover_spaces("ThequickBROWNfox") == "The quick BROWN fox"
    assert recover_spaces("MINDTHEGAP") == "MIND THE GAP"


def test_numbers_kept_whole_and_separated_from_words():
    assert recover_spaces("number48213totalamount") == "number 48213 total amount"
    assert recover_spaces("Invoice48213totalamount129.50") == "Invoice 48213 total amount 129.50"
    for text in ("9am", "5pm", "MP3", "A4", "2nd", "10kg", "129.50", "0800 555 0199"):
        assert recover_spaces(text) == text


def test_existing_spaces_and_real_words_untouched():
    for text in (
        "The quick brown fox jumps over the lazy dog",
        "broadband",
        "newsletter",
        "Invoice",
        "don't",
        "e-mail",
        "U.S.A.",
        "Exit 14",
    ):
        assert recover_spaces(text) == text


def test_non_latin_text_untouched():
    for text in ("你好世界", "价格48213元", "东京2020", "Café", "naïve"):
        assert recover_spaces(text) == text
    assert recover_spaces("你好totalamount") == "你好total amount"


def test_space_probability_forces_a_split_the_dictionary_would_miss():
    text = "Chapterseven"  # wordninja alone says "Chapters even"
    positions, probs = _signals(text, spaces_at={6: 0.4})
    assert recover_spaces(text, positions, probs) == "Chapter seven"


def test_gap_signal_chooses_between_segmentations():
    text = "Chapterseven"
    positions, probs = _signals(text, wide_at={6})  # a wide gap after "Chapter", no space probability
    assert recover_spaces(text, positions, probs) == "Chapter seven"
    positions, probs = _signals(text, wide_at={7})  # the gap after "Chapters" instead
    assert recover_spaces(text, positions, probs) == "Chapters even"


def test_gap_signal_keeps_tight_compounds_whole_and_splits_spaced_ones():
    text = "notebook"
    positions, probs = _signals(text)
    assert recover_spaces(text, positions, probs) == "notebook"
    positions, probs = _signals(text, spaces_at={3: 0.5}, wide_at={3})
    assert recover_spaces(text, positions, probs) == "note book"


def test_misread_word_not_chopped_into_fragments():
    positions, probs = _signals("ordernurmber", wide_at={4})
    assert recover_spaces("ordernurmber", positions, probs) == "order nurmber"


def test_boundary_evidence_levels():
    text = "abcdefg"
    positions, probs = _signals(text, spaces_at={0: 0.5, 1: 0.12, 2: 0.05}, wide_at={1, 4})
    ev = boundary_evidence(text, positions, probs)
    assert ev[0] == Evidence.STRONG  # high space probability
    assert ev[1] == Evidence.STRONG  # some space probability and a wide gap
    assert ev[2] == Evidence.WEAK
    assert ev[3] == Evidence.NONE
    assert ev[4] == Evidence.MEDIUM  # wide gap alone
    assert boundary_evidence(text, None, None) == [Evidence.UNKNOWN] * 6


@pytest.mark.parametrize("text", ["", "a", " ", "  two  spaces "])
def test_degenerate_inputs(text):
    assert recover_spaces(text) == text


@pytest.mark.parametrize("name", ["Sukehiro", "Zalando", "Okonkwo", "Mailchimp", "Kowalczyk", "Haverkamp"])
def test_names_and_brands_stay_whole_without_recogniser_evidence(name):
    # the dictionary alone would cut them into rare pieces ("Suke hiro", "Mail chimp")
    assert recover_spaces(name, *_signals(name)) == name
    assert recover_spaces(f"Yami {name}", *_signals(f"Yami {name}")) == f"Yami {name}"


def test_a_cut_between_common_words_needs_no_evidence_a_rare_piece_does():
    assert recover_spaces("nextright", *_signals("nextright")) == "next right"  # both common
    glued = "YamiSukehiro"
    assert recover_spaces(glued, *_signals(glued)) == glued  # case change alone: a weak hint
    assert (
        recover_spaces(glued, *_signals(glued, spaces_at={3: 0.1})) == "Yami Sukehiro"
    )  # the recogniser says so


def test_known_words_in_a_line_the_recogniser_spaced_itself_stay_whole():
    # PP-OCRv5 decodes spaces itself, and its space class is noisy inside words
    text = "Summer sale at the museum"
    noisy = {2: 0.3, 22: 0.2}  # inside "Summer" and "museum"
    assert recover_spaces(text, *_signals(text, spaces_at=noisy)) == text
    glued = "Summer saleat the museum"  # an unknown run between its spaces is still split
    assert recover_spaces(glued, *_signals(glued, spaces_at={10: 0.3})) == "Summer sale at the museum"


def test_word_costs_are_wordninjas_own_without_importing_it():
    code = (
        "import sys; from dva_ocr.ocr import words; c = words._word_costs(); "
        "print('wordninja' in sys.modules, c.get('the', 0) > 0)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "True"]
    import wordninja

    model = wordninja.DEFAULT_LANGUAGE_MODEL
    ours = words._word_costs()
    assert ours.maxword == model._maxword
    assert len(ours._rank) == len(model._wordcost)
    for word, cost in model._wordcost.items():
        assert ours.get(word, -1.0) == cost, word  # the same float, not just close
    assert ours.get("qzxqzx", -1.0) == -1.0 and "qzxqzx" not in model._wordcost
