"""Search that forgives OCR, on real PostgreSQL: each matching rule with a text it must find and one it
must not (so no rule matches everything), how the rules combine with AND / OR / -not, one score scale,
CJK substrings, common-word queries, hostile queries, and the forms' Python mirror against the SQL."""

from __future__ import annotations

import threading

import pytest
from factories import FakeRegion, frame_row, make_video_row
from sqlalchemy import text

from dva_ocr.db.session import session_scope
from dva_ocr.pipeline import build_video_tracks, save_frame_regions
from dva_ocr.search import MAX_OFFSET, SearchError, forms, highlight, search

TEXTS = [
    # (second, text, raw_text, confidence)
    (1, "Coffee platform opens at nine", "Coffee platform opens at nine", 0.95),
    (2, "Coffee shop", "Coffeeshop", 0.97),
    (3, "Yami Suke hiro", "YamiSuke hiro", 0.9),  # word-space recovery split a name
    (4, "Suke Tanaka hiro", "Suke Tanaka hiro", 0.9),
    (5, "Total Broadband", "TotalBroadband", 0.93),
    (6, "groceryshopping list", "groceryshopping list", 0.9),  # glued words
    (7, "Invoice 4471", "Invoice 4471", 0.8),
    (8, "lnvoice A7X-2231", "lnvoiceA7X-2231", 0.96),  # a misread I, and a code
    (9, "Please involve everyone", "Please involve everyone", 0.9),
    (10, "EXIT 14", "EXIT14", 0.92),
    (11, "Extra time", "Extratime", 0.92),
    (12, "東京タワー展望台", "東京タワー展望台", 0.9),
    (13, "Lord of the Rings", "Lordofthe Rings", 0.9),
    (14, "the Lord of Rings", "theLordof Rings", 0.9),
    (15, "Ticket 2232 valid", "Ticket2232 valid", 0.9),
    (16, "Linda Watanabe", "LindaWatanabe", 0.95),
    (17, "lnida", "lnida", 0.6),  # a misread that puts the junk word "lnida" in the vocabulary
]


@pytest.fixture()
def corpus(db):
    with session_scope() as s:
        v = make_video_row(s, "forgiving.mp4")
        for sec, value, raw, conf in TEXTS:
            frame = frame_row(s, v, sec)
            box = (10, 40 * sec, 300, 30)  # apart, so that no two texts join one track
            region = FakeRegion(value, box=box, raw_text=raw, confidence=conf)
            save_frame_regions(s, frame, v.model_version_id, [region], 1.0)
        v.tracks_count = build_video_tracks(s, v, v.model_version_id)
        return v.id


def found(query: str, level: str = "tracks", **kw) -> dict[str, str]:
    """text -> how it matched."""
    with session_scope() as s:
        return {h.text: h.match for h in search(s, query, level=level, **kw)}


@pytest.mark.parametrize("level", ["tracks", "regions"])
def test_each_typo_is_matched_on_its_own_and_the_words_combine(corpus, level):
    both = found("Cofee platfrom", level)
    assert both == {"Coffee platform opens at nine": "fuzzy"}  # two typos, ANDed: not "Coffee shop"
    assert set(found("Cofee OR platfrom", level)) == {"Coffee platform opens at nine", "Coffee shop"}
    assert set(found("Cofee -platform", level)) == {"Coffee shop"}
    assert found("Exti", level) == {"EXIT 14": "fuzzy"}  # a swap of neighbours; "Extra" is two edits away


def test_a_typo_that_is_also_a_misread_word_is_corrected_when_nothing_matches(corpus):
    with session_scope() as s:
        hits = search(s, "lnida watanbe")  # "lnida" is known (a misread), so first read as typed: no hit
        assert [(h.text, h.match) for h in hits] == [("Linda Watanabe", "fuzzy")]
        assert any("near spellings" in n for n in hits.notes)
        assert [h.text for h in search(s, "lnida")] == ["lnida"]  # found as typed: no retry


