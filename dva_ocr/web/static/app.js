// dva-ocr dashboard scripts: plain JavaScript, no build step. The media page adds static/media.js.
const DVA = (() => {
  const csrf = () => document.querySelector('meta[name="csrf-token"]').content;
  const SVG = "http://www.w3.org/2000/svg";
  const FINISHED = ["done", "failed", "cancelled"];
  // How often pages ask for progress while something they show is being worked on, and when not
  // (README: live progress is polled; the figures that chose it are in the README).
  const BUSY_MS = 2000, IDLE_MS = 15000;
  // Members change (retry, cancel, delete) only what they uploaded; admins anything (the server checks too).
  const me = () => document.querySelector('meta[name="dva-user"]');
  const isAdmin = () => !!me() && me().dataset.role === "admin";
  const mayChange = (item) => !!me() && (isAdmin() || item.owner_id === Number(me().content));

  async function api(path, options = {}) {
    const headers = Object.assign({"X-CSRF-Token": csrf()}, options.headers || {});
    if (options.json !== undefined) {
      headers["Content-Type"] = "application/json";
      options = Object.assign({}, options, {body: JSON.stringify(options.json)});
    }
    const res = await fetch(path, Object.assign({credentials: "same-origin"}, options, {headers}));
    if (res.status === 204) return null;
    let body = null;
    try { body = await res.json(); } catch (e) { body = null; }
    if (!res.ok) throw new Error((body && body.error) || `${res.status} ${res.statusText}`);
    return body;
  }

  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (k === "class") node.className = v;
      else if (k === "text") node.textContent = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v);
    }
    node.append(...children);
    return node;
  }

  function clock(seconds) {
    if (seconds == null) return "–";
    const s = Math.floor(seconds), h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
    const pad = n => String(n).padStart(2, "0");
    return h ? `${h}:${pad(m)}:${pad(sec)}` : `${m}:${pad(sec)}`;
  }

  function pct(part, total) { return total ? Math.min(100, (100 * part) / total) : 0; }

  function size(bytes) {
    if (bytes == null) return "";
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let n = bytes, u = 0;
    while (n >= 1024 && u < units.length - 1) { n /= 1024; u += 1; }
    return `${u ? n.toFixed(n < 10 ? 1 : 0) : n} ${units[u]}`;
  }

  function when(iso) {  // 2026-12-03 14:02, local time
    if (!iso) return "";
    const d = new Date(iso), pad = n => String(n).padStart(2, "0");
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
  }

  const plural = (n, one, many) => `${n.toLocaleString("en")} ${n === 1 ? one : many || one + "s"}`;

  // Calls fn now and again after the delay it returns (ms), never while the page is hidden.
  function every(fn) {
    let timer = null, running = false;
    async function run() {
      timer = null;
      if (document.hidden) return;  // visibilitychange starts it again
      running = true;
      let delay = IDLE_MS;
      try { delay = await fn(); } finally { running = false; }
      if (!timer && !document.hidden) timer = setTimeout(run, delay);
    }
    document.addEventListener("visibilitychange", () => { if (!document.hidden && !timer && !running) run(); });
    run();
    return {now() { if (timer) { clearTimeout(timer); timer = null; } if (!running) run(); }};
  }

  // --- progress of one media item (library rows, upload items) ----------------------------------------

  const STAGE_TEXT = {
    waiting: "waiting for a worker",
    extracting: "sampling frames and reading them",
    reading: "reading the frames",
    finalizing: "building the text tracks",
    done: "done",
    failed: "failed",
    cancelled: "cancelled",
  };

  const BAR = `<div class="bar" role="progressbar" aria-label="frames read" aria-valuemin="0" aria-valuemax="100">
      <div class="extracted"></div><div class="ocr"></div></div><div class="counts muted"></div>`;

  function showProgress(scope, item) {
    const p = item.progress, total = p.frames_total, done = item.status === "done";
    const handled = p.frames_ocr + p.frames_skipped; // read, or unchanged and skipped
    const read = done ? 100 : pct(handled, total);
    scope.querySelector(".bar .extracted").style.width = `${done ? 100 : pct(p.frames_extracted, total)}%`;
    scope.querySelector(".bar .ocr").style.width = `${read}%`;
    scope.querySelector(".bar").setAttribute("aria-valuenow", Math.round(read));
    const of = total == null ? "?" : total;
    scope.querySelector(".counts").textContent =
      `extracted ${p.frames_extracted}/${of} · read ${handled}/${of}` +
      (p.frames_skipped ? ` (${p.frames_skipped} unchanged)` : "");
  }

  // --- media library ----------------------------------------------------------------------------------

  function newMediaRow(id, onPick) {
    const tr = el("tr", {"data-id": id});
    tr.innerHTML = `
      <td class="pick"><input type="checkbox" class="pick-box"></td>
      <td class="thumb"><a tabindex="-1"><img alt="" loading="lazy" hidden></a></td>
      <td class="name"><a></a><div class="facts muted"></div></td>
      <td class="duration"></td>
      <td class="state"><span class="status"></span> <span class="stage muted"></span><div class="error-text error"></div></td>
      <td class="progress-cell">${BAR}</td>
      <td class="count"><span class="tracks"></span> <span class="tracks-word"></span><br><span class="muted"><span class="regions"></span> <span class="regions-word"></span></span></td>
      <td class="actions">
        <button type="button" class="retry" hidden>Retry</button>
        <button type="button" class="cancel" hidden>Cancel</button>
        <button type="button" class="delete danger">Delete</button>
      </td>`;
    tr.querySelector(".pick-box").addEventListener("change", (ev) => onPick(id, ev.target.checked));
    return tr;
  }

  function updateMediaRow(tr, item, picked) {
    tr.dataset.status = item.status;
    tr.dataset.stage = item.stage;
    tr.dataset.type = item.media_type || "";
    for (const a of tr.querySelectorAll(".name a, .thumb a")) a.href = `/media/${item.id}`;
    tr.querySelector(".name a").textContent = item.name;
    tr.querySelector(".pick-box").setAttribute("aria-label", `Select ${item.name}`);
    tr.querySelector(".pick-box").checked = picked;
    tr.classList.toggle("selected", picked);
    const img = tr.querySelector(".thumb img");
    if (item.progress.frames_extracted > 0 && img.hidden) {
      img.src = `/files/media/${item.id}/frames/0.jpg`;
      img.hidden = false;
    }
    const image = item.media_type === "image";
    tr.querySelector(".duration").textContent = image ? "image" : clock(item.duration);
    const facts = [image ? "image" : `video${item.duration == null ? "" : ` ${clock(item.duration)}`}`, size(item.size_bytes), when(item.created_at)];
    if (item.width) facts.splice(1, 0, `${item.width}×${item.height}`);
    const factLine = tr.querySelector(".facts");
    factLine.textContent = facts.filter(Boolean).join(" · ");
    factLine.title = `added ${item.created_at || ""}${item.finished_at ? `, finished ${item.finished_at}` : ""}`;
    const status = tr.querySelector(".status");
    status.textContent = item.status;
    status.className = `status status-${item.status}`;
    const unfinished = !FINISHED.includes(item.status);
    tr.querySelector(".stage").textContent = unfinished ? STAGE_TEXT[item.stage] || item.stage : "";
    tr.querySelector(".error-text").textContent = item.error || "";
    if (item.status === "failed" && !item.retryable) {
      tr.querySelector(".error-text").textContent += " (retrying cannot help)";
    }
    showProgress(tr, item);
    tr.querySelector(".tracks").textContent = item.tracks;
    tr.querySelector(".tracks-word").textContent = item.tracks === 1 ? "text" : "texts";
    tr.querySelector(".regions").textContent = item.regions;
    tr.querySelector(".regions-word").textContent = item.regions === 1 ? "region" : "regions";
    const mine = mayChange(item);
    tr.querySelector(".retry").hidden = !(item.retryable && mine);
    tr.querySelector(".cancel").hidden = !(item.cancellable && mine);
    tr.querySelector(".delete").hidden = !mine;
  }

  function library(table) {
    const tbody = table.querySelector("tbody");
    const form = document.getElementById("library-tools");
    const $ = (id) => document.getElementById(id);
    const rows = new Map();      // id -> tr on this page
    const items = new Map();     // id -> latest JSON of every item seen (selected ones kept across pages)
    const picked = new Set();    // selected ids, across pages and filters
    let total = 0, pageIds = [], version = 0;
    const params = new URLSearchParams(location.search);
    const state = {
      q: params.get("q") || "", status: params.get("status") || "", type: params.get("type") || "",
      sort: params.get("sort") || "date", order: params.get("order") || "desc",
      limit: Number(params.get("limit")) || 50, offset: Number(params.get("offset")) || 0,
    };
    const controls = {q: $("library-q"), status: $("library-status"), type: $("library-type"),
      sort: $("library-sort"), order: $("library-order"), limit: $("library-limit")};
    if (state.status && ![...controls.status.options].some(o => o.value === state.status)) {
      controls.status.append(el("option", {value: state.status, text: state.status}));
    }
    for (const [k, c] of Object.entries(controls)) c.value = String(state[k]);

    function query(extra = {}) {
      const q = new URLSearchParams();
      for (const k of ["q", "status", "type", "sort", "order", "limit", "offset"]) if (state[k]) q.set(k, state[k]);
      for (const [k, v] of Object.entries(extra)) q.set(k, v);
      return q;
    }

    function keepInUrl() {
      const q = query();
      for (const [k, v] of [["sort", "date"], ["order", "desc"], ["limit", "50"], ["offset", "0"]]) {
        if (q.get(k) === v) q.delete(k);
      }
      history.replaceState(null, "", q.toString() ? `?${q}` : location.pathname);
    }

    function onPick(id, on) {
      if (on) picked.add(id); else picked.delete(id);
      const tr = rows.get(id);
      if (tr) tr.classList.toggle("selected", on);
      showBulk();
    }

    function render(list) {
      const seen = new Set();
      list.forEach((item, i) => {
        seen.add(item.id);
        items.set(item.id, item);
        let tr = rows.get(item.id);
        if (!tr) { tr = newMediaRow(item.id, onPick); rows.set(item.id, tr); wireRow(tr, item.id); }
        updateMediaRow(tr, item, picked.has(item.id));
        if (tbody.children[i] !== tr) tbody.insertBefore(tr, tbody.children[i] || null);
      });
      for (const [id, tr] of rows) if (!seen.has(id)) { tr.remove(); rows.delete(id); }
      pageIds = list.map(i => i.id);
      const filtered = state.q || state.status || state.type;
      $("media-empty").hidden = total > 0 || !!filtered;
      $("media-none").hidden = total > 0 || !filtered;
      const first = total ? state.offset + 1 : 0, last = state.offset + list.length;
      $("library-count").textContent = total ? `${first.toLocaleString("en")}–${last.toLocaleString("en")} of ${plural(total, "item")}` : "";
      const pages = Math.max(1, Math.ceil(total / state.limit));
      $("page-at").textContent = `page ${Math.floor(state.offset / state.limit) + 1} of ${pages}`;
      $("page-prev").disabled = state.offset === 0;
      $("page-next").disabled = last >= total;
      $("select-all").checked = pageIds.length > 0 && pageIds.every(id => picked.has(id));
      showBulk();
    }

    let loadSeq = 0;
    async function load() {  // the page as the filters say
      const seq = ++loadSeq;
      const data = await api(`/api/media?${query()}`);
      if (seq !== loadSeq) return;  // a newer load was started meanwhile
      total = data.total;
      if (state.offset > 0 && data.items.length === 0 && total > 0) {  // the page emptied (deletes)
        state.offset = Math.max(0, Math.floor((total - 1) / state.limit) * state.limit);
        keepInUrl();
        return load();
      }
      render(data.items);
      version += 1;
      table.dataset.loads = String(version);
    }

    async function refreshUnfinished() {  // only the rows still being worked on
      const ids = pageIds.filter(id => !FINISHED.includes(items.get(id).status));
      if (!ids.length) return false;
      const data = await api(`/api/media?ids=${ids.join(",")}&limit=${ids.length}`);
      for (const item of data.items) {
        items.set(item.id, item);
        const tr = rows.get(item.id);
        if (tr) updateMediaRow(tr, item, picked.has(item.id));
      }
      table.dataset.loads = String(++version);
      return data.items.some(i => !FINISHED.includes(i.status));
    }

    let lastFull = 0;
    const poller = every(async () => {
      try {
        let busy;
        if (Date.now() - lastFull >= IDLE_MS) {  // the whole page now and then: new uploads, deletes elsewhere
          await load();
          lastFull = Date.now();
          busy = pageIds.some(id => !FINISHED.includes(items.get(id).status));
        } else {
          busy = await refreshUnfinished();
        }
        $("media-error").hidden = true;
        return busy ? BUSY_MS : IDLE_MS;
      } catch (e) {
        $("media-error").textContent = `Could not refresh: ${e.message}`;
        $("media-error").hidden = false;
        return IDLE_MS;
      }
    });
    const reload = () => { lastFull = 0; poller.now(); };

    let typing = null;
    controls.q.addEventListener("input", () => {
      clearTimeout(typing);
      typing = setTimeout(() => { state.q = controls.q.value.trim(); state.offset = 0; keepInUrl(); reload(); }, 250);
    });
    for (const k of ["status", "type", "sort", "order", "limit"]) {
      controls[k].addEventListener("change", () => {
        state[k] = k === "limit" ? Number(controls[k].value) : controls[k].value;
        if (k === "sort" && !params.has("order")) {  // names read A-Z, the rest biggest/latest first
          state.order = state.sort === "name" ? "asc" : "desc";
          controls.order.value = state.order;
        }
        state.offset = 0;
        keepInUrl();
        reload();
      });
    }
    form.addEventListener("submit", (e) => e.preventDefault());
    $("page-prev").addEventListener("click", () => { state.offset = Math.max(0, state.offset - state.limit); keepInUrl(); reload(); });
    $("page-next").addEventListener("click", () => { state.offset += state.limit; keepInUrl(); reload(); });
    $("select-all").addEventListener("change", (ev) => {
      for (const id of pageIds) { if (ev.target.checked) picked.add(id); else picked.delete(id); }
      for (const id of pageIds) updateMediaRow(rows.get(id), items.get(id), picked.has(id));
      showBulk();
    });

    // one item's buttons
    function wireRow(tr, id) {
      const act = async (button, path, options) => {
        button.disabled = true;
        try { const item = await api(path, options); if (item) { items.set(id, item); updateMediaRow(tr, item, picked.has(id)); } reload(); }
        catch (e) { say(e.message, true); }
        button.disabled = false;
      };
      tr.querySelector(".retry").addEventListener("click", (ev) => act(ev.target, `/api/media/${id}/retry`, {method: "POST"}));
      tr.querySelector(".cancel").addEventListener("click", (ev) => {
        if (confirm(`Cancel ${items.get(id).name}? Its work stops; Retry runs it again from the start.`)) {
          act(ev.target, `/api/media/${id}/cancel`, {method: "POST"});
        }
      });
      tr.querySelector(".delete").addEventListener("click", async (ev) => {
        const name = items.get(id).name;
        if (!confirm(`Delete ${name}? Its frames, texts and file are removed.`)) return;
        picked.delete(id);
        await act(ev.target, `/api/media/${id}`, {method: "DELETE"});
      });
    }

    // --- the selection's actions
    const bulk = $("bulk"), message = $("bulk-message");
    function say(text, bad = false) {
      message.replaceChildren(typeof text === "string" ? document.createTextNode(text) : text);
      message.className = `bulk-message ${bad ? "error" : ""}`;
      if (bad && !picked.size) alert(typeof text === "string" ? text : text.textContent);
    }
    function showBulk() {
      bulk.hidden = picked.size === 0;
      $("bulk-count").textContent = `${plural(picked.size, "item")} selected`;
    }
    const chosen = () => [...picked].map(id => items.get(id)).filter(Boolean);
    const names = (list) => list.map(i => i.name).join(", ");

    async function bulkAction(action, verb) {
      const list = chosen();
      if (action === "delete" && !confirm(`Delete ${plural(list.length, "item")}? Their frames, texts and files are removed.`)) return;
      const out = await api("/api/media/bulk", {method: "POST", json: {action, ids: list.map(i => i.id)}});
      const failed = out.results.filter(r => !r.ok);
      const ok = out.results.length - failed.length;
      if (action === "delete") for (const r of out.results) if (r.ok) picked.delete(r.id);
      const why = failed.map(r => `${(items.get(r.id) || {name: r.id}).name}: ${r.error}`).join("; ");
      say(`${verb} ${plural(ok, "item")}.` + (failed.length ? ` Not ${verb.toLowerCase()} (${failed.length}): ${why}` : ""), failed.length > 0);
      reload();
    }

    async function reprocess() {
      const list = chosen(), model = $("bulk-model").value;
      const done = list.filter(i => i.status === "done"), left = list.filter(i => i.status !== "done");
      if (!done.length) { say(`Nothing to reprocess: only finished items can be read again (${names(left)}).`, true); return; }
      const job = await api("/api/jobs", {method: "POST", json: {model, media: done.map(i => i.id)}});
      say(el("span", {},
        `Job #${job.id} re-reads ${plural(done.length, "item")} with ${model}: `,
        el("a", {href: `/jobs/${job.id}`, text: "follow it"}),
        left.length ? `. Left out, not finished: ${names(left)}.` : "."));
    }

    const CODES = {unfinished: "not finished", image: "an image has no timeline: no subtitles"};
    async function exportZip() {
      const fmt = $("bulk-format").value, list = chosen();
      const res = await fetch(`/api/media/export.zip?ids=${list.map(i => i.id).join(",")}&format=${fmt}`, {credentials: "same-origin"});
      if (!res.ok) {
        let body = null;
        try { body = await res.json(); } catch (e) { body = null; }
        throw new Error((body && body.error) || `${res.status} ${res.statusText}`);
      }
      const left = JSON.parse(res.headers.get("X-Export-Left-Out") || "[]");
      const name = (/filename="([^"]+)"/.exec(res.headers.get("Content-Disposition") || "") || [])[1] || `export-${fmt}.zip`;
      const url = URL.createObjectURL(await res.blob());
      const a = el("a", {href: url, download: name});
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60000);
      const leftText = left.map(x => `${(items.get(x.id) || {name: `media ${x.id}`}).name} (${CODES[x.code] || x.code})`).join(", ");
      const message = el("span", {"data-left-out": left.map(x => x.id).join(",")},
        `Downloaded ${name}: ${plural(list.length - left.length, "file")} as ${fmt.toUpperCase()}.` + (left.length ? ` Left out: ${leftText} (also in its MANIFEST.txt).` : ""));
      say(message);
    }

    bulk.addEventListener("click", async (ev) => {
      const button = ev.target.closest("button[data-bulk]");
      if (!button) return;
      const action = button.dataset.bulk;
      if (action === "clear") {
        picked.clear();
        for (const id of pageIds) updateMediaRow(rows.get(id), items.get(id), false);
        $("select-all").checked = false;
        showBulk();
        return;
      }
      button.disabled = true;
      try {
        if (action === "reprocess") await reprocess();
        else if (action === "export") await exportZip();
        else await bulkAction(action, {delete: "Deleted", retry: "Queued again", cancel: "Cancelled"}[action]);
      } catch (e) { say(e.message, true); }
      button.disabled = false;
    });
  }

  // --- upload -----------------------------------------------------------------------------------------

  const MEDIA_NAME = /\.(mp4|m4v|mov|mkv|webm|avi|wmv|flv|mpe?g|ts|mts|m2ts|3gp|ogv|ogg|jpe?g|png|gif|webp|bmp|tiff?)$/i;
  const isMedia = (file) => /^(video|image)\//.test(file.type) || MEDIA_NAME.test(file.name);
  const AREA = /^\s*(0|1|0?\.\d+|1\.0*)\s*,\s*(0|1|0?\.\d+|1\.0*)\s*,\s*(0|1|0?\.\d+|1\.0*)\s*,\s*(0|1|0?\.\d+|1\.0*)\s*$/;

  async function walk(entry, path, out) {  // a dropped folder's files, every level down
    if (entry.isFile) {
      const file = await new Promise((ok, bad) => entry.file(ok, bad));
      out.push({file, path: path + file.name});
    } else if (entry.isDirectory) {
      const reader = entry.createReader();
      for (;;) {  // readEntries answers in batches until an empty one
        const batch = await new Promise((ok, bad) => reader.readEntries(ok, bad));
        if (!batch.length) break;
        for (const e of batch) await walk(e, `${path}${entry.name}/`, out);
      }
    }
  }

  function uploader({input, folder, zone, options, list, skipped}) {
    const queue = [];
    const following = new Map();  // media id -> [li, ...] still being worked on
    let running = 0;
    const PARALLEL = 2;
    const field = (name) => options.querySelector(`[name="${name}"]`);
    const sampling = field("sampling");
    const showFor = () => {
      for (const label of options.querySelectorAll("label[data-for]")) {
        label.hidden = !label.dataset.for.split(" ").includes(sampling.value);
      }
    };
    sampling.addEventListener("change", showFor);
    showFor();

    function readOptions() {  // the form's values as the upload's fields; null when an area is malformed
      const error = document.getElementById("options-error");
      const out = [["sampling", sampling.value]];
      for (const name of ["fps", "scene_threshold", "max_gap", "max_reuse", "min_confidence", "min_height", "video_stream", "model"]) {
        const f = field(name);
        if (f.closest("label").hidden || f.value.trim() === "") continue;
        if (f.validity && !f.validity.valid) {
          error.textContent = `${f.closest("label").firstChild.textContent.trim()}: ${f.validationMessage}`;
          error.hidden = false;
          options.open = true;
          return null;
        }
        out.push([name, f.value.trim()]);
      }
      for (const name of ["roi", "ignore"]) {
        for (const line of field(name).value.split("\n").map(s => s.trim()).filter(Boolean)) {
          if (!AREA.test(line)) {
            error.textContent = `${name === "roi" ? "Only inside" : "Ignore"}: "${line}" is not x0,y0,x1,y1 with fractions from 0 to 1`;
            error.hidden = false;
            options.open = true;
            return null;
          }
          out.push([name, line.replace(/\s+/g, "")]);
        }
      }
      error.hidden = true;
      return out;
    }

    function add(files, left = []) {
      skipped.hidden = !left.length;
      skipped.textContent = left.length ? `Left out ${plural(left.length, "file")} that ${left.length === 1 ? "is" : "are"} not a video or image: ${left.join(", ")}` : "";
      if (!files.length) return;
      const fields = readOptions();
      if (!fields) return;
      for (const {file, path} of files) {
        const bar = el("progress", {max: "1", value: "0", "aria-label": `upload of ${path}`});
        const result = el("span", {class: "result muted", text: "waiting"});
        const work = el("div", {class: "work", hidden: ""});
        work.innerHTML = `<span class="status"></span><span class="stage muted"></span>${BAR}<button type="button" class="cancel danger" hidden>Cancel</button>`;
        const li = el("li", {class: "upload-item"}, el("span", {class: "file", text: path}), bar, result, work);
        list.append(li);
        queue.push({file, bar, result, li, fields});
      }
      pump();
    }

    function pump() {
      while (running < PARALLEL && queue.length) {
        running += 1;
        send(queue.shift()).finally(() => { running -= 1; pump(); });
      }
    }

    function send({file, bar, result, li, fields}) {
      return new Promise((resolve) => {
        const form = new FormData();
        form.append("file", file, file.name);
        for (const [k, v] of fields) form.append(k, v);
        const xhr = new XMLHttpRequest();
        xhr.open("POST", "/api/media");
        xhr.setRequestHeader("X-CSRF-Token", csrf());
        xhr.upload.addEventListener("progress", (ev) => {
          if (ev.lengthComputable) bar.value = ev.loaded / ev.total;
          result.textContent = `uploading ${Math.round(100 * bar.value)}%`;
        });
        xhr.upload.addEventListener("load", () => { bar.value = 1; result.textContent = "checking…"; });
        xhr.addEventListener("load", () => {
          let body = null;
          try { body = JSON.parse(xhr.responseText); } catch (e) { body = null; }
          result.replaceChildren();
          if (xhr.status === 201 && body) {
            li.dataset.state = "done";
            li.dataset.id = body.id;
            result.className = "result ok";
            result.append(el("a", {href: `/media/${body.id}`, text: body.media.name}),
              document.createTextNode(body.created ? " uploaded" : " was uploaded before (same content)"));
            if (body.note) result.append(el("div", {class: "muted", text: body.note}));
            follow(li, body.media);
          } else {
            li.dataset.state = "failed";
            result.className = "result error";
            result.textContent = (body && body.error) || `${xhr.status} ${xhr.statusText || "upload failed"}`;
          }
          resolve();
        });
        xhr.addEventListener("error", () => {
          li.dataset.state = "failed";
          result.className = "result error";
          result.textContent = "network error: the upload did not reach the server";
          resolve();
        });
        result.textContent = "uploading 0%";
        xhr.send(form);
      });
    }

    function show(li, item) {  // the item's work after the upload: stage, frames, the outcome
      const work = li.querySelector(".work");
      work.hidden = false;
      li.dataset.stage = item.stage;
      const status = work.querySelector(".status");
      status.className = `status status-${item.status}`;
      status.textContent = item.stage;
      const stage = work.querySelector(".stage");
      if (item.status === "done") stage.textContent = `${plural(item.tracks, "text")} found`;
      else if (item.status === "failed") stage.textContent = item.error || "";
      else if (item.status === "cancelled") stage.textContent = "stopped; Retry on the media page runs it again";
      else stage.textContent = STAGE_TEXT[item.stage] || "";
      stage.className = `stage ${item.status === "failed" ? "error" : "muted"}`;
      showProgress(work, item);
      const cancel = work.querySelector(".cancel");
      cancel.hidden = !(item.cancellable && mayChange(item));
      cancel.onclick = async () => {
        if (!confirm(`Cancel ${item.name}? Its work stops; Retry runs it again from the start.`)) return;
        cancel.disabled = true;
        try { show(li, await api(`/api/media/${item.id}/cancel`, {method: "POST"})); } catch (e) { alert(e.message); }
        cancel.disabled = false;
      };
    }

    const poller = every(async () => {
      if (!following.size) return IDLE_MS;
      try {
        const asked = [...following.keys()];  // uploads that end while this request is out join the next one
        const data = await api(`/api/media?ids=${asked.join(",")}&limit=${asked.length}`);
        const found = new Set(data.items.map(i => i.id));
        for (const item of data.items) {
          for (const li of following.get(item.id) || []) show(li, item);
          if (FINISHED.includes(item.status)) following.delete(item.id);
        }
        for (const id of asked) if (!found.has(id)) following.delete(id);  // deleted meanwhile
      } catch (e) { /* the next poll tries again */ }
      return following.size ? BUSY_MS : IDLE_MS;
    });

    function follow(li, item) {
      show(li, item);
      if (FINISHED.includes(item.status)) return;
      following.set(item.id, (following.get(item.id) || []).concat([li]));
      poller.now();
    }

    const picked = (files, fromFolder) => {
      const all = [...files].map(f => ({file: f, path: f.webkitRelativePath || f.name}));
      if (!fromFolder) return [all, []];
      return [all.filter(x => isMedia(x.file)), all.filter(x => !isMedia(x.file)).map(x => x.path)];
    };
    input.addEventListener("change", () => { add(...picked(input.files, false)); input.value = ""; });
    folder.addEventListener("change", () => { add(...picked(folder.files, true)); folder.value = ""; });
    for (const name of ["dragenter", "dragover"]) {
      zone.addEventListener(name, (ev) => { ev.preventDefault(); zone.classList.add("over"); });
    }
    for (const name of ["dragleave", "drop"]) {
      zone.addEventListener(name, (ev) => { ev.preventDefault(); zone.classList.remove("over"); });
    }
    zone.addEventListener("drop", async (ev) => {
      // entries must be taken while the event lasts; folders are walked afterwards
      const dropped = [...ev.dataTransfer.items].filter(i => i.kind === "file")
        .map(i => ({entry: i.webkitGetAsEntry ? i.webkitGetAsEntry() : null, file: i.getAsFile()}));
      const files = [], left = [];
      for (const {entry, file} of dropped) {
        if (entry && entry.isDirectory) {
          const found = [];
          try { await walk(entry, "", found); } catch (e) { left.push(`${entry.name}/ (could not be read: ${e.message})`); }
          for (const x of found) (isMedia(x.file) ? files.push(x) : left.push(x.path));
        } else if (file) {
          files.push({file, path: file.name});  // a file dropped on its own is sent; the server says if it is not media
        }
      }
      add(files, left);
    });
  }

  // --- live parts of server-rendered pages (jobs, a job) ------------------------------------------------

  // Fetches the container's data-live fragment (an ETag makes an unchanged one a 304) and swaps it in
  // when its version changed; nothing outside the container (the forms) is redrawn.
  function live(container) {
    const url = container.dataset.live;
    let fails = 0;
    const current = () => container.querySelector(".live-state");
    const poller = every(async () => {
      try {
        const res = await fetch(url, {credentials: "same-origin", cache: "no-cache"});
        if (res.redirected || !res.ok) throw new Error(res.redirected ? "logged out: reload the page" : `${res.status} ${res.statusText}`);
        const t = document.createElement("template");
        t.innerHTML = await res.text();
        const next = t.content.querySelector(".live-state");
        if (!next) throw new Error("unexpected answer");
        if (next.dataset.version !== current().dataset.version) {
          const focused = document.activeElement && document.activeElement.dataset && document.activeElement.dataset.action;
          container.replaceChildren(...t.content.childNodes);
          if (focused) { const again = container.querySelector(`[data-action="${focused}"]`); if (again) again.focus(); }
        }
        container.dataset.refreshes = String(Number(container.dataset.refreshes || 0) + 1);
        container.removeAttribute("data-stale");
        fails = 0;
      } catch (e) {
        fails += 1;
        container.dataset.stale = e.message;
        container.title = `Not updated: ${e.message}`;
      }
      return current().dataset.busy === "true" && !fails ? BUSY_MS : IDLE_MS;
    });
    container.addEventListener("dva:changed", () => poller.now());
  }

  // Buttons that post to the API (data-action), asking first where they say so (data-confirm); the
  // live part around them is refreshed after.
  document.addEventListener("click", async (e) => {
    const button = e.target.closest("button[data-action]");
    if (!button) return;
    if (button.dataset.confirm && !confirm(button.dataset.confirm)) return;
    button.disabled = true;
    try {
      await api(button.dataset.action, {method: "POST"});
      if (button.classList.contains("retry")) button.textContent = "queued";
    } catch (err) { alert(err.message); button.disabled = false; return; }
    const scope = button.closest("[data-live]");
    if (scope) scope.dispatchEvent(new Event("dva:changed"));
  });

  // Forms that ask first (the Content-Security-Policy allows no inline handlers).
  document.addEventListener("submit", (e) => {
    const form = e.target.closest("form[data-confirm]");
    if (form && !confirm(form.dataset.confirm)) e.preventDefault();
  });

  // "/" focuses the page's search box (data-shortcut="/", the search page's query) or the nav's.
  document.addEventListener("keydown", (e) => {
    if (e.key !== "/" || e.ctrlKey || e.metaKey || e.altKey || e.defaultPrevented) return;
    if (e.target.closest && e.target.closest("input, textarea, select, [contenteditable]")) return;
    const box = document.querySelector('main [data-shortcut="/"]') || document.querySelector("main .search-form input[name=q]")
      || document.getElementById("nav-q");
    if (!box) return;
    e.preventDefault();
    box.focus();
    if (box.select) box.select();
  });

  return {api, el, clock, pct, size, when, mayChange, SVG, FINISHED, BUSY_MS, STAGE_TEXT, every, showProgress,
    library, uploader, live};
})();
