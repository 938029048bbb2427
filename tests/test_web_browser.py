"""The dashboard in a real browser (Debian's chromium via Playwright) against the real stack:
log in, upload a generated video, watch it finish, search a phrase, open the hit at its second.

Screenshots go to build/screenshots/ (the README's, in docs/, come from test_web_player.py and
test_web_library.py).
"""

from __future__ import annotations

import base64
import io
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from mediagen import Caption, make_video

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path(os.environ.get("DVA_CHROMIUM", "/usr/bin/chromium"))
SHOTS = ROOT / "build" / "screenshots"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHRASE = Caption("Harbour lights festival", 5, 9)
PASSWORD = "browser-test-password"


@pytest.fixture(scope="module")
def browser():
    # page.wait_for_function is given functions ("() => ..."): Playwright evaluates a function once and
    # calls it while it polls, where an expression is evaluated again each time, which the pages'
    # Content-Security-Policy (no 'unsafe-eval') refuses once the first check was false
    if not CHROMIUM.exists():
        if os.environ.get("DVA_BROWSER_TESTS") == "1":
            pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium package")
        pytest.skip(
            f"{CHROMIUM} is not installed (apt-get install chromium, or DVA_BROWSER_TESTS=1 make test)"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture()
def web(workers, service_env) -> str:
    """Base URL of the web app that `manage.py up` started; waits until it answers."""
    base = f"http://{service_env['WEB_HOST']}:{service_env['WEB_PORT']}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{base}/api/health", timeout=2).status_code == 200:
                return base
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"the web app at {base} did not answer:\n{workers.read_text()[-3000:]}")
        time.sleep(0.3)


def _createuser(name: str) -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "createuser", name, "--password-stdin"],
        input=PASSWORD + "\n",
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=os.environ.copy(),
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr + proc.stdout


def _login(page, web: str, name: str) -> None:
    page.goto("/")
    page.wait_for_url("**/login?next=%2F")
    page.fill("input[name=username]", name)
    page.fill("input[name=password]", PASSWORD)
    page.click("form.login button[type=submit]")
    page.wait_for_url(f"{web}/")
    assert name in page.inner_text("header")


@contextmanager
def _page(browser, web: str) -> Iterator:
    """A fresh browser context and page on the test server; no script error may happen on it."""
    context = browser.new_context(viewport={"width": 1280, "height": 800}, base_url=web)
    context.set_default_timeout(20_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        yield page
        assert not errors, errors
    finally:
        context.close()


def _shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path))


def test_upload_watch_search_and_jump_to_the_second(web, db, browser, tmp_path):
    name = f"alice-{uuid.uuid4().hex[:6]}"
    _createuser(name)
    video = make_video(tmp_path / "harbour.mp4", [PHRASE], duration=12)

    with _page(browser, web) as page:
        # every page needs a login: the dashboard sends us to the form and back
        _login(page, web, name)

        # two files at once through the file input: the video gets a link, a non-media file the reason
        page.click("nav >> text=Upload")
        page.wait_for_url("**/upload")
        notes = tmp_path / "notes.mp4"
        notes.write_text("these are meeting notes, not a video\n" * 20)
        page.set_input_files("#files", [str(video), str(notes)])
        page.wait_for_selector(".upload-item[data-state=done]")
        page.wait_for_selector(".upload-item[data-state=failed]")
        good = page.locator(".upload-item[data-state=done]")
        assert good.locator("progress").evaluate("p => p.value") == 1
        link = good.locator(".result a")
        assert link.inner_text() == "harbour.mp4"
        refused = page.locator(".upload-item[data-state=failed] .result").inner_text()
        assert refused.startswith("notes.mp4: not a media file"), refused
        _shot(page, "upload")
        media_id = int(link.get_attribute("href").rsplit("/", 1)[1])

        # the media list follows the work without a reload until the bar is full and the item done
        page.click("nav >> text=Media")
        row = page.locator(f"#media-table tr[data-id='{media_id}']")
        row.wait_for()
        page.wait_for_selector(f"#media-table tr[data-id='{media_id}'][data-status=done]", timeout=60_000)
        assert row.locator(".bar").get_attribute("aria-valuenow") == "100"
        counts = row.locator(".counts").inner_text()
        total = counts.split("/", 1)[1].split(" ", 1)[0]
        # every frame read, or skipped because nothing changed since the last one read
        assert re.fullmatch(
            rf"extracted {total}/{total} · read {total}/{total}( \(\d+ unchanged\))?", counts
        ), counts
        assert int(row.locator(".regions").inner_text()) > 0
        page.wait_for_function(
            f"() => document.querySelector(\"tr[data-id='{media_id}'] .thumb img\").naturalWidth > 0"
        )
        _shot(page, "media-list")

        # search the phrase from the search page's box
        page.click("nav >> text=Search")
        page.fill("input[name=q]", f'"{PHRASE.text}"')
        page.press("input[name=q]", "Enter")
        page.wait_for_selector(".hit")
        hit = page.locator(".hit").first
        assert hit.get_attribute("data-match") == "fulltext"
        assert "<mark>" in hit.locator(".hit-text").inner_html()
        hit_time = float(hit.get_attribute("data-time"))
        assert PHRASE.start - 1 <= hit_time <= PHRASE.end + 1, hit_time
        page.wait_for_function(  # the crop's frame image is served
            "() => getComputedStyle(document.querySelector('.hit .crop'))"
            ".backgroundImage.includes('/frames/')"
        )
        _shot(page, "search")

        # the hit opens the media page with the player at that second and the frame's boxes drawn
        hit.locator("a.hit-link").click()
        page.wait_for_url(f"**/media/{media_id}?t=*")
        page.wait_for_function(
            f"() => {{ const v = document.getElementById('player');"
            f" return v.readyState >= 1 && Math.abs(v.currentTime - {hit_time}) < 1; }}"
        )
        current = page.evaluate("document.getElementById('player').currentTime")
        assert abs(current - hit_time) <= 1 and PHRASE.start - 1 <= current <= PHRASE.end + 1, current
        page.wait_for_function(
            "() => document.querySelectorAll('#frame-boxes rect, #frame-boxes polygon').length > 0"
        )
        view_box = page.get_attribute("#frame-boxes", "viewBox")
        assert view_box == "0 0 1280 720", view_box
        assert PHRASE.text.split()[0] in page.inner_text("#texts")

        # clicking another sighting of the text in the list seeks there too
        items = page.locator(".text-item", has_text="Harbour")
        last = items.nth(items.count() - 1)
        last_time = float(last.get_attribute("data-time"))
        last.click()
        page.wait_for_function(
            f"() => Math.abs(document.getElementById('player').currentTime - {last_time}) < 0.5"
        )
        page.wait_for_function("() => document.querySelectorAll('#frame-boxes .box.selected').length === 1")
        page.wait_for_function(
            "() => { const v = document.getElementById('player'); return !v.seeking && v.readyState >= 2; }"
        )
        _shot(page, "media-page")

        # the jobs page sees the stack's workers
        page.click("nav >> text=Jobs")
        workers = page.inner_text("#workers")
        assert all(q in workers for q in ("qextract", "qocr", "qdefault")), workers
        _shot(page, "jobs")


