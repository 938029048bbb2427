"""The library, upload and jobs pages in a real browser (Debian's chromium via Playwright) against the
real stack (`manage.py up`): an upload with its options followed live through extraction and OCR to
done, a folder chosen with its non-media files left out; the library's filters, multi-select export,
reprocess and delete; the jobs page updating without touching its form, cancelling an ingest, pausing
a job; every page at 375 px without sideways scrolling, in light and dark; /docs drawn with every
other host blocked. Screenshots (light and dark, 1280 and 375 px) go to build/screenshots/ (and docs/
with DVA_UPDATE_SCREENSHOTS=1)."""

from __future__ import annotations

import json
import uuid
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlparse

import pytest
from factories import make_video_row
from mediagen import Caption, make_video
from sqlalchemy import func
from test_web_browser import PASSWORD, _shot, browser, web  # noqa: F401  (fixtures)

from dva_ocr.db.session import session_scope
from dva_ocr.db.tables import Job, Video
from dva_ocr.model_registry import get_or_create_model_version
from dva_ocr.users import create_user

pytestmark = pytest.mark.slow

# the upload's fields (POST /api/media), each of which the page must offer
OPTIONS = ("sampling", "fps", "scene_threshold", "max_gap", "max_reuse", "min_confidence", "min_height")
OPTIONS += ("model", "video_stream", "roi", "ignore")
SORTED_BY_NAME = """() => {
  const n = [...document.querySelectorAll('#media-table .name a')].map(a => a.textContent.toLowerCase());
  return n.length > 3 && n.every((x, i) => i === 0 || n[i - 1] <= x); }"""
UNLABELLED = """[...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
  .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')).map(e => e.name || e.id)"""
ONLY_IMAGES = (
    "() => [...document.querySelectorAll('#media-table tbody tr')].every(r => r.dataset.type === 'image')"
)
SIZES = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 375, "height": 740}}
WATCH_STAGES = """() => { window.__stages = []; new MutationObserver((changes) => { for (const c of changes)
  window.__stages.push(c.target.dataset.stage); }).observe(document.getElementById('uploads'),
  {subtree: true, attributes: true, attributeFilter: ['data-stage']}); window.__marker = 'same page'; }"""


def _user(admin: bool = False) -> str:
    name = f"lib-{uuid.uuid4().hex[:6]}"
    with session_scope() as s:
        create_user(session=s, name=name, password=PASSWORD, is_admin=admin)
    return name


@contextmanager
def _context(browser, web: str, *, size: str = "desktop", dark: bool = False, state=None) -> Iterator:  # noqa: F811
    """A browser context (a viewport, a colour scheme, optionally logged in already); no script error
    may happen on its pages."""
    context = browser.new_context(
        viewport=SIZES[size], base_url=web, color_scheme="dark" if dark else "light", storage_state=state
    )
    context.set_default_timeout(20_000)
    errors: list[str] = []
    context.on("weberror", lambda e: errors.append(str(e.error)))
    try:
        yield context
    except Exception as exc:
        if errors:  # the script error behind a timeout says more than the timeout
            raise AssertionError(f"script errors on the page: {errors}") from exc
        raise
    finally:
        context.close()
    assert not errors, errors


def _logged_in(browser, web: str, name: str):  # noqa: F811
    """The storage state of a login through the form, for other contexts to start from."""
    with _context(browser, web) as context:
        page = context.new_page()
        page.goto("/login")
        page.fill("input[name=username]", name)
        page.fill("input[name=password]", PASSWORD)
        page.click("form.login button[type=submit]")
        page.wait_for_url(f"{web}/")
        return context.storage_state()


def _image(path, text: str):
    from PIL import Image, ImageDraw, ImageFont

    image = Image.new("RGB", (800, 450), "white")
    font = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf", 48)
    ImageDraw.Draw(image).text((80, 180), text, fill="black", font=font)
    image.save(path)
    return path


