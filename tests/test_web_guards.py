"""What guards every request and response: security headers, files served by their bytes (the stored
XSS of issue 12), the body limit while streaming, authentication before the body, pixel limits, and
out-of-range or NUL inputs answered 400. The app in-process, and the real server for raw sockets."""

from __future__ import annotations

import io
import re
import socket
import time
from urllib.parse import urlparse

import pytest
from fastapi.testclient import TestClient
from mediagen import Caption, make_video, png_header

from dva_ocr.db.session import session_scope
from dva_ocr.settings import Settings
from dva_ocr.users import create_user, issue_token
from dva_ocr.web import create_app
from dva_ocr.work import RecordingQueue

PASSWORD = "correct horse battery"


@pytest.fixture()
def token(db) -> str:
    with session_scope() as s:
        user = create_user(session=s, name="gus", password=PASSWORD, is_admin=True)
        _, tok = issue_token(session=s, user=user, name="tests")
    return tok


@pytest.fixture()
def client(token) -> TestClient:
    return TestClient(
        create_app(queue=RecordingQueue()),
        headers={"Authorization": f"Bearer {token}"},
        follow_redirects=False,
    )


def test_pages_and_api_carry_security_headers_and_a_nonce_csp(db):
    with session_scope() as s:
        create_user(session=s, name="hal", password=PASSWORD)
    c = TestClient(create_app(queue=RecordingQueue()), follow_redirects=False)
    login = c.get("/login")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', login.text).group(1)
    c.post("/login", data={"username": "hal", "password": PASSWORD, "next": "/", "csrf_token": csrf})
    for path in ("/", "/upload", "/api/media", "/login"):
        res = c.get(path)
        assert res.status_code == 200, path
        assert res.headers["x-content-type-options"] == "nosniff"
        assert res.headers["x-frame-options"] == "DENY"
        assert res.headers["referrer-policy"] == "same-origin"
        csp = res.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp and "http" not in csp
    page = c.get("/")
    nonce = re.search(r"'nonce-([^']+)'", page.headers["content-security-policy"]).group(1)
    scripts = re.findall(r"<script([^>]*)>", page.text)
    inline = [attrs for attrs in scripts if "src=" not in attrs]
    assert inline and all(f'nonce="{nonce}"' in attrs for attrs in inline)  # every inline script may run
    assert "onsubmit=" not in c.get("/settings").text  # no inline handlers: the CSP would block them
    assert nonce not in c.get("/").headers["content-security-policy"]  # a fresh nonce per response


def test_a_video_uploaded_as_html_is_served_as_video_never_as_a_page(client, tmp_path):
    video = make_video(
        tmp_path / "v.mp4", [Caption("<script>alert(1)</script>", 0, 1)], duration=1, size="160x120"
    )
    for name in ("notes.html", "drawing.svg"):
        with video.open("rb") as f:
            res = client.post("/api/media", files={"file": (name, f, "text/html")})
        assert res.status_code == 201, res.text
        got = client.get(f"/files/media/{res.json()['id']}/original")
        assert got.status_code == 200
        assert got.headers["content-type"] == "video/mp4"  # from the bytes, not from the name
        assert got.headers["x-content-type-options"] == "nosniff"
        assert got.headers["content-security-policy"].startswith("sandbox;")
        assert "attachment" not in got.headers.get("content-disposition", "")  # the player shows it
    # an AVI is no type the player shows: it is downloaded, not rendered
    avi = tmp_path / "clip.avi"
    import subprocess

    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "color=c=blue:s=64x64:d=1", "-c:v", "mjpeg", str(avi)],
        check=True,
    )
    with avi.open("rb") as f:
        media_id = client.post("/api/media", files={"file": ("page.html", f, "text/html")}).json()["id"]
    got = client.get(f"/files/media/{media_id}/original")
    assert got.headers["content-type"] == "video/x-msvideo"
    assert got.headers["content-disposition"].startswith("attachment;")
    assert "page.html" in got.headers["content-disposition"]


def test_images_over_the_pixel_limit_are_refused_at_upload_saying_so(db, token):
    app = create_app(settings=Settings(image_max_pixels=50_000_000), queue=RecordingQueue())
    c = TestClient(app, headers={"Authorization": f"Bearer {token}"})
    for side in (16_000, 30_000):
        res = c.post(
            "/api/media", files={"file": ("huge.png", io.BytesIO(png_header(side, side)), "image/png")}
        )
        assert res.status_code == 413, res.text
        error = res.json()["error"]
        assert f"{side} x {side} pixels" in error and "IMAGE_MAX_PIXELS" in error and "corrupt" not in error
    small = c.post("/api/media", files={"file": ("ok.png", io.BytesIO(png_header(640, 480)), "image/png")})
    assert small.status_code == 201


