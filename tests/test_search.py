"""Search semantics on real PostgreSQL: websearch syntax, ranking, trigram fallback, safety."""

from __future__ import annotations

import pytest
from factories import add_frame, make_video_row

from dva_ocr.db.session import session_scope
from dva_ocr.search import highlight, search, segments


@pytest.fixture()
def corpus(db):
    with session_scope() as s:
        a = make_video_row(s, "news.mp4")
        b = make_video_row(s, "trains.mp4")
        add_frame(s, a, 3, ["Breaking news from the harbour"])
        add_frame(s, a, 4, ["Exit 14 next right", "Invoice number 48213"])
        add_frame(s, b, 7, ["Platform nine departures"])
        add_frame(s, b, 9, ["Trains departing every hour"])
        return a.id, b.id


def _texts(hits):
    return sorted(h.text for h in hits)


def test_words_are_stemmed_and_hits_carry_media_time_and_box(corpus):
    with session_scope() as s:
        hits = search(s, "departure")
        assert _texts(search(s, "train")) == ["Trains departing every hour"]
    assert _texts(hits) == ["Platform nine departures"]
    h = next(h for h in hits if h.text.startswith("Platform"))
    assert (h.media_id, h.time, h.box, h.match) == (corpus[1], 7.0, (10, 20, 200, 40), "fulltext")
    assert h.score > 0


def test_phrase_or_and_exclusion(corpus):
    with session_scope() as s:
        assert _texts(search(s, '"next right"')) == ["Exit 14 next right"]
        # word order matters in a phrase, also space-insensitively ("rightnext" is not in the text)
        assert search(s, '"right next"') == []
        assert _texts(search(s, "harbour OR invoice")) == [
            "Breaking news from the harbour",
            "Invoice number 48213",
        ]
        assert search(s, "departing -hour", fuzzy=False) == []
        assert all("hour" not in h.text for h in search(s, "departing -hour"))  # fallback excludes too
        assert _texts(search(s, "departures -hour")) == ["Platform nine departures"]


def test_video_filter_and_limit(corpus):
    with session_scope() as s:
        assert search(s, "departures", media_id=corpus[0]) == []
        assert len(search(s, "departures OR news", limit=1)) == 1


def test_typos_and_partial_words_fall_back_to_trigrams(corpus):
    with session_scope() as s:
        typo = search(s, "Invoise")
        assert [h.text for h in typo] == ["Invoice number 48213"] and typo[0].match == "fuzzy"
        part = search(s, "4821")  # a part of a number, which full text cannot match
        assert [h.text for h in part] == ["Invoice number 48213"] and part[0].match == "compact"
        assert search(s, "Invoise", fuzzy=False) == []


@pytest.mark.parametrize("query", ['"unclosed', "a & | ! b", "((", "-", "OR", "':*", "\\", "%_%", "😀"])
def test_odd_syntax_never_raises(corpus, query):
    with session_scope() as s:
        assert isinstance(search(s, query), list)


def test_only_the_media_items_current_model_version_is_searched(corpus):
    from factories import FakeRegion

    from dva_ocr.db.tables import Frame, ModelVersion
    from dva_ocr.pipeline import save_frame_regions

    with session_scope() as s:
        other = ModelVersion(name="custom-v2", kind="pipeline", files={}, params={})
        s.add(other)
        s.flush()
        frame = s.query(Frame).filter(Frame.video_id == corpus[0]).first()
        save_frame_regions(s, frame, other.id, [FakeRegion("zeppelin sighting")], 1.0)
    with session_scope() as s:
        assert search(s, "zeppelin") == []


def _marked(hits, spans):
    """Each hit's highlighted words, in order."""
    return [[h.text[a:b] for a, b in s] for h, s in zip(hits, spans, strict=True)]


def test_highlight_gives_the_matched_character_ranges(corpus):
    with session_scope() as s:
        stemmed = search(s, "departure")
        assert highlight(s, "departure", stemmed) == [[(14, 24)]]  # "departures", stemmed match
        phrase = search(s, '"next right"')
        assert _marked(phrase, highlight(s, '"next right"', phrase)) == [["next", "right"]]
        both = search(s, "harbour OR invoice")
        marks = _marked(both, highlight(s, "harbour OR invoice", both))
        assert dict(zip([h.text for h in both], marks, strict=True)) == {
            "Breaking news from the harbour": ["harbour"],
            "Invoice number 48213": ["Invoice"],
        }
        typo = search(s, "Invoise")
        assert typo[0].match == "fuzzy" and highlight(s, "Invoise", typo) == [[(0, 7)]]
        part = search(s, "4821")
        assert _marked(part, highlight(s, "4821", part)) == [["4821"]]  # the characters it matched
        assert highlight(s, "departure", []) == []


def test_highlight_offsets_hold_for_odd_text_and_queries(corpus):
    from dva_ocr.search import Hit

    def hit(text, match="fulltext"):
        return Hit(0, "x", 0, 0.0, None, text, (0, 0, 1, 1), 1.0, match)

    odd = ["  départs:\tDepartures\x01 x", "<b>Departures</b> & \x02departures", "no match here", ""]
    with session_scope() as s:
        spans = highlight(s, "departures", [hit(t) for t in odd])
        for query in ('"unclosed', "((", "-", "OR", "\\"):  # no lexemes: nothing marked, never an error
            assert highlight(s, query, [hit(t) for t in odd]) == [[]] * len(odd)
    assert [[t[a:b] for a, b in sp] for t, sp in zip(odd, spans, strict=True)] == [
        ["Departures"],
        ["Departures", "departures"],
        [],
        [],
    ]


def test_segments_cut_the_text_at_the_spans():
    assert segments("Exit 14 next right", [(8, 12), (13, 18)]) == [
        ("Exit 14 ", False),
        ("next", True),
        (" ", False),
        ("right", True),
    ]
    assert segments("abc", []) == [("abc", False)]
    assert segments("abcdef", [(2, 4), (3, 5)]) == [("ab", False), ("cd", True), ("e", True), ("f", False)]