def test_space_insensitive_matching_bridges_split_and_glued_words(corpus):
    assert found("Sukehiro") == {"Yami Suke hiro": "compact"}  # not "Suke Tanaka hiro"
    assert found("TotalBroadband") == {"Total Broadband": "fulltext"}  # its raw string has the glued form
    assert found('"Total Broadband"') == {"Total Broadband": "fulltext"}
    assert found("grocery shopping") == {"groceryshopping list": "compact"}
    assert found("grocery shopping", fuzzy=False) == {}
    assert found("Yami Sukehiro") == {"Yami Suke hiro": "compact"}
    assert found("coffee shop") == {"Coffee shop": "fulltext"}
    # the words as one run too: "tim" is too short to be matched inside a word, "extratim" is a run
    assert found("extra tim") == {"Extra time": "compact"}
    assert found("extra timber") == {}  # neither the words, nor the run, nor a near spelling


def test_folded_ocr_confusions_rank_right_after_exact_hits(corpus):
    with session_scope() as s:
        hits = search(s, "invoice")
        assert [(h.text, h.match) for h in hits] == [
            ("Invoice 4471", "fulltext"),
            ("lnvoice A7X-2231", "folded"),
        ]
        assert hits[0].score > hits[1].score  # the exact hit is less confident, yet first
        # pages cross from full-text hits to the others as one ranking does
        pages = [search(s, "invoice", limit=1, offset=k) for k in range(3)]
        assert [[h.text for h in p] for p in pages] == [["Invoice 4471"], ["lnvoice A7X-2231"], []]
        assert _marked(s, "invoice", hits) == [["Invoice"], ["lnvoice"]]
    assert "Please involve everyone" not in found("invoice")  # "involve" folds to itself, not to "invoice"


def test_codes_and_numbers_match_as_typed_never_as_a_near_number(corpus):
    assert found("2231") == {"lnvoice A7X-2231": "compact"}  # full text reads "-2231" as a signed number
    assert found("A7X2231") == {"lnvoice A7X-2231": "compact"}
    assert "lnvoice A7X-2231" not in found("2232")
    assert found("2232") == {"Ticket 2232 valid": "fulltext"}


def test_cjk_text_is_found_by_any_two_character_substring(corpus):
    for q in ("東京", "タワ", "展望台", "東京タワー展望台"):
        assert found(q) == {"東京タワー展望台": "compact" if q != "東京タワー展望台" else "fulltext"}, q
    assert found("京東") == {}
    assert found("台東") == {}
    with session_scope() as s:
        hits = search(s, "タワ")
        assert _marked(s, "タワ", hits) == [["タワ"]]


def test_common_words_only_are_searched_as_a_phrase_and_say_they_were_capped(corpus):
    with session_scope() as s:
        hits = search(s, "of the")
        assert {h.text for h in hits} == {"Lord of the Rings"}  # not "the Lord of Rings"
        assert hits.notes and "common words" in hits.notes[0]
        assert search(s, "a").notes  # too short to search alone: said, not silently empty
        mixed = search(s, "the coffee")
        assert {h.text for h in mixed} == {"Coffee platform opens at nine", "Coffee shop"}
        assert any("the" in n for n in mixed.notes)


def test_scores_are_on_one_scale_by_kind(corpus):
    with session_scope() as s:
        kinds = {}
        for q in ("coffee", "Sukehiro", "invoice", "Exti"):
            for h in search(s, q):
                kinds.setdefault(h.match, []).append(h.score)
    bands = {"fulltext": (0.75, 1.0), "compact": (0.5, 0.75), "folded": (0.25, 0.5), "fuzzy": (0.0, 0.25)}
    assert set(kinds) == set(bands)
    for kind, scores in kinds.items():
        lo, hi = bands[kind]
        assert all(lo <= v < hi for v in scores), (kind, scores)