def test_upload_options_and_live_progress_to_done_then_the_library(web, browser, tmp_path):  # noqa: F811
    name = _user(admin=True)
    state = _logged_in(browser, web, name)
    tag = uuid.uuid4().hex[:4]
    caption = Caption("Ferry to the islands", 1, 4, x=24, y=150, size=36)
    video = make_video(tmp_path / f"ferry-{tag}.mp4", [caption], duration=5, size="640x360")
    board = _image(tmp_path / f"board-{tag}.png", f"Gate {tag} boarding")
    folder = tmp_path / "trip"
    (folder / "day2").mkdir(parents=True)
    _image(folder / "day2" / f"menu-{tag}.png", f"Soup of the day {tag}")
    with session_scope() as s:
        get_or_create_model_version(s, "ppocrv5")  # offered for reprocessing below
    (folder / "notes.txt").write_text("not media\n")
    with _context(browser, web, state=state) as context:
        page = context.new_page()
        page.goto("/upload")
        page.evaluate(WATCH_STAGES)
        # every ingest option the API takes is on the page, each with a label
        page.click("#options summary")
        form = page.request.get("/openapi.json").json()["components"]["schemas"][
            "Body_upload_media_api_media_post"
        ]
        assert set(form["properties"]) - {"file"} == set(OPTIONS)  # the page offers all the API takes
        for field in OPTIONS:
            control = page.locator(f"#options [name={field}]")
            assert control.count() == 1, field
            assert control.evaluate("c => !!c.closest('label')"), field
        page.select_option("#opt-sampling", "scene")
        assert page.is_visible("#opt-scene-threshold") and page.is_visible("#opt-max-gap")
        page.select_option("#opt-sampling", "fixed")
        assert not page.is_visible("#opt-scene-threshold")
        page.fill("#fps", "2")
        page.fill("#opt-min-confidence", "0.81")
        page.fill("#opt-ignore", "0.9,0.9,1,1")
        page.fill("#opt-roi", "not an area")
        page.set_input_files("#files", [str(video)])
        assert "not x0,y0,x1,y1" in page.inner_text("#options-error")  # refused before anything is sent
        assert page.locator(".upload-item").count() == 0
        page.fill("#opt-roi", "")
        page.set_input_files("#files", [str(video), str(board)])
        # each file: uploaded, then followed through extraction and OCR to done, without a reload
        page.wait_for_selector(f".upload-item[data-stage=done] >> text=ferry-{tag}.mp4", timeout=120_000)
        page.wait_for_selector(f".upload-item[data-stage=done] >> text=board-{tag}.png", timeout=120_000)
        assert page.evaluate("window.__marker") == "same page"
        seen = page.evaluate("window.__stages")
        assert "done" in seen and set(seen) & {"waiting", "extracting", "reading", "finalizing"}, seen
        item = page.locator(".upload-item", has_text=f"ferry-{tag}.mp4")
        assert item.locator(".bar").get_attribute("aria-valuenow") == "100"
        assert "text" in item.locator(".stage").inner_text()  # "N texts found"
        media_id = int(item.get_attribute("data-id"))
        board_id = int(page.locator(".upload-item", has_text=f"board-{tag}.png").get_attribute("data-id"))
        sent = page.request.get(f"/api/media/{media_id}").json()
        assert sent["sample_fps"] == 2 and sent["sampling"]["policy"] == "fixed"
        assert sent["filters"]["min_confidence"] == 0.81 and sent["filters"]["ignore"] == [[0.9, 0.9, 1, 1]]
        # a folder: its videos and images (at any depth) go up, the rest is named and left out
        page.set_input_files("#folder", str(folder))
        page.wait_for_selector(f".upload-item[data-state=done] >> text=trip/day2/menu-{tag}.png")
        assert "trip/notes.txt" in page.inner_text("#upload-skipped")
        assert page.locator(".upload-item", has_text="notes.txt").count() == 0
        page.wait_for_selector(f".upload-item[data-stage=done] >> text=menu-{tag}.png", timeout=120_000)
        _shots(page, "upload")

        # the library: dates, sizes, filters, sort, search; "/" goes to its name box
        with session_scope() as s:
            broken = make_video_row(s, f"notes-{uuid.uuid4().hex[:4]}.mp4", status="failed")
            broken.error, broken.retryable, broken.media_type = (
                "not a media file: ffprobe could not read it",
                False,
                None,
            )
            stuck = make_video_row(s, f"stuck-{uuid.uuid4().hex[:4]}.mp4", status="failed")
            stuck.error = "stuck while processing for 12 min with no task queued or running"
            broken_id, stuck_id = broken.id, stuck.id
        page.set_viewport_size(SIZES["desktop"])
        page.goto("/")
        row = page.locator(f"#media-table tr[data-id='{media_id}']")
        row.wait_for()
        facts = row.locator(".facts").inner_text()
        assert "640×360" in facts and "KiB" in facts and "20" in facts, facts  # size, resolution, date
        assert page.locator(f"tr[data-id='{broken_id}'] .retry").is_hidden()  # retrying cannot help
        assert "retrying cannot help" in page.inner_text(f"tr[data-id='{broken_id}'] .error-text")
        assert page.locator(f"tr[data-id='{stuck_id}'] .retry").is_visible()
        page.keyboard.press("/")
        assert page.evaluate("document.activeElement.id") == "library-q"
        page.keyboard.type(f"board-{tag}")
        page.wait_for_function("() => document.querySelectorAll('#media-table tbody tr').length === 1")
        assert f"board-{tag}.png" in page.inner_text("#media-table tbody") and f"?q=board-{tag}" in page.url
        page.fill("#library-q", "")
        page.select_option("#library-type", "image")
        page.wait_for_function(ONLY_IMAGES)
        page.select_option("#library-type", "")
        page.select_option("#library-sort", "name")
        page.wait_for_function(SORTED_BY_NAME)
        assert "items" in page.inner_text("#library-count")
        page.select_option("#library-sort", "date")
        page.wait_for_function(
            f"() => document.querySelector('#media-table tbody tr').dataset.id === '{stuck_id}'"
        )

        # multi-select: export a zip (the image left out of SRT, said in the page), reprocess, delete
        video_row = page.locator(f"tr[data-id='{media_id}']")
        board_row = page.locator(f"tr[data-id='{board_id}']")
        video_row.locator(".pick-box").check()
        board_row.locator(".pick-box").check()
        assert page.is_visible("#bulk") and "2 items selected" in page.inner_text("#bulk-count")
        page.select_option("#bulk-format", "srt")
        with page.expect_download() as download:
            page.click("#bulk [data-bulk=export]")
        z = zipfile.ZipFile(download.value.path())
        assert [n for n in z.namelist() if n.endswith(".srt")] == [f"{media_id}-ferry-{tag}.srt"]
        assert f"board-{tag}.png: an image has no timeline" in z.read("MANIFEST.txt").decode()
        said = page.inner_text("#bulk-message")
        assert f"Left out: board-{tag}.png (an image has no timeline" in said, said
        page.select_option("#bulk-model", "ppocrv5")
        page.click("#bulk [data-bulk=reprocess]")
        page.wait_for_selector("#bulk-message a[href^='/jobs/']")
        job_id = int(page.get_attribute("#bulk-message a", "href").rsplit("/", 1)[1])
        job = page.request.get(f"/api/jobs/{job_id}").json()
        assert job["model"] == "ppocrv5" and job["progress"]["total"] == 2
        page.request.post(
            f"/api/jobs/{job_id}/cancel", headers={"X-CSRF-Token": _csrf(page)}
        )  # free the workers
        _shots(page, "library")
        page.click("#bulk [data-bulk=clear]")
        before = page.inner_text("#library-count")
        page.once("dialog", lambda d: d.accept())
        page.locator(f"tr[data-id='{broken_id}'] .pick-box").check()
        page.locator(f"tr[data-id='{stuck_id}'] .pick-box").check()
        page.click("#bulk [data-bulk=delete]")
        page.wait_for_selector(f"tr[data-id='{broken_id}']", state="detached")
        page.wait_for_selector(f"tr[data-id='{stuck_id}']", state="detached")
        assert (
            "Deleted 2 items" in page.inner_text("#bulk-message")
            and page.inner_text("#library-count") != before
        )
        with session_scope() as s:
            assert s.get(Video, broken_id) is None and s.get(Video, stuck_id) is None


