"""The API's response models: OpenAPI describes every JSON body and the real error shape, and the bodies
the routes send are the library's, key for key (a model that left a key out would drop it)."""

from __future__ import annotations

import json

import pytest
from factories import add_frame, make_video_row
from fastapi.testclient import TestClient

from dva_ocr import jobs, media_admin, model_registry
from dva_ocr.db.session import session_scope
from dva_ocr.db.tables import ModelVersion
from dva_ocr.users import create_user, issue_token
from dva_ocr.web import create_app, schemas
from dva_ocr.work import RecordingQueue, submit

NOT_JSON = {  # 204, files
    ("delete", "/api/media/{media_id}"),
    ("delete", "/api/tokens/{token_id}"),
    ("get", "/api/media/{media_id}/export"),
    ("get", "/api/media/export.zip"),
}


@pytest.fixture()
def queued() -> RecordingQueue:
    return RecordingQueue()


@pytest.fixture()
def client(db, queued):
    with session_scope() as s:
        user = create_user(session=s, name="ana", password="correct horse", is_admin=True)
        _, token = issue_token(session=s, user=user, name="tests")
    app = create_app(queue=queued)
    return TestClient(app, headers={"Authorization": f"Bearer {token}"}, follow_redirects=False)


def _plain(value):
    """What a value looks like once sent as JSON."""
    return json.loads(json.dumps(value))


def _same(body: dict, model: type, expected: dict) -> None:
    """The body validates, is what the library built, and the model keeps every key of it."""
    assert body == _plain(expected)
    assert model.model_validate(body).model_dump(mode="json", exclude_unset=True) == body


def test_openapi_describes_every_json_body_and_the_real_errors(client):
    doc = client.get("/openapi.json").json()
    components = doc["components"]["schemas"]
    checked = 0
    for path, methods in doc["paths"].items():
        for method, op in methods.items():
            responses = op["responses"]
            assert "422" not in responses, (method, path)
            if not path.startswith("/api/") or (method, path) in NOT_JSON:
                continue
            ok = responses.get("200") or responses.get("201")
            assert ok, (method, path, responses)
            ref = ok["content"]["application/json"]["schema"]["$ref"]
            assert ref.startswith("#/components/schemas/") and ref.rsplit("/", 1)[1] in components
            for code, answer in responses.items():
                if code.startswith("4"):
                    assert answer["content"]["application/json"]["schema"]["$ref"].endswith("/Error")
            if path != "/api/health":
                assert "401" in responses, (method, path)
            checked += 1
    assert checked >= 18
    assert "HTTPValidationError" not in components and "ValidationError" not in components
    assert set(components["Error"]["properties"]) == {"error", "problems"}
    assert components["Error"]["required"] == ["error"]
    assert "highlights" in components["SearchHit"]["required"]
    media = doc["paths"]["/api/media"]["post"]["responses"]
    assert {"400", "401", "403", "413", "415"} <= set(media)
    assert "400" in doc["paths"]["/api/search"]["get"]["responses"]  # validation: 400, not 422
    assert "404" in doc["paths"]["/api/media/{media_id}"]["get"]["responses"]
    assert doc["paths"]["/api/health"]["get"]["responses"]["503"]["content"]["application/json"]["schema"]


def test_bodies_are_the_librarys_and_validate_against_their_models(client, queued):
    with session_scope() as s:
        v = make_video_row(s, "news.mp4")
        add_frame(s, v, 3, ["Breaking news from the harbour"])
        add_frame(s, v, 4, ["Platform nine departures"])
        failed = make_video_row(s, "broken.mp4", status="failed")
        failed.error = "not a media file"
        custom = ModelVersion(
            name="custom-v2",
            kind="pipeline",
            files={
                "files": [{"role": "rec", "name": "r.onnx", "sha256": "ab" * 32, "path": "models/r.onnx"}]
            },
            params={"rec": {"height": 48}},
        )
        s.add(custom)
        vid, fid = v.id, failed.id

    with session_scope() as s:
        video = media_admin.get_media(s, vid)
        _same(client.get(f"/api/media/{vid}").json(), schemas.MediaItem, media_admin.media_json(video))
        _same(
            client.get("/api/media").json(),
            schemas.MediaList,
            {"items": [media_admin.media_json(x) for x in media_admin.list_media(s)], "total": 2}
            | {"limit": 200, "offset": 0},
        )
        _same(
            client.get(f"/api/media/{vid}/regions").json(),
            schemas.Regions,
            {"media_id": vid, "regions": media_admin.regions_of(s, vid)},
        )
        _same(
            client.get(f"/api/media/{vid}/tracks").json(),
            schemas.Tracks,
            {"media_id": vid, "tracks": [media_admin.track_json(t) for t in media_admin.tracks_of(s, vid)]},
        )
        default = model_registry.default_model_name(s)
        models = [
            model_registry.model_json(mv, n, default=default) for mv, n in model_registry.list_models(s)
        ]
    listed = client.get("/api/models").json()
    _same(listed, schemas.Models, {"default": default, "models": models})
    files = {m["name"]: m["files"] for m in listed["models"]}
    assert "path" in files["custom-v2"][0] and all("path" not in f for f in files["ppocrv4"])

    hits = client.get("/api/search", params={"q": "departure"}).json()
    assert schemas.SearchResults.model_validate(hits).hits[0].highlights == [(14, 24)]
    _same(
        client.post(f"/api/media/{fid}/retry").json(),
        schemas.MediaItem,
        client.get(f"/api/media/{fid}").json(),
    )

    with session_scope() as s:
        job = submit.submit_job(s, queued, "custom-v2", media=[vid])
        job_id = job.id
    with session_scope() as s:
        expected_job = jobs.job_json(s, jobs.get_job(s, job_id))
        expected_compare = {"job_id": job_id, "media": jobs.compare(s, job_id)}
    _same(client.get(f"/api/jobs/{job_id}").json(), schemas.Job, expected_job)
    _same(client.get("/api/jobs").json(), schemas.Jobs, {"jobs": [expected_job]})
    _same(client.get(f"/api/jobs/{job_id}/compare").json(), schemas.Compare, expected_compare)
    cancelled = client.post(f"/api/jobs/{job_id}/cancel").json()
    assert schemas.Job.model_validate(cancelled).status == "cancelled"

    activated = client.post("/api/models/custom-v2/activate").json()
    assert "media" not in activated  # only the list says how many media use a version
    with session_scope() as s:
        _same(
            activated,
            schemas.Model,
            model_registry.model_json(model_registry.get_or_create_model_version(s, "custom-v2")),
        )

    assert schemas.Me.model_validate(client.get("/api/me").json()).name == "ana"
    _same(
        client.get("/api/health").json(), schemas.Health, {"database": True, "broker": True, "status": "ok"}
    )


def test_errors_have_the_documented_shape(client):
    missing = client.get("/api/media/999")
    assert missing.status_code == 404 and schemas.Error.model_validate(missing.json()).problems is None
    invalid = client.get("/api/search", params={"q": "x", "limit": 0})
    assert invalid.status_code == 400
    assert schemas.Error.model_validate(invalid.json()).problems
    assert client.post("/api/jobs/999/promote").status_code == 404
    refused = client.post("/api/jobs", json={"model": "ppocrv4"})  # no media chosen
    assert refused.status_code == 400 and schemas.Error.model_validate(refused.json()).error