def test_filters_and_deep_pages(corpus):
    assert found("coffee", time_from=2, time_to=2, level="regions") == {"Coffee shop": "fulltext"}
    assert found("coffee", min_confidence=0.96) == {"Coffee shop": "fulltext"}
    assert found("coffee", media_id=corpus + 1) == {}
    with session_scope() as s:
        assert len(search(s, "coffee", limit=1, offset=1)) == 1
        with pytest.raises(SearchError, match="deepest page"):
            search(s, "coffee", offset=MAX_OFFSET + 1)


@pytest.mark.parametrize(
    "query",
    ['"unclosed', 'a "b', "\\", "\\\\'", "':*", "coffee:*", "&|!", "a & | ! b", "((", "-", "OR", "OR OR",
     "%_%", "\x00coffee\x00", "😀", "'; DROP TABLE regions; --", "-coffee", 'coffee "" -""'],
)  # fmt: skip
def test_hostile_queries_give_results_or_a_clear_error(corpus, query):
    with session_scope() as s:
        assert isinstance(search(s, query), list)
        highlight(s, query, search(s, "coffee"))
    assert found("\x00coffee\x00") == found("coffee")


def test_too_long_or_too_many_terms_is_refused_not_cut(corpus):
    with session_scope() as s:
        with pytest.raises(SearchError, match="characters"):
            search(s, "coffee " * 1500)
        with pytest.raises(SearchError, match="terms"):
            search(s, " ".join(f"w{i}" for i in range(40)))


def test_python_forms_mirror_the_sql_functions(db):
    samples = [v for _, v, _, _ in TEXTS] + [
        "Ｙａｍｉ　Ｓｕｋｅ", "l|nvoice!", "Café déjà-vu", "１２：３０", "ﬁle",
        "A-1_b.2", "東京、タワー。", "서울 타워", "カタカナ", "x", "", "  ", "O0o Il1| S5 B8 Z2",
    ]  # fmt: skip
    with session_scope() as s:
        rows = s.execute(
            text(
                "SELECT dva_compact(u), dva_fold(u), dva_cjk_bigrams(u) FROM unnest(CAST(:v AS text[])) AS u"
            ),
            {"v": samples},
        ).all()
    for value, (c, f, g) in zip(samples, rows, strict=True):
        assert (forms.compact(value), forms.folded(value), forms.cjk_bigrams(value)) == (c, f, g), value


def test_the_vocabulary_follows_writes_and_concurrent_writers_do_not_deadlock(db):
    words = [f"word{chr(97 + i)}{chr(97 + j)}" for i in range(20) for j in range(20)]
    errors: list[BaseException] = []
    start = threading.Barrier(6)
    with session_scope() as s:
        make_video_row(s, "first.mp4")  # the model version row exists before the writers start

    def write(n: int) -> None:
        order = list(reversed(words)) if n % 2 else words
        try:
            with session_scope() as s:
                v = make_video_row(s, f"vocab{n}.mp4")
                for k in range(0, len(order), 40):  # several INSERTs per transaction, as a worker's chunk
                    frame = frame_row(s, v, k)
                    regions = [
                        FakeRegion(" ".join(order[i : i + 8]), box=(10, 5 * (i - k), 300, 30))
                        for i in range(k, k + 40, 8)
                    ]
                    save_frame_regions(s, frame, v.model_version_id, regions, 1.0)
                start.wait(timeout=30)
                build_video_tracks(s, v, v.model_version_id)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=90)
    assert not errors and not any(t.is_alive() for t in threads)
    with session_scope() as s:
        known = set(s.execute(text("SELECT word FROM search_words")).scalars())
        assert set(words) <= known
        assert found("wordzz") == {}  # two edits from every word of the texts
        hits = search(s, "wordqa", level="regions")
        assert len(hits) == 6 and {h.match for h in hits} == {"fulltext"}


def _marked(s, query, hits):
    return [[h.text[a:b] for a, b in spans] for h, spans in zip(hits, highlight(s, query, hits), strict=True)]