def _shots(page, name: str) -> None:
    """The page as it is, light and dark, at 1280 and 375 px (then back to light at 1280)."""
    page.evaluate("window.scrollTo(0, 0)")
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        for size in ("desktop", "phone"):
            page.set_viewport_size(SIZES[size])
            page.wait_for_timeout(150)  # the layout settles
            _shot(page, f"{name}-{scheme}-{size}")
    page.emulate_media(color_scheme="light")
    page.set_viewport_size(SIZES["desktop"])


def _csrf(page) -> str:
    return page.get_attribute('meta[name="csrf-token"]', "content")


def test_the_jobs_page_updates_without_touching_its_form(web, browser):  # noqa: F811
    name = _user(admin=True)
    with session_scope() as s:
        busy = make_video_row(s, f"ingesting-{uuid.uuid4().hex[:4]}.mp4", status="processing")
        busy.extracted, busy.frames_total, busy.frames_extracted, busy.frames_ocr = False, 90, 30, 12
        mv = get_or_create_model_version(s, "ppocrv4")
        job = Job(model_version_id=mv.id, selection={"media": []}, status="running")
        s.add(job)
        s.flush()
        job.started_at = func.now()
        s.flush()
        busy_id, job_id = busy.id, job.id
    with _context(browser, web, state=_logged_in(browser, web, name)) as context:
        page = context.new_page()
        page.goto("/jobs")
        ingest = page.locator(f"#ingests tr[data-id='{busy_id}']")
        assert ingest.get_attribute("data-stage") == "extracting" and "30/90" in ingest.inner_text()
        page.check("#reprocess-form input[value=media]")
        page.fill("#reprocess-form input[name=media_ids]", "3 5 8")
        page.locator("#reprocess-form input[name=media_ids]").focus()
        # the work goes on: the page follows it, the form keeps what was typed, and the focus
        with session_scope() as s:
            s.get(Video, busy_id).frames_ocr = 60
        page.wait_for_function(
            f"() => document.querySelector('#ingests tr[data-id=\"{busy_id}\"]').innerText.includes('60/90')"
        )
        assert page.input_value("#reprocess-form input[name=media_ids]") == "3 5 8"
        assert page.is_checked("#reprocess-form input[value=media]")
        assert page.evaluate("document.activeElement.name") == "media_ids"
        assert page.evaluate("performance.getEntriesByType('navigation').length") == 1
        refreshes = int(page.get_attribute("#jobs-live", "data-refreshes"))
        assert refreshes >= 1
        _shots(page, "jobs")
        # an ingest is cancelled from the page; a job paused and resumed
        page.once("dialog", lambda d: d.accept())
        ingest.locator("button", has_text="Cancel").click()
        page.wait_for_selector(f"#ingests tr[data-id='{busy_id}']", state="detached")
        assert page.request.get(f"/api/media/{busy_id}").json()["status"] == "cancelled"
        row = page.locator(f"#reprocess-jobs tr[data-job='{job_id}']")
        row.locator("button", has_text="Pause").click()
        page.wait_for_selector(f"#reprocess-jobs tr[data-job='{job_id}'][data-status=paused]")
        page.locator(f"#reprocess-jobs tr[data-job='{job_id}'] button", has_text="Resume").click()
        page.wait_for_selector(f"#reprocess-jobs tr[data-job='{job_id}'][data-status=running]")
        assert page.input_value("#reprocess-form input[name=media_ids]") == "3 5 8"
    with session_scope() as s:
        s.get(Job, job_id).status = "cancelled"


