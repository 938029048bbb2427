"""The media page and the search page in a real browser (Debian's chromium via Playwright) against the
real stack: progress followed live until done, the boxes of the text on screen over the playing video
(checked against the API's tracks at the time the overlay says it drew), the timeline, the grouped
list, keyboard, a failed item and an image; the search page's live filters, total, end times and raw
readings; phone width and dark mode.

Screenshots go to build/screenshots/ (and docs/ with DVA_UPDATE_SCREENSHOTS=1), as test_web_browser.py.
"""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest
import test_web_browser as shared
from factories import FakeRegion, frame_row, make_video_row
from mediagen import Caption, make_video
from sqlalchemy import func, select, update

from dva_ocr.db.session import session_scope
from dva_ocr.db.tables import User, Video

# the browser, the stack's web app, users and screenshots: test_web_browser.py's
browser, web = shared.browser, shared.web  # fixtures
_createuser, _login, _page, _shot = shared._createuser, shared._login, shared._page, shared._shot

pytestmark = pytest.mark.slow

EPS = 0.001  # as media.js: a frame's time may be reported a hair early
TITLE = Caption("Harbour tour 2026", 0, 22, x=80, y=40, size=44)
WELCOME = "Welcome aboard everyone"
SUBTITLES = [
    Caption(WELCOME, 1, 4, y=610, size=40),
    Caption("Tickets at the blue kiosk", 5, 8, y=610, size=40),
    Caption(WELCOME, 9, 12, y=610, size=40),
    Caption("Lunch is served at noon", 13, 16, y=610, size=40),
    Caption(WELCOME, 17, 20, y=610, size=40),
]

OVERLAY = """() => {
  const v = document.getElementById('player'), svg = document.getElementById('frame-boxes');
  return {
    t: Number(svg.dataset.t), now: v.currentTime, paused: v.paused,
    rects: [...svg.querySelectorAll('rect.box')].map(r => [Number(r.dataset.track),
      ...['x', 'y', 'width', 'height'].map(k => Number(r.getAttribute(k)))]),
    current: [...document.querySelectorAll('#texts .text-group.current .text-item')].map(b => b.textContent),
  };
}"""

# where each box is on screen, against where the video's picture is (object-fit: contain)
GEOMETRY = """() => {
  const v = document.getElementById('player'), svg = document.getElementById('frame-boxes');
  const vr = v.getBoundingClientRect(), sr = svg.getBoundingClientRect();
  const [, , w, h] = svg.getAttribute('viewBox').split(' ').map(Number);
  const scale = Math.min(vr.width / w, vr.height / h);
  const left = vr.left + (vr.width - w * scale) / 2, top = vr.top + (vr.height - h * scale) / 2;
  return {
    svg: [sr.left - vr.left, sr.top - vr.top, sr.width - vr.width, sr.height - vr.height],
    boxes: [...svg.querySelectorAll('rect.box')].map(r => {
      const b = r.getBoundingClientRect();
      return [b.left - (left + r.x.baseVal.value * scale), b.top - (top + r.y.baseVal.value * scale),
              b.width - r.width.baseVal.value * scale, b.height - r.height.baseVal.value * scale];
    }),
    width: vr.width,
  };
}"""

# every value the progress bar and the rate line took, from the page's first script on
RECORD_PROGRESS = """
window.__seen = {bar: [], rate: [], loads: (window.__seen ? window.__seen.loads : 0) + 1};
new MutationObserver(() => {
  const bar = document.getElementById('progress-bar'), rate = document.getElementById('progress-rate');
  if (bar) { const v = Number(bar.getAttribute('aria-valuenow')), s = window.__seen.bar;
             if (s[s.length - 1] !== v) s.push(v); }
  const r = rate && rate.textContent;
  if (r && !window.__seen.rate.includes(r)) window.__seen.rate.push(r);
}).observe(document, {subtree: true, childList: true, attributes: true, characterData: true});
"""


def _wait(page, expression: str, timeout: float | None = None) -> None:
    """Wait until a JavaScript expression is true. Given as a function: Playwright polls an expression
    string with eval, which the dashboard's Content-Security-Policy refuses."""
    page.wait_for_function(f"() => ({expression})", timeout=timeout)


def _until(tr: dict, interval: float) -> float:
    return tr["end"] if tr["end"] > tr["start"] else tr["start"] + interval