DROP = """([data, name]) => {
  const bytes = Uint8Array.from(atob(data), c => c.charCodeAt(0));
  const dt = new DataTransfer();
  dt.items.add(new File([bytes], name, {type: "image/png"}));
  const zone = document.getElementById("dropzone");
  for (const type of ["dragenter", "dragover", "drop"]) {
    zone.dispatchEvent(new DragEvent(type, {dataTransfer: dt, bubbles: true, cancelable: true}));
  }
}"""


def test_a_dropped_image_opens_with_its_boxes(web, db, browser):
    from PIL import Image, ImageDraw, ImageFont

    name = f"bob-{uuid.uuid4().hex[:6]}"
    _createuser(name)
    image = Image.new("RGB", (960, 540), "white")
    font = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf", 56)
    ImageDraw.Draw(image).text((120, 220), "Departures board", fill="black", font=font)
    buf = io.BytesIO()
    image.save(buf, format="PNG")

    with _page(browser, web) as page:
        _login(page, web, name)
        page.goto("/upload")
        page.evaluate(DROP, [base64.b64encode(buf.getvalue()).decode(), "board.png"])
        link = page.locator(".upload-item[data-state=done] .result a")
        assert link.inner_text() == "board.png"
        # opened before the OCR is done: the page follows the status and shows the texts when ready
        link.click()
        page.wait_for_selector("#media-status.status-done", timeout=60_000)
        page.wait_for_selector(".text-item")
        assert "Departures board" in page.inner_text("#texts")
        assert page.locator("#player").count() == 0  # an image has no player, only the image
        page.wait_for_function(
            "() => document.querySelectorAll('#frame-boxes polygon, #frame-boxes rect').length > 0"
        )
        assert page.get_attribute("#frame-boxes", "viewBox") == "0 0 960 540"
        # the box sits where the text was drawn, in the image's own pixels
        x, y = page.evaluate(
            "(() => { const b = document.querySelector('#frame-boxes .box').getBBox();"
            " return [b.x, b.y]; })()"
        )
        assert 90 <= x <= 150 and 190 <= y <= 250, (x, y)
        page.goto("/")
        assert page.locator("#media-table tr[data-status=done] .duration").first.inner_text() == "image"


def test_search_page_marks_how_hits_matched_and_says_what_it_left_out(web, db, browser):
    """The forgiving kinds and the notes, as a user sees them, at desktop and phone width."""
    from factories import FakeRegion, frame_row, make_video_row

    from dva_ocr.db.session import session_scope
    from dva_ocr.pipeline import build_video_tracks, save_frame_regions

    with session_scope() as s:
        v = make_video_row(s, "watermarks.mp4")
        for sec, value in enumerate(
            ["Yami Suke hiro", "Invoice 4471", "lnvoice A7X-2231", "Lord of the Rings"]
        ):
            region = FakeRegion(value, box=(10, 60 * sec + 20, 300, 30), raw_text=value)
            save_frame_regions(s, frame_row(s, v, sec), v.model_version_id, [region], 1.0)
        build_video_tracks(s, v, v.model_version_id)
    name = f"sue-{uuid.uuid4().hex[:6]}"
    _createuser(name)
    with _page(browser, web) as page:
        _login(page, web, name)
        page.goto("/search?q=Sukehiro")
        hit = page.locator(".hit").first
        assert hit.get_attribute("data-match") == "compact"
        assert "space-insensitive" in hit.inner_text()
        assert page.inner_text(".hit mark") == "Suke hiro"  # what matched, across the space
        page.goto("/search?q=invoice")
        assert [h.get_attribute("data-match") for h in page.locator(".hit").all()] == ["fulltext", "folded"]
        assert "OCR look-alike" in page.locator(".hit").nth(1).inner_text()
        _shot(page, "search-forgiving")
        page.goto("/search?q=of+the")
        assert "common words" in page.inner_text(".note")
        page.set_viewport_size({"width": 375, "height": 800})
        _shot(page, "search-forgiving-phone")