PAGES = ["/", "/upload", "/jobs", "/jobs/{job}", "/settings", "/jobs/999999"]  # the last: not found


def test_every_page_fits_a_phone_and_follows_the_system_dark_mode(web, browser):  # noqa: F811
    name = _user(admin=True)
    with session_scope() as s:
        mv = get_or_create_model_version(s, "ppocrv4")
        job = Job(model_version_id=mv.id, selection={"all": True}, status="done")
        s.add(job)
        s.flush()
        job_id = job.id
    state = _logged_in(browser, web, name)
    colours = {}
    for dark in (False, True):
        scheme = "dark" if dark else "light"
        with _context(browser, web, size="phone", dark=dark, state=state) as context:
            page = context.new_page()
            for path in [p.format(job=job_id) for p in PAGES]:
                page.goto(path)
                page.wait_for_load_state("networkidle")
                width = page.evaluate("document.documentElement.scrollWidth")
                assert width <= 375, (scheme, path, width)
                assert page.locator("header nav a").count() == 5
                nav = page.evaluate("document.querySelector('header nav').getBoundingClientRect().right")
                assert nav <= 375, (path, nav)  # the nav wraps instead of running off the screen
                colours[(scheme, path)] = page.evaluate(
                    "[getComputedStyle(document.body).backgroundColor, getComputedStyle(document.body).color]"
                )
                unlabelled = page.evaluate(UNLABELLED)
                assert not unlabelled, (path, unlabelled)
        with _context(browser, web, size="phone", dark=dark) as context:  # logged out: the login page
            page = context.new_page()
            page.goto("/login")
            assert page.evaluate("document.documentElement.scrollWidth") <= 375
            colours[(scheme, "/login")] = page.evaluate("[getComputedStyle(document.body).backgroundColor]")
            page.keyboard.press("Tab")
            page.keyboard.press("Tab")  # past the skip link, into the form
            outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
            assert outline != "none", outline  # focus is visible

    def luminance(css: str) -> float:
        r, g, b = (int(x) for x in css[css.index("(") + 1 : css.index(")")].split(",")[:3])
        return (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255

    for path in [*(p.format(job=job_id) for p in PAGES), "/login"]:
        assert luminance(colours[("light", path)][0]) > 0.85, path
        assert luminance(colours[("dark", path)][0]) < 0.15, path
        if path != "/login":
            assert luminance(colours[("dark", path)][1]) > 0.75, path  # light text on the dark page


def test_the_api_docs_render_with_every_other_host_blocked(web, browser):  # noqa: F811
    name = _user()
    state = _logged_in(browser, web, name)
    here = urlparse(web).hostname
    blocked: list[str] = []

    def only_here(route):
        host = urlparse(route.request.url).hostname
        if host in (here, "localhost", "127.0.0.1"):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    with _context(browser, web, state=state) as context:
        context.route("**/*", only_here)
        page = context.new_page()
        page.goto("/docs")
        page.wait_for_selector(".swagger-ui .info .title")
        assert "dva-ocr" in page.inner_text(".swagger-ui .info .title")
        page.wait_for_selector(".opblock-summary-path[data-path='/api/media/export.zip']")
        assert page.locator(".opblock").count() > 30
        assert blocked == [], blocked  # nothing was even asked of another host
        _shot(page, "docs")
    with _context(browser, web) as context:  # without a login: no docs
        res = context.request.get("/docs")
        assert res.status == 401 and "authentication required" in json.loads(res.text())["error"]