def expected_boxes(tracks: list[dict], t: float, interval: float) -> set[tuple]:
    """The boxes on screen at ``t`` by the API's tracks: those on screen, each at its latest frame."""
    out = set()
    for tr in tracks:
        if tr["start"] <= t + EPS < _until(tr, interval):
            seen = [b for b in tr["boxes"] if b["t"] <= t + EPS] or tr["boxes"][:1]
            out.add((tr["id"], *seen[-1]["box"]))
    return out


def _upload(page, path, name: str, **form: str) -> int:
    csrf = page.get_attribute('meta[name="csrf-token"]', "content")
    mime = "image/png" if name.endswith(".png") else "video/mp4"
    res = page.request.post(
        "/api/media",
        multipart={"file": {"name": name, "mimeType": mime, "buffer": path.read_bytes()}, **form},
        headers={"X-CSRF-Token": csrf},
    )
    assert res.status == 201, res.text()
    return res.json()["id"]


def _no_sideways_scroll(page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 375, width


def _dark(page, selector: str) -> None:
    """The element is drawn dark with light text (the system's dark mode)."""
    bg, fg = page.evaluate(
        f"(() => {{ const s = getComputedStyle(document.querySelector({selector!r}));"
        " return [s.backgroundColor, s.color]; })()"
    )

    def luma(css: str) -> float:
        r, g, b = (int(x) for x in re.findall(r"\d+", css)[:3])
        return (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255

    assert luma(bg) < 0.25 and luma(fg) > 0.7, (selector, bg, fg)


def _four_shots(page, name: str, dark_selector: str) -> None:
    """Light and dark, desktop and phone; the phone layout has no sideways scroll."""
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        if scheme == "dark":
            _dark(page, dark_selector)
        page.set_viewport_size({"width": 1280, "height": 800})
        _shot(page, f"{name}{'-dark' if scheme == 'dark' else ''}")
        page.set_viewport_size({"width": 375, "height": 800})
        _no_sideways_scroll(page)
        _shot(page, f"{name}-phone{'-dark' if scheme == 'dark' else ''}")
    page.emulate_media(color_scheme="light")
    page.set_viewport_size({"width": 1280, "height": 800})


def test_player_follows_the_reading_then_draws_the_text_over_the_playing_video(web, db, browser, tmp_path):
    name = f"pia-{uuid.uuid4().hex[:6]}"
    _createuser(name)
    video = make_video(tmp_path / "tour.mp4", [TITLE, *SUBTITLES], duration=22)
    with _page(browser, web) as page:
        page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=web)
        page.add_init_script(RECORD_PROGRESS)
        _login(page, web, name)
        media_id = _upload(page, video, "tour.mp4", fps="2")

        # opened while it is read: the progress bar, then the texts, without a reload (the rate and
        # ETA are checked on an item whose counters the next test sets: this one may be too quick)
        page.goto(f"/media/{media_id}")
        assert page.get_attribute("#media-view", "data-status") != "done"
        page.wait_for_selector("#media-status.status-done", timeout=90_000)
        page.wait_for_selector("#texts .text-item")
        seen = page.evaluate("window.__seen")
        assert seen["loads"] == 1, seen  # the page was never reloaded
        assert seen["bar"] and seen["bar"] == sorted(seen["bar"]), seen
        assert page.is_hidden("#media-progress") and page.is_visible("#timeline")
        assert page.locator("a.export:visible").all_inner_texts() == ["JSON", "CSV", "SRT", "VTT"]
        tracks = page.request.get(f"/api/media/{media_id}/tracks").json()["tracks"]
        meta = page.inner_text(".meta")  # the facts, as the server renders them now
        assert re.search(r"\b\d+/\d+ frames read", meta) and f"{len(tracks)} text tracks" in meta, meta
        interval = float(page.get_attribute("#media-view", "data-interval"))
        assert page.get_attribute("#frame-boxes", "viewBox") == "0 0 1280 720"
        by_text: dict[str, list[dict]] = {}
        for tr in tracks:
            by_text.setdefault(" ".join(tr["text"].lower().split()), []).append(tr)
        welcome = by_text[WELCOME.lower()]
        assert len(welcome) == 3, by_text.keys()

        # the list: one entry per text, a text seen three times says so with its three times
        group = page.locator(".text-group", has_text=WELCOME)
        assert group.count() == 1
        times = ", ".join(f"0:{int(tr['start']):02d}" for tr in welcome)
        assert f"seen 3 times: {times}" in group.inner_text(), group.inner_text()
        # the timeline: one lane per row of the frame (the title at the top, the subtitles at the bottom)
        assert page.locator("#lane-labels span").all_inner_texts() == ["top", "bottom"]
        assert page.locator(".lane .mark").count() == len(tracks)

        # playing: at two times the overlay holds exactly the API's boxes for the time it drew, in step
        # with the player, and the list marks the texts on screen
        page.evaluate(
            "(() => { const v = document.getElementById('player'); v.muted = true;"
            " v.currentTime = 2.2; v.playbackRate = 2; v.play(); })()"
        )
        drawn = []
        for after in (2.6, 6.1):
            _wait(
                page,
                f"document.getElementById('player').currentTime > {after}"
                f" && Number(document.getElementById('frame-boxes').dataset.t) > {after}",
            )
            o = page.evaluate(OVERLAY)
            assert not o["paused"] and abs(o["now"] - o["t"]) < 0.35, o
            assert set(map(tuple, o["rects"])) == expected_boxes(tracks, o["t"], interval), o
            on_screen = {tr["text"] for tr in tracks if tr["id"] in {r[0] for r in o["rects"]}}
            assert set(o["current"]) == on_screen and len(on_screen) == 2, (o, on_screen)
            drawn.append(on_screen)
        assert page.get_attribute("#media-view", "data-sync") == "frame"  # requestVideoFrameCallback
        assert drawn[0] != drawn[1]  # the subtitle changed under the title
        # the boxes sit on the picture, scaled with the player, also in a narrower window
        for width in (1280, 760):
            page.set_viewport_size({"width": width, "height": 800})
            _wait(page, f"document.getElementById('player').clientWidth < {width}")
            g = page.evaluate(GEOMETRY)
            assert all(abs(d) <= 1 for d in g["svg"]), g
            assert g["boxes"] and all(abs(d) <= 1.5 for box in g["boxes"] for d in box), g
        page.set_viewport_size({"width": 1280, "height": 800})

        # space pauses (and plays); the page does not scroll
        page.locator("h1").click()
        page.keyboard.press(" ")
        _wait(page, "document.getElementById('player').paused")
        assert page.evaluate("window.scrollY") == 0

        # a click on the timeline seeks to the time under it; on a text's mark it selects that text
        lunch = next(tr for tr in tracks if tr["text"].startswith("Lunch"))
        page.click(f".mark[data-track='{lunch['id']}']")
        _wait(
            page,
            f"(() => {{ const t = document.getElementById('player').currentTime;"
            f" return t > {lunch['start']} && t < {_until(lunch, interval)}; }})()",
        )
        assert lunch["text"] in page.inner_text("#texts .text-group.selected")
        area = page.locator("#lane-labels + .lane-area").bounding_box()
        page.mouse.click(area["x"] + area["width"] * 0.25, area["y"] + 4)
        duration = page.evaluate("Number(document.getElementById('seek').max)")
        _wait(page, f"Math.abs(document.getElementById('player').currentTime - {duration * 0.25}) < 0.25")

        # j / k: the next and the previous text's start
        starts = sorted({tr["start"] for tr in tracks})
        page.evaluate(f"document.getElementById('player').currentTime = {lunch['start'] + 0.5}")
        _wait(page, "!document.getElementById('player').seeking")
        for key, want in (("j", min(s for s in starts if s > lunch["start"] + 0.5)), ("k", lunch["start"])):
            page.keyboard.press(key)
            _wait(page, f"Math.abs(document.getElementById('player').currentTime - {want}) < 0.05")
        page.keyboard.press("k")
        before = max(s for s in starts if s < lunch["start"] - 0.3)
        _wait(page, f"Math.abs(document.getElementById('player').currentTime - {before}) < 0.05")

        # the list keeps the text on screen in view when it is taller than its box
        _wait(
            page,
            f"[...document.querySelectorAll('.text-group.current')].pop().textContent.includes({WELCOME!r})",
        )
        page.add_style_tag(content="#texts.text-list { max-height: 70px; }")
        page.evaluate(f"document.getElementById('player').currentTime = {lunch['start'] + 0.5}")
        _wait(
            page,
            "(() => { const l = document.getElementById('texts'),"
            " g = [...l.querySelectorAll('.text-group.current')].pop();"
            " return g && g.textContent.includes('Lunch') && l.scrollTop > 0"
            " && g.offsetTop >= l.scrollTop"
            " && g.offsetTop + g.offsetHeight <= l.scrollTop + l.clientHeight; })()",
        )
        page.add_style_tag(content="#texts.text-list { max-height: min(62vh, 560px); }")

        # a box is clicked: its text is selected in the list and copied
        box = page.locator(f"#frame-boxes rect.box[data-track='{lunch['id']}']")
        box.click()
        assert "selected" in box.get_attribute("class")
        assert page.evaluate("navigator.clipboard.readText()") == lunch["text"]
        assert lunch["text"] in page.inner_text("#texts .text-group.selected")
        page.wait_for_selector("#toast:not([hidden])")

        # the sampled frame OCR read instead of the video, with the boxes read in it
        page.check("#show-frame")
        page.wait_for_selector("#frame-img:not([hidden])")
        frame = page.request.get(f"/api/media/{media_id}/frames/at?t={lunch['start'] + 0.5}").json()
        _wait(
            page,
            f"document.getElementById('frame-img').src.endsWith('/frames/{frame['index']}.jpg')"
            " && document.getElementById('frame-img').naturalWidth > 0",
        )
        assert "sampled frame at 0:13" in page.inner_text("#frame-time")
        in_frame = {
            (tr["id"], *b["box"]) for tr in tracks for b in tr["boxes"] if b["frame"] == frame["index"]
        }
        assert set(map(tuple, page.evaluate(OVERLAY)["rects"])) == in_frame and in_frame
        page.uncheck("#show-frame")
        assert page.is_hidden("#frame-img")
        page.evaluate(f"document.getElementById('player').currentTime = {lunch['start'] + 0.5}")
        _wait(page, "!document.getElementById('player').seeking")
        page.wait_for_selector("#toast", state="hidden")
        _four_shots(page, "media-player", ".texts")

        # a browser without requestVideoFrameCallback: the boxes follow timeupdate
        old = page.context.new_page()
        old.add_init_script("delete HTMLVideoElement.prototype.requestVideoFrameCallback")
        old.goto(f"/media/{media_id}?t=5.2")
        old.wait_for_selector("#texts .text-item")
        assert old.get_attribute("#media-view", "data-sync") == "timeupdate"
        old.evaluate("(() => { const v = document.getElementById('player'); v.muted = true; v.play(); })()")
        _wait(old, "Number(document.getElementById('frame-boxes').dataset.t) > 5.6")
        o = old.evaluate(OVERLAY)
        assert not o["paused"] and set(map(tuple, o["rects"])) == expected_boxes(tracks, o["t"], interval), o
        old.close()


def test_a_failed_item_offers_what_can_help_and_an_image_has_no_times(web, db, browser, tmp_path):
    from PIL import Image, ImageDraw, ImageFont

    name = f"fay-{uuid.uuid4().hex[:6]}"
    _createuser(name)
    with session_scope() as s:
        owner = s.scalar(select(User.id).where(User.name == name))
        broken = make_video_row(s, "notes.mp4", status="failed")
        broken.error = "not a media file: ffprobe could not read it (Invalid data found when processing)"
        broken.retryable = False
        crashed = make_video_row(s, "crashed.mp4", status="failed")
        crashed.error = "OCR failed after 5 retries: OperationalError: connection refused"
        for v in (broken, crashed):
            v.owner_id = owner
        broken_id, crashed_id = broken.id, crashed.id

    image = Image.new("RGB", (960, 540), "white")
    font = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf", 48)
    draw = ImageDraw.Draw(image)
    draw.text((100, 120), "Platform 9 departures", fill="black", font=font)
    draw.text((100, 360), "Mind the gap", fill="black", font=font)
    image.save(tmp_path / "board.png")

    with session_scope() as s:
        reading = make_video_row(s, "lecture.mp4", status="processing")
        reading.owner_id, reading.frames_total, reading.frames_extracted, reading.frames_ocr = (
            owner,
            600,
            300,
            100,
        )
        reading.started_at = func.now() - timedelta(seconds=10)
        reading.extracted = False  # still sampling frames
        reading_id = reading.id

    def progress(**values) -> None:
        with session_scope() as s:
            s.execute(update(Video).where(Video.id == reading_id).values(**values))

    with _page(browser, web) as page:
        _login(page, web, name)
        page.on("dialog", lambda d: d.accept())

        # being read: the bar, frames per second since it started and what is left, followed live
        page.goto(f"/media/{reading_id}")
        page.wait_for_selector("#media-progress:not([hidden])")
        page.evaluate("window.__same_page = true")
        assert page.get_attribute("#progress-bar", "aria-valuenow") == "17"  # 100 of 600
        assert "extracted 300/600 · read 100/600" in page.inner_text("#media-progress")
        assert "sampling frames and reading them" in page.inner_text("#progress-stage")
        rate = page.inner_text("#progress-rate")  # 100 frames in about 10 s
        fps, minutes, seconds = re.fullmatch(r"· ([\d.]+) frames/s · about (\d+):(\d\d) left", rate).groups()
        assert 5 <= float(fps) <= 11 and 45 <= 60 * int(minutes) + int(seconds) <= 100, rate
        page.wait_for_timeout(500)  # the bar's widths ease in over 0.4 s
        _shot(page, "media-progress")
        progress(frames_ocr=300, frames_extracted=600, extracted=True)
        _wait(page, "document.getElementById('progress-bar').getAttribute('aria-valuenow') === '50'")
        assert "reading the frames" in page.inner_text("#progress-stage")
        progress(status="failed", error="OCR failed: RuntimeError: out of memory")
        page.wait_for_selector("#media-failed:not([hidden])")
        assert page.is_hidden("#media-progress") and page.is_hidden("#media-view")
        assert "out of memory" in page.inner_text("#failed-error")
        assert page.evaluate("window.__same_page") is True  # no reload on the way

        # the file is not media: the reason, Delete, no Retry, no player, no exports
        page.goto(f"/media/{broken_id}")
        page.wait_for_selector("#media-failed:not([hidden])")
        assert "not a media file" in page.inner_text("#failed-error")
        assert "cannot help" in page.inner_text("#failed-advice")
        page.wait_for_selector("#media-delete:not([hidden])")
        assert page.is_hidden("#media-retry") and page.is_hidden("#media-view")
        assert page.get_attribute("#player", "src") is None
        assert page.locator("a.export:visible").count() == 0
        _shot(page, "media-failed")

        # it failed on the way: Retry runs it again and the page follows (its file is gone: it fails
        # again, now as one that retrying cannot help)
        page.goto(f"/media/{crashed_id}")
        page.wait_for_selector("#media-retry:not([hidden])")
        page.click("#media-retry")
        page.wait_for_selector("#failed-advice:has-text('cannot help')", timeout=30_000)
        assert "file not found" in page.inner_text("#failed-error")
        assert page.is_hidden("#media-retry")
        page.click("#media-delete")
        page.wait_for_url(f"{web}/")
        assert page.request.get(f"/api/media/{crashed_id}").status == 404

        # an image: its boxes, no player, no times, no subtitle formats; j / k step through its texts
        image_id = _upload(page, tmp_path / "board.png", "board.png")
        page.goto(f"/media/{image_id}")
        page.wait_for_selector("#media-status.status-done", timeout=60_000)
        page.wait_for_selector("#texts .text-item")
        assert page.locator("#player").count() == 0 and page.locator("#timeline").count() == 0
        assert page.locator("a.export:visible").all_inner_texts() == ["JSON", "CSV"]
        text = page.inner_text("main")
        assert not re.search(r"\d:\d\d", text) and "SRT" not in text and "VTT" not in text, text
        assert page.get_attribute("#frame-boxes", "viewBox") == "0 0 960 540"
        _wait(page, "document.querySelectorAll('#frame-boxes rect.box').length === 2")
        page.keyboard.press("j")
        first = page.inner_text("#texts .text-group.selected .text-item")
        page.keyboard.press("j")
        second = page.inner_text("#texts .text-group.selected .text-item")
        assert {first, second} == set(page.locator("#texts .text-item").all_inner_texts()), (first, second)
        assert page.locator("#frame-boxes rect.box.selected").count() == 1
        _shot(page, "media-image")


def _frame_file(video_id: int, index: int, lines: list[tuple[str, tuple[int, int, int, int]]]) -> None:
    """A frame's JPEG under MEDIA_ROOT with its texts drawn in their boxes (search crops show them)."""
    from PIL import Image, ImageDraw, ImageFont

    from dva_ocr.settings import get_settings

    img = Image.new("RGB", (1280, 720), (29, 43, 58))
    draw = ImageDraw.Draw(img)
    font = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf", 26)
    for value, (x, y, _, _) in lines:
        draw.text((x, y), value, fill="white", font=font)
    path = get_settings().media_root / f"{video_id}/frames/{index:06d}.jpg"
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, quality=90)


