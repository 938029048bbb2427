"""GET /api/media/{id}/frames/at: the sampled frame on screen at a time (the player's "sampled frame"
view). Real PostgreSQL, the real app."""

from __future__ import annotations

from factories import frame_row, make_video_row
from fastapi.testclient import TestClient

from dva_ocr.db.session import session_scope
from dva_ocr.users import create_user, issue_token
from dva_ocr.web import create_app
from dva_ocr.work import RecordingQueue


def test_the_frame_at_a_time_is_the_latest_sampled_at_or_before_it(db):
    with session_scope() as s:
        user = create_user(session=s, name="ivo", password="correct horse battery")
        _, token = issue_token(session=s, user=user, name="t")
        v = make_video_row(s, "slides.mp4")
        for index, time_s in ((0, 0.5), (1, 4.0), (2, 9.25)):  # scene sampling: uneven times
            frame_row(s, v, index).time_s = time_s
        empty = make_video_row(s, "queued.mp4", status="queued")
        vid, empty_id = v.id, empty.id
    c = TestClient(create_app(queue=RecordingQueue()), headers={"Authorization": f"Bearer {token}"})

    def at(t: float) -> tuple[int, float]:
        body = c.get(f"/api/media/{vid}/frames/at", params={"t": t}).json()
        assert (body["media_id"], body["width"], body["height"]) == (vid, 1280, 720)
        return body["index"], body["time"]

    assert at(0) == (0, 0.5)  # before the first sample: the first
    assert at(3.99) == (0, 0.5) and at(4.0) == (1, 4.0) and at(9.0) == (1, 4.0)
    assert at(600) == (2, 9.25)
    none = c.get(f"/api/media/{empty_id}/frames/at", params={"t": 1})
    assert none.status_code == 404 and "no sampled frames" in none.json()["error"]
    assert c.get("/api/media/999999/frames/at").status_code == 404
    assert c.get(f"/api/media/{vid}/frames/at", params={"t": -1}).status_code == 400
