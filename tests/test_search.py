"""Search semantics on real PostgreSQL: websearch syntax, ranking, trigram fallback, safety."""

from __future__ import annotations

import pytest
from factories import add_frame, make_video_row

from dva_ocr.db.session import session_scope
from dva_ocr.search import search


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
        # word order matters in a phrase: no exact hit, only the typo-tolerant fallback
        assert {h.match for h in search(s, '"right next"')} == {"fuzzy"}
        assert search(s, '"right next"', fuzzy=False) == []
        assert _texts(search(s, "harbour OR invoice")) == [
            "Breaking news from the harbour",
            "Invoice number 48213",
        ]
        assert search(s, "departing -hour", fuzzy=False) == []
        assert all("hour" not in h.text for h in search(s, "departing -hour"))  # fallback excludes too
        assert _texts(search(s, "departures -hour")) == ["Platform nine departures"]


def test_video_filter_and_limit(corpus):
    with session_scope() as s:
        assert search(s, "departures", video_id=corpus[0]) == []
        assert len(search(s, "departures OR news", limit=1)) == 1


def test_typos_and_partial_words_fall_back_to_trigrams(corpus):
    with session_scope() as s:
        typo = search(s, "Invoise")
        assert [h.text for h in typo] == ["Invoice number 48213"] and typo[0].match == "fuzzy"
        part = search(s, "4821")  # a part of a number, which full text cannot match
        assert [h.text for h in part] == ["Invoice number 48213"] and part[0].match == "fuzzy"
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