def test_out_of_range_ids_offsets_and_nul_bytes_are_400s(client):
    for url in (
        "/api/search?q=a%00b",
        "/api/search?q=harbour&offset=9223372036854775808",
        "/api/search?q=harbour&media=2147483648",
        "/api/media?offset=9223372036854775808",
        "/api/media/2147483648",
        "/api/media/2147483648/tracks",
        "/api/jobs/99999999999",
        "/files/media/2147483648/original",
        "/files/media/1/frames/2147483648.jpg",
    ):
        res = client.get(url)
        assert res.status_code == 400, (url, res.status_code, res.text)
        assert "error" in res.json()
    res = client.post("/api/jobs", json={"model": "ppocrv4", "media": [2**31]})
    assert res.status_code == 400 and "media" in res.text
    assert client.get("/search?media=%C2%B2&q=harbour").status_code == 200  # not a digit: ignored
    assert client.get("/search?q=a%00b").status_code == 400


def test_a_chunked_upload_over_the_limit_is_cut_off_and_leaves_nothing(db, token, service_env, tmp_path):
    from pathlib import Path

    app = create_app(settings=Settings(upload_max_bytes=1 << 20), queue=RecordingQueue())
    c = TestClient(app, headers={"Authorization": f"Bearer {token}"})
    uploads = Path(service_env["MEDIA_ROOT"]) / "uploads"
    before = set(uploads.rglob("*")) if uploads.exists() else set()

    def body():  # no Content-Length: sent chunked
        boundary = b"--b0undary"
        yield boundary + b'\r\nContent-Disposition: form-data; name="file"; filename="big.mp4"\r\n\r\n'
        for _ in range(40):
            yield b"\0" * (64 << 10)
        yield b"\r\n" + boundary + b"--\r\n"

    res = c.post(
        "/api/media", content=body(), headers={"Content-Type": "multipart/form-data; boundary=b0undary"}
    )
    assert res.status_code == 413 and "upload limit of 1 MiB" in res.json()["error"]
    after = set(uploads.rglob("*")) if uploads.exists() else set()
    assert {p for p in after - before if p.is_file()} == set()
    # a JSON body elsewhere has its own small limit
    res = c.post(
        "/api/jobs", content=b"[" + b"1," * (2 << 20) + b"1]", headers={"Content-Type": "application/json"}
    )
    assert res.status_code == 413


def _raw_post(url: str, path: str, headers: dict[str, str], chunks: int) -> tuple[str, int]:
    """POST a chunked body of ``chunks`` x 64 KiB to the real server; the status line and how many
    chunks it took before the server answered (or the whole body was sent)."""
    u = urlparse(url)
    sock = socket.create_connection((u.hostname, u.port), timeout=10)
    head = f"POST {path} HTTP/1.1\r\nHost: {u.netloc}\r\nTransfer-Encoding: chunked\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    sock.sendall(head.encode())
    sock.settimeout(0.05)
    sent = 0
    answer = b""
    try:
        for n in range(1, chunks + 1):
            sent = n
            try:
                sock.sendall(b"10000\r\n" + b"\0" * 0x10000 + b"\r\n")
            except OSError:
                break  # the server closed the connection
            try:
                answer += sock.recv(4096)
            except (TimeoutError, BlockingIOError):
                continue
            if answer:
                break
        sock.settimeout(5)
        while b"\r\n" not in answer:
            more = sock.recv(4096)
            if not more:
                break
            answer += more
    finally:
        sock.close()
    return answer.split(b"\r\n", 1)[0].decode(), sent


def test_the_real_server_refuses_anonymous_uploads_before_reading_the_body(web_url, service_env, db):
    from pathlib import Path

    uploads = Path(service_env["MEDIA_ROOT"]) / "uploads"
    before = set(uploads.rglob("*")) if uploads.exists() else set()
    started = time.monotonic()
    status, sent = _raw_post(
        web_url, "/api/media", {"Content-Type": "multipart/form-data; boundary=x"}, chunks=4000
    )  # 250 MiB offered
    assert status == "HTTP/1.1 401 Unauthorized"
    assert sent < 4000 and time.monotonic() - started < 30  # answered long before the body was sent
    after = set(uploads.rglob("*")) if uploads.exists() else set()
    assert {p for p in after - before if p.is_file()} == set()