def test_search_page_applies_filters_as_they_change(web, db, browser):
    from dva_ocr.pipeline import build_video_tracks, save_frame_regions

    texts = [
        ("Harbour gate opens", 0.99),
        ("Invoice 4471", 0.97),
        ("lnvoice A7X-2231", 0.95),
        ("Invoice total", 0.9),
    ]
    with session_scope() as s:
        v = make_video_row(s, "ledger.mp4")
        v.duration = 4.0
        for sec, (value, conf) in enumerate(texts):
            box = (40, 60 * sec + 40, 420, 36)
            region = FakeRegion(value, box=box, confidence=conf, raw_text=value)
            save_frame_regions(s, frame_row(s, v, sec), v.model_version_id, [region], 1.0)
            _frame_file(v.id, sec, [(value, box)])
        v.tracks_count = build_video_tracks(s, v, v.model_version_id)
        poster = make_video_row(s, "poster.png")
        poster.media_type = "image"
        box = (60, 300, 380, 40)
        region = FakeRegion("Invoice poster", box=box, confidence=0.99, raw_text="Invoice poster")
        save_frame_regions(s, frame_row(s, poster, 0), poster.model_version_id, [region], 1.0)
        _frame_file(poster.id, 0, [("Invoice poster", box)])
        poster.tracks_count = build_video_tracks(s, poster, poster.model_version_id)
        ledger_id, poster_id = v.id, poster.id
    name = f"sam-{uuid.uuid4().hex[:6]}"
    _createuser(name)
    with _page(browser, web) as page:
        _login(page, web, name)
        page.goto("/search")
        # typed, never submitted: the hits come, the address follows, the total is counted
        page.locator("input[name=q]").press_sequentially("invoice", delay=40)
        page.wait_for_selector(".hit")
        page.wait_for_url("**/search?q=invoice")
        assert page.get_attribute("#search-summary", "data-total") == "4"
        assert page.inner_text("#search-summary").startswith("4 hits for invoice")
        hits = page.locator(".hit")
        assert hits.count() == 4
        # a track hit says when it ends; an image hit has no time and opens without one
        first = page.locator(f".hit-group[data-media='{ledger_id}'] .hit", has_text="Invoice 4471")
        assert first.locator(".time").inner_text() == "0:01–0:02"
        image_hit = page.locator(f".hit-group[data-media='{poster_id}'] .hit")
        assert image_hit.get_attribute("data-image") == "true" and image_hit.locator(".time").count() == 0
        assert image_hit.locator("a").get_attribute("href") == f"/media/{poster_id}"
        # the raw reading on hover, in a monospace font: the l of lnvoice is not an I
        folded = page.locator(".hit", has_text="A7X-2231")
        assert folded.get_attribute("data-match") == "folded"
        raw = folded.locator(".raw")
        assert raw.is_hidden()
        folded.hover()
        assert raw.is_visible() and raw.inner_text() == "read as lnvoice A7X-2231"
        assert "mono" in raw.locator("code").evaluate("c => getComputedStyle(c).fontFamily").lower()
        _shot(page, "search-raw-reading")
        page.mouse.move(0, 0)

        # a minimum confidence of 0.96 (the step is 0.01) applies as it is typed
        conf = page.locator("input[name=min_confidence]")
        conf.fill("0.96")
        assert conf.evaluate("i => i.checkValidity()")
        page.wait_for_url("**/search?q=invoice&min_confidence=0.96")
        _wait(page, "document.getElementById('search-summary').dataset.total === '2'")
        assert sorted(page.locator(".hit-text").all_inner_texts()) == ["Invoice 4471", "Invoice poster"]
        # the media filter too; the typed query and filters survive (the form is not re-rendered)
        page.select_option("select[name=media]", str(ledger_id))
        _wait(page, "document.getElementById('search-summary').dataset.total === '1'")
        assert page.input_value("input[name=q]") == "invoice" and conf.input_value() == "0.96"
        page.select_option("select[name=media]", "")
        conf.fill("")
        _wait(page, "document.getElementById('search-summary').dataset.total === '4'")
        page.reload()  # the address holds the search
        assert page.locator(".hit").count() == 4
        _four_shots(page, "search-live", ".hit-link")
