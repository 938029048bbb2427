// The media page: the boxes of the text on screen drawn over the playing video (or the image), a
// timeline of where each text is on screen, the texts grouped by what they say, progress while the
// item is read and what went wrong when it failed. Loaded after app.js (DVA.api, DVA.el, ...).
DVA.mediaPage = (() => {
  const {api, el, clock, pct, mayChange, SVG, FINISHED, BUSY_MS, STAGE_TEXT, every, showProgress} = DVA;
  const RATE_WINDOW_MS = 20000; // frames/s measured over the last 20 s of polls
  const NEVER = 2 ** 31 - 1; // ms: the delay that ends a DVA.every poll (the longest a timer takes)
  const EPS = 0.001; // seconds: a frame's time as the player reports it may be a hair early
  const MAX_LANES = 6;
  const MAX_TIMES = 8; // times listed for a text before "+N more"
  const SHORT_MARK_PX = 24; // a timeline mark narrower than this: a click goes to its text's start

  const norm = (s) => s.toLowerCase().replace(/\s+/g, " ").trim();
  const $ = (id) => document.getElementById(id);

  // --- tracks in time ---------------------------------------------------------------------------
  // A track is on screen from its start until its end (the next sample after it was last seen; an
  // image's end is its start); its box at a time is the one of the latest frame it was seen in.
  const until = (tr, interval) => (tr.end > tr.start ? tr.end : tr.start + interval);
  function boxAt(tr, t) {
    let best = tr.boxes[0];
    for (const b of tr.boxes) {
      if (b.t <= t + EPS) best = b;
      else break;
    }
    return best;
  }
  function activeAt(tracks, t, interval) { // tracks are sorted by start
    const out = [];
    for (const tr of tracks) {
      if (tr.start > t + EPS) break;
      if (until(tr, interval) > t + EPS) out.push(tr);
    }
    return out;
  }

  // Rows of the frame: tracks whose boxes' middles lie within about a line's height share a lane.
  function lanesOf(tracks, height) {
    const mid = (tr) => tr.box[1] + tr.box[3] / 2;
    const lanes = [];
    for (const tr of [...tracks].sort((a, b) => mid(a) - mid(b))) {
      const last = lanes[lanes.length - 1];
      if (last && mid(tr) - last.mid <= Math.max(last.h, tr.box[3]) * 0.75) {
        last.tracks.push(tr);
        last.mid += (mid(tr) - last.mid) / last.tracks.length;
        last.h = Math.max(last.h, tr.box[3]);
      } else {
        lanes.push({mid: mid(tr), h: tr.box[3], tracks: [tr]});
      }
    }
    while (lanes.length > MAX_LANES) { // merge the two closest neighbours
      let k = 0;
      for (let i = 1; i < lanes.length - 1; i++) {
        if (lanes[i + 1].mid - lanes[i].mid < lanes[k + 1].mid - lanes[k].mid) k = i;
      }
      const [a, b] = lanes.splice(k, 2);
      const n = a.tracks.length + b.tracks.length;
      lanes.splice(k, 0, {mid: (a.mid * a.tracks.length + b.mid * b.tracks.length) / n,
        h: Math.max(a.h, b.h), tracks: a.tracks.concat(b.tracks)});
    }
    const where = (m) => (m < height / 3 ? "top" : m < (2 * height) / 3 ? "middle" : "bottom");
    const seen = {};
    for (const lane of lanes) seen[where(lane.mid)] = (seen[where(lane.mid)] || 0) + 1;
    const count = {};
    for (const lane of lanes) {
      const w = where(lane.mid);
      count[w] = (count[w] || 0) + 1;
      lane.label = seen[w] > 1 ? `${w} ${count[w]}` : w;
    }
    return lanes;
  }

  // The texts by what they say (case and spacing aside), in order of first appearance.
  function groupsOf(tracks) {
    const groups = new Map();
    for (const tr of tracks) {
      const key = norm(tr.text);
      if (!groups.has(key)) groups.set(key, {key, text: tr.text, tracks: []});
      groups.get(key).tracks.push(tr);
    }
    return [...groups.values()];
  }

  // Frames read per second over the last RATE_WINDOW_MS of samples ({at: ms, handled}).
  function rate(samples) {
    const first = samples[0], last = samples[samples.length - 1];
    if (!first || last.at - first.at < 1500 || last.handled <= first.handled) return null;
    return (1000 * (last.handled - first.handled)) / (last.at - first.at);
  }

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) return navigator.clipboard.writeText(text);
    // plain http on another host: no Clipboard API; the older way still works from a click
    const area = el("textarea", {class: "offscreen", readonly: ""});
    area.value = text;
    document.body.append(area);
    area.select();
    const ok = document.execCommand("copy");
    area.remove();
    return ok ? Promise.resolve() : Promise.reject(new Error("copy refused"));
  }

  function mediaPage(root) {
    const id = root.dataset.id;
    const image = root.dataset.image === "true";
    const interval = Number(root.dataset.interval) || 1;
    const video = $("player"), svg = $("frame-boxes"), stage = $("stage");
    const still = image ? $("still") : $("frame-img");
    const list = $("texts"), filter = $("text-filter"), toastBox = $("toast"), badge = $("frame-time");
    let tracks = [], groups = [], byId = new Map(); // track id -> {tr, group, li, at}
    let duration = 0, selected = null, stillMode = image, stillIndex = null;
    let lastKey = "", currentKey = "", userScrolledAt = 0, loaded = false;

    // --- boxes over the picture ---------------------------------------------------------------

    function setSize(w, h) {
      if (!w || !h) return;
      svg.setAttribute("viewBox", `0 0 ${w} ${h}`);
      stage.style.aspectRatio = `${w} / ${h}`;
    }
    setSize(Number(root.dataset.width), Number(root.dataset.height));

    function drawBoxes(items, t) {
      svg.dataset.t = t.toFixed(3);
      const key = items.map(({tr, box}) => `${tr.id}:${box}`).join("|") + `#${selected}`;
      if (key === lastKey) return;
      lastKey = key;
      svg.replaceChildren(...items.map(({tr, box}) => {
        const [x, y, w, h] = box;
        const r = document.createElementNS(SVG, "rect");
        Object.entries({x, y, width: w, height: h}).forEach(([k, v]) => r.setAttribute(k, v));
        r.setAttribute("class", tr.id === selected ? "box selected" : "box");
        r.dataset.track = tr.id;
        const title = document.createElementNS(SVG, "title");
        title.textContent = `${tr.text} (${Math.round(tr.confidence * 100)}%): click to copy`;
        r.append(title);
        return r;
      }));
    }

    function drawFrame(index, t) { // the still frame: the boxes read in that frame
      const items = [];
      for (const tr of tracks) {
        const b = tr.boxes.find((s) => s.frame === index);
        if (b) items.push({tr, box: b.box});
      }
      drawBoxes(items, t);
      if (!image) markCurrent(items.map((i) => i.tr)); // an image's texts are all "on screen"
    }

    function render(t) {
      if (video) {
        $("playhead").style.left = `${duration ? pct(t, duration) : 0}%`;
        $("clock").textContent = `${clock(t)} / ${clock(duration)}`;
        if (!seeking) $("seek").value = t;
      }
      if (stillMode || !loaded) return;
      const on = activeAt(tracks, t, interval);
      drawBoxes(on.map((tr) => ({tr, box: boxAt(tr, t).box})), t);
      markCurrent(on);
    }

    let stillLoad = 0;
    async function showStill(t) { // the sampled frame on screen at t, with its boxes
      const mine = ++stillLoad;
      let f;
      try { f = await api(`/api/media/${id}/frames/at?t=${t}`); }
      catch (e) { toast(e.message); return; }
      if (mine !== stillLoad || !stillMode) return;
      stillIndex = f.index;
      setSize(f.width, f.height);
      still.src = `/files/media/${id}/frames/${f.index}.jpg`;
      still.hidden = false;
      if (badge && !image) {
        badge.textContent = `sampled frame at ${clock(f.time)} (${f.time.toFixed(1)} s)`;
        badge.hidden = false;
      }
      drawFrame(f.index, f.time);
    }

    function setStillMode(on) {
      stillMode = on;
      $("show-frame").checked = on;
      if (on) {
        video.pause();
        showStill(video.currentTime);
      } else {
        stillLoad++;
        still.hidden = true;
        badge.hidden = true;
        lastKey = "";
        render(video.currentTime);
      }
    }

    // --- the player -----------------------------------------------------------------------------

    let seeking = false;
    function seek(time) {
      if (!video) return;
      const go = () => {
        video.currentTime = Math.max(0, time);
        if (stillMode) showStill(time);
      };
      if (video.readyState >= 1) go();
      else video.addEventListener("loadedmetadata", go, {once: true});
    }

    function togglePlay() {
      if (!video) return;
      if (video.paused) video.play().catch((e) => toast(`cannot play: ${e.message}`));
      else video.pause();
    }

    if (video) {
      duration = Number($("seek").max) || 0;
      const play = $("play"), mute = $("mute"), bar = $("seek");
      const onFrame = (now, meta) => { render(meta.mediaTime); video.requestVideoFrameCallback(onFrame); };
      if ("requestVideoFrameCallback" in HTMLVideoElement.prototype) {
        video.requestVideoFrameCallback(onFrame); // every frame shown, with its own time
        root.dataset.sync = "frame";
      } else {
        video.addEventListener("timeupdate", () => render(video.currentTime)); // about 4 times a second
        root.dataset.sync = "timeupdate";
      }
      for (const name of ["seeked", "loadeddata"]) video.addEventListener(name, () => render(video.currentTime));
      video.addEventListener("loadedmetadata", () => {
        if (Number.isFinite(video.duration)) duration = Math.max(duration, video.duration);
        bar.max = duration;
        if (!root.dataset.width && video.videoWidth) setSize(video.videoWidth, video.videoHeight);
        render(video.currentTime);
      });
      const playing = (on) => {
        play.querySelector(".i-play").toggleAttribute("hidden", on);
        play.querySelector(".i-pause").toggleAttribute("hidden", !on);
        play.setAttribute("aria-label", on ? "Pause" : "Play");
        play.title = `${on ? "Pause" : "Play"} (space)`;
      };
      video.addEventListener("play", () => { if (stillMode) setStillMode(false); playing(true); });
      video.addEventListener("pause", () => playing(false));
      video.addEventListener("volumechange", () => {
        mute.querySelector(".i-sound").toggleAttribute("hidden", video.muted);
        mute.querySelector(".i-muted").toggleAttribute("hidden", !video.muted);
        mute.setAttribute("aria-label", video.muted ? "Unmute" : "Mute");
        mute.title = video.muted ? "Unmute" : "Mute";
      });
      play.addEventListener("click", togglePlay);
      mute.addEventListener("click", () => { video.muted = !video.muted; });
      bar.addEventListener("pointerdown", () => { seeking = true; });
      bar.addEventListener("pointerup", () => { seeking = false; });
      bar.addEventListener("input", () => seek(Number(bar.value)));
      $("show-frame").addEventListener("change", (ev) => setStillMode(ev.target.checked));
      $("show-boxes").addEventListener("change", (ev) => { svg.classList.toggle("off", !ev.target.checked); });
      $("fullscreen").addEventListener("click", () => {
        if (document.fullscreenElement) document.exitFullscreen();
        else $("player-box").requestFullscreen().catch((e) => toast(e.message));
      });
      stage.addEventListener("click", (ev) => { if (!ev.target.closest(".box")) togglePlay(); });
      // A click seeks to the time under it; on a text's mark it also selects that text, and a mark
      // too short to aim within (a few seconds of a long video) goes to where its text starts.
      $("lane-area").addEventListener("click", (ev) => {
        const r = ev.currentTarget.getBoundingClientRect();
        const time = ((ev.clientX - r.left) / r.width) * duration;
        const mark = ev.target.closest(".mark");
        const tr = mark && byId.get(Number(mark.dataset.track)).tr;
        if (tr) select(tr.id);
        seek(tr && mark.getBoundingClientRect().width < SHORT_MARK_PX ? tr.start : time);
      });
    }

    // --- timeline and list ----------------------------------------------------------------------

    function goTo(tr) { // select a text and show it: seek to it (a video) or show its frame (an image)
      select(tr.id);
      if (video) seek(tr.start);
      else showImageFrame(tr.boxes[0].frame);
    }

    function select(trackId, {copy = false} = {}) {
      selected = trackId;
      for (const li of list.querySelectorAll(".text-group.selected")) li.classList.remove("selected");
      const entry = byId.get(trackId);
      if (entry) entry.li.classList.add("selected");
      for (const r of svg.querySelectorAll(".box")) r.classList.toggle("selected", Number(r.dataset.track) === trackId);
      lastKey = "";
      if (copy && entry) {
        copyText(entry.tr.text)
          .then(() => toast(`Copied “${entry.tr.text}”`))
          .catch(() => toast(`“${entry.tr.text}”: press Ctrl+C to copy`));
      }
    }

    function markCurrent(on) {
      const key = on.map((tr) => tr.id).join(",");
      if (key === currentKey) return;
      currentKey = key;
      for (const node of list.querySelectorAll(".current")) node.classList.remove("current");
      for (const node of document.querySelectorAll(".mark.current")) node.classList.remove("current");
      let latest = null; // the text that came on screen last (a title that stays up does not hold the list)
      for (const tr of on) {
        const entry = byId.get(tr.id);
        if (!entry) continue;
        entry.li.classList.add("current");
        if (entry.at) entry.at.classList.add("current");
        if (entry.mark) entry.mark.classList.add("current");
        if (!entry.li.hidden) latest = entry.li;
      }
      if (latest) keepInView(latest);
    }

    function keepInView(li) { // scroll the list (not the page) so the text on screen shows
      if (Date.now() - userScrolledAt < 4000) return; // the user is reading the list
      const top = li.offsetTop, bottom = top + li.offsetHeight;
      if (top >= list.scrollTop && bottom <= list.scrollTop + list.clientHeight) return;
      list.scrollTop = Math.max(0, top - list.clientHeight / 3);
    }
    for (const name of ["wheel", "touchstart", "pointerdown", "keydown"]) {
      list.addEventListener(name, () => { userScrolledAt = Date.now(); }, {passive: true});
    }

    function timeButton(tr, label) {
      return el("button", {type: "button", class: "at", "data-track": tr.id, "data-time": tr.start,
        title: `${clock(tr.start)}–${clock(tr.end)}`, onclick: () => goTo(tr)}, label);
    }

    function renderList() {
      list.replaceChildren();
      $("texts-count").textContent = tracks.length ? `(${groups.length})` : "";
      if (!tracks.length) {
        list.append(el("li", {class: "muted", text: "No text found."}));
        return;
      }
      const pages = new Set(tracks.map((tr) => tr.boxes[0].frame)).size;
      for (const g of groups) {
        const first = g.tracks[0];
        const li = el("li", {class: "text-group", "data-key": g.key});
        const conf = Math.round((100 * g.tracks.reduce((s, tr) => s + tr.confidence, 0)) / g.tracks.length);
        li.append(el("button", {type: "button", class: "text-item", "data-time": first.start, "data-track": first.id,
          title: `confidence ${conf}%`, onclick: () => goTo(first)}, g.text));
        const seen = el("div", {class: "seen muted"});
        if (image) {
          if (pages > 1) seen.textContent = g.tracks.map((tr) => `page ${tr.boxes[0].frame + 1}`).join(", ");
        } else if (g.tracks.length === 1) {
          seen.append(timeButton(first, `${clock(first.start)}–${clock(first.end)}`));
        } else {
          seen.append(`seen ${g.tracks.length} times: `);
          const more = el("span", {class: "more", hidden: ""});
          g.tracks.forEach((tr, i) => {
            const b = timeButton(tr, clock(tr.start));
            const into = i < MAX_TIMES ? seen : more;
            if (i > 0) into.append(", ");
            into.append(b);
            byId.set(tr.id, {tr, group: g, li, at: b});
          });
          if (g.tracks.length > MAX_TIMES) {
            seen.append(more, el("button", {type: "button", class: "link",
              onclick: (ev) => { more.hidden = false; ev.target.remove(); }}, `+${g.tracks.length - MAX_TIMES} more`));
          }
        }
        if (seen.childNodes.length) li.append(seen);
        for (const tr of g.tracks) if (!byId.has(tr.id)) byId.set(tr.id, {tr, group: g, li, at: seen.querySelector(`[data-track="${tr.id}"]`)});
        list.append(li);
      }
    }

    function renderTimeline(height) {
      const timeline = $("timeline");
      if (!timeline || !tracks.length) return;
      duration = Math.max(duration, ...tracks.map((tr) => until(tr, interval)));
      $("seek").max = duration;
      const labels = $("lane-labels"), area = $("lane-area");
      labels.replaceChildren();
      for (const lane of area.querySelectorAll(".lane")) lane.remove();
      for (const lane of lanesOf(tracks, height || Math.max(...tracks.map((tr) => tr.box[1] + tr.box[3])))) {
        labels.append(el("span", {text: lane.label}));
        const row = el("div", {class: "lane", "data-label": lane.label});
        for (const tr of lane.tracks) {
          const mark = el("div", {class: "mark", "data-track": tr.id, title: `${tr.text} · ${clock(tr.start)}–${clock(tr.end)}`});
          mark.style.left = `${pct(tr.start, duration)}%`;
          mark.style.width = `${pct(until(tr, interval) - tr.start, duration)}%`;
          row.append(mark);
          byId.get(tr.id).mark = mark;
        }
        area.insertBefore(row, $("playhead"));
      }
      timeline.hidden = false;
    }

    function applyFilter() {
      const needle = norm(filter.value);
      let shown = 0;
      for (const g of groups) {
        const hit = !needle || g.key.includes(needle);
        shown += hit ? 1 : 0;
        const entry = byId.get(g.tracks[0].id);
        entry.li.hidden = !hit;
        for (const tr of g.tracks) { const m = byId.get(tr.id).mark; if (m) m.classList.toggle("dim", !hit); }
      }
      $("texts-count").textContent = needle ? `(${shown} of ${groups.length})` : `(${groups.length})`;
    }
    filter.addEventListener("input", applyFilter);
    filter.addEventListener("keydown", (ev) => { if (ev.key === "Escape") { filter.value = ""; applyFilter(); } });

    const visible = () => tracks.filter((tr) => !byId.get(tr.id).li.hidden);

    function step(direction) { // j / k: the next or previous text (of those the filter shows)
      const shown = visible();
      if (!shown.length) return;
      if (!video) {
        const at = shown.findIndex((tr) => tr.id === selected);
        const next = shown[(at + direction + shown.length) % shown.length] || shown[0];
        goTo(next);
        return;
      }
      const t = video.currentTime;
      const next = direction > 0
        ? shown.find((tr) => tr.start > t + 0.05)
        : [...shown].reverse().find((tr) => tr.start < t - 0.3);
      if (next) goTo(next);
    }

    function showImageFrame(index) {
      stillIndex = index;
      still.src = `/files/media/${id}/frames/${index}.jpg`;
      drawFrame(index, index);
    }

    // Space plays and pauses, j / k step through the texts; not while typing in a field.
    document.addEventListener("keydown", (ev) => {
      if (ev.ctrlKey || ev.metaKey || ev.altKey || ev.defaultPrevented) return;
      const target = ev.target;
      const typing = target.closest && target.closest("textarea, select, [contenteditable], input:not([type=range]):not([type=checkbox])");
      if (typing || !loaded && ev.key !== " ") return;
      if (ev.key === " " && video && !typing) {
        ev.preventDefault(); // no page scroll, and a focused button is not pressed as well
        togglePlay();
      } else if (ev.key === "j" || ev.key === "k") {
        ev.preventDefault();
        step(ev.key === "j" ? 1 : -1);
      }
    });
    document.addEventListener("keyup", (ev) => { if (ev.key === " " && video && ev.target.closest("button")) ev.preventDefault(); });

    svg.addEventListener("click", (ev) => {
      const box = ev.target.closest(".box");
      if (!box) return;
      ev.stopPropagation();
      const trackId = Number(box.dataset.track);
      select(trackId, {copy: true});
      const entry = byId.get(trackId);
      if (entry) keepInView(entry.li);
    });

    let toastTimer = null;
    function toast(message) {
      toastBox.textContent = message;
      toastBox.hidden = false;
      clearTimeout(toastTimer);
      toastTimer = setTimeout(() => { toastBox.hidden = true; }, 2500);
    }

    // --- loading, progress, failure ---------------------------------------------------------------

    async function loadTexts(item) {
      if (item && item.width && !root.dataset.width) setSize(item.width, item.height);
      let data;
      try { data = await api(`/api/media/${id}/tracks`); }
      catch (e) { list.replaceChildren(el("li", {class: "error", text: e.message})); return; }
      tracks = data.tracks.filter((tr) => tr.boxes.length);
      groups = groupsOf(tracks);
      byId = new Map();
      renderList();
      renderTimeline(Number(root.dataset.height) || (item && item.height));
      loaded = true;
      $("exports").hidden = false;
      applyFilter();
      if (image) {
        const start = root.dataset.frame === "" ? 0 : Number(root.dataset.frame);
        const size = () => { if (!svg.getAttribute("viewBox")) setSize(still.naturalWidth, still.naturalHeight); };
        still.addEventListener("load", size, {once: true});
        showImageFrame(start);
      } else {
        const t = root.dataset.t === "" ? null : Number(root.dataset.t);
        if (t != null && video.readyState < 1) seek(t);
        const on = activeAt(tracks, t ?? video.currentTime, interval);
        if (on.length) select(on[0].id);
        lastKey = "";
        render(video.currentTime);
      }
    }

    function showStatus(item) {
      const chip = $("media-status");
      chip.textContent = item.status;
      chip.className = `status status-${item.status}`;
      root.dataset.status = item.status;
    }

    const samples = [];
    function showReading(item) { // the bar and counts as the library shows them, with rate and ETA
      const p = item.progress, total = p.frames_total, handled = p.frames_ocr + p.frames_skipped;
      $("media-progress").hidden = false;
      $("progress-stage").textContent = `· ${STAGE_TEXT[item.stage] || item.status}`;
      showProgress($("media-progress"), item);
      const now = Date.now();
      if (!samples.length && item.started_at && Date.parse(item.started_at) < now) {
        samples.push({at: Date.parse(item.started_at), handled: 0}); // opened mid-way: since it started
      }
      samples.push({at: now, handled});
      while (samples.length > 2 && now - samples[0].at > RATE_WINDOW_MS) samples.shift();
      const r = rate(samples);
      const left = total != null && r ? (total - handled) / r : null;
      $("progress-rate").textContent = r
        ? `· ${r.toFixed(r < 10 ? 1 : 0)} frames/s${left != null ? ` · about ${clock(Math.max(1, left))} left` : ""}`
        : item.status === "queued" ? "" : "· measuring the rate…";
    }

    async function refreshFacts() { // the page's facts as the server now renders them
      try {
        const res = await fetch(location.pathname, {credentials: "same-origin"});
        const doc = new DOMParser().parseFromString(await res.text(), "text/html");
        for (const name of ["media-facts", "exports"]) {
          const fresh = doc.getElementById(name);
          if (fresh) { fresh.hidden = $(name).hidden; $(name).replaceWith(fresh); }
        }
      } catch (e) { /* the facts stay as they were; the texts are what matters */ }
    }

    function showFailed(item) {
      $("media-progress").hidden = true;
      root.hidden = true;
      if (video) video.pause();
      const cancelled = item.status === "cancelled";
      $("failed-title").textContent = cancelled ? "Cancelled" : "Could not be read";
      $("failed-error").textContent = item.error || (cancelled ? "Stopped before it was read." : "");
      const retryable = item.retryable !== undefined ? item.retryable : item.status === "failed";
      const mine = mayChange(item);
      $("failed-advice").textContent = retryable
        ? "Retry runs it again from the start."
        : "Retrying cannot help: the file itself cannot be read as media. Delete it, or upload a good copy.";
      $("media-retry").hidden = !(retryable && mine);
      $("media-delete").hidden = !mine;
      $("media-failed").hidden = false;
    }

    function follow() { // poll the item until it is finished (not while the page is hidden)
      let finished = false;
      every(async () => {
        if (finished) return NEVER;
        let item;
        try { item = await api(`/api/media/${id}`); }
        catch (e) { return 3 * BUSY_MS; } // the server may be restarting
        showStatus(item);
        if (!FINISHED.includes(item.status)) {
          showReading(item);
          return BUSY_MS;
        }
        finished = true;
        if (item.status === "done") {
          $("media-progress").hidden = true;
          await refreshFacts();
          loadTexts(item);
        } else {
          refreshFacts();
          showFailed(item);
        }
        return NEVER;
      });
    }

    $("media-retry").addEventListener("click", async (ev) => {
      ev.target.disabled = true;
      try {
        const item = await api(`/api/media/${id}/retry`, {method: "POST"});
        showStatus(item);
        $("media-failed").hidden = true;
        root.hidden = false;
        if (video && !video.getAttribute("src")) video.src = video.dataset.src;
        samples.length = 0;
        follow();
      } catch (e) {
        $("failed-advice").textContent = e.message;
      }
      ev.target.disabled = false;
    });
    $("media-delete").addEventListener("click", async () => {
      if (!confirm(`Delete ${document.querySelector("h1.name").textContent}? Its frames, texts and file are removed.`)) return;
      try { await api(`/api/media/${id}`, {method: "DELETE"}); location.href = "/"; }
      catch (e) { $("failed-advice").textContent = e.message; }
    });

    const t = root.dataset.t === "" ? null : Number(root.dataset.t);
    if (t != null) seek(t);
    const status = root.dataset.status;
    if (status === "done") loadTexts(null);
    else if (FINISHED.includes(status)) api(`/api/media/${id}`).then(showFailed).catch((e) => toast(e.message));
    else { list.replaceChildren(el("li", {class: "muted", text: "Texts appear when reading is done."})); follow(); }

    return {seek, select, get tracks() { return tracks; }};
  }

  return mediaPage;
})();
