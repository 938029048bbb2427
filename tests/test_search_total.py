"""A search's total on all pages (``Results.total``), and when it is only a floor: full-text hits
filled the page (the other kinds were not looked for), or only the first COMMON_WORDS_CAP texts of a
common-words query were ranked. The search page says which. Real PostgreSQL."""

from __future__ import annotations

import pytest
from factories import add_frame, make_video_row
from fastapi.testclient import TestClient

import dva_ocr.search as search_module
from dva_ocr.db.session import session_scope
from dva_ocr.search import search
from dva_ocr.users import create_user, issue_token
from dva_ocr.web import create_app
from dva_ocr.web.pages import search as search_page
from dva_ocr.work import RecordingQueue


@pytest.fixture()
def invoices(db) -> int:
    with session_scope() as s:
        v = make_video_row(s, "ledger.mp4")
        for i, value in enumerate(["Invoice 101", "Invoice 102", "Invoice 103", "lnvoice 104"]):
            add_frame(s, v, i, [value])
        for value in ["Lord of the Rings", "Tower of the Moon", "Out of the blue"]:  # one text each
            add_frame(s, make_video_row(s, f"{value}.mp4"), 0, [value])
        return v.id


def test_total_counts_every_kind_or_says_it_is_a_floor(invoices, monkeypatch):
    with session_scope() as s:
        everything = search(s, "invoice")
        assert len(everything) == 4 and everything.total == 4 and everything.total_complete
        assert {h.match for h in everything} == {"fulltext", "folded"}

        # two full-text hits fill the page: the folded one is not looked for, the total is a floor
        first = search(s, "invoice", limit=2)
        assert [h.match for h in first] == ["fulltext", "fulltext"]
        assert (first.total, first.total_complete) == (3, False)
        # the last page needed the other kinds, so it counts them all
        last = search(s, "invoice", limit=2, offset=2)
        assert [h.match for h in last] == ["fulltext", "folded"]
        assert (last.total, last.total_complete) == (4, True)

        past = search(s, "invoice", offset=10)
        assert list(past) == [] and past.total is None
        none = search(s, "harbour")
        assert list(none) == [] and none.total == 0 and none.total_complete
        filtered = search(s, "invoice", time_from=1.5)
        assert filtered.total == 3  # on screen after 1.5 s: 102 (until 2 s), 103, 104

        # common words only: ranked among the first COMMON_WORDS_CAP texts, so at least that many
        assert search(s, "of the").total == 3
        monkeypatch.setattr(search_module, "COMMON_WORDS_CAP", 2)
        capped = search(s, "of the")
        assert (capped.total, capped.total_complete) == (2, False)


def test_search_page_shows_the_total(invoices, monkeypatch):
    with session_scope() as s:
        user = create_user(session=s, name="tia", password="correct horse battery")
        _, token = issue_token(session=s, user=user, name="t")
    client = TestClient(create_app(queue=RecordingQueue()), headers={"Authorization": f"Bearer {token}"})
    page = client.get("/search", params={"q": "invoice"}).text
    assert 'data-total="4"' in page and '<strong class="total">4</strong> hits' in page
    monkeypatch.setattr(search_page, "SEARCH_PAGE_SIZE", 2)
    page = client.get("/search", params={"q": "invoice"}).text
    assert 'data-total="3"' in page and 'at least <strong class="total">3</strong> hits' in page
