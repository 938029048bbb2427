// dva-ocr dashboard scripts: plain JavaScript, no build step.
const DVA = (() => {
  const csrf = () => document.querySelector('meta[name="csrf-token"]').content;
  const SVG = "http://www.w3.org/2000/svg";
  // Members change (retry, delete) only what they uploaded; admins anything (the server checks too).
  const mayChange = (item) => {
    const me = document.querySelector('meta[name="dva-user"]');
    return !!me && (me.dataset.role === "admin" || item.owner_id === Number(me.content));
  };

  async function api(path, options = {}) {
    const headers = Object.assign({"X-CSRF-Token": csrf()}, options.headers || {});
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

  // --- media list ---------------------------------------------------------------------------------

  function newMediaRow(id) {
    const tr = el("tr", {"data-id": id});
    tr.innerHTML = `
      <td class="thumb"><a><img alt="" loading="lazy" hidden></a></td>
      <td class="name"><a></a></td>
      <td class="duration"></td>
      <td><span class="status"></span><div class="error-text error"></div></td>
      <td class="progress-cell">
        <div class="bar" role="progressbar" aria-valuemin="0" aria-valuemax="100">
          <div class="extracted"></div><div class="ocr"></div>
        </div>
        <div class="counts muted"></div>
      </td>
      <td class="regions"></td>
      <td class="actions">
        <button type="button" class="retry" hidden>Retry</button>
        <button type="button" class="delete danger">Delete</button>
      </td>`;
    tr.querySelector(".retry").addEventListener("click", async (ev) => {
      ev.target.disabled = true;
      try { updateMediaRow(tr, await api(`/api/media/${id}/retry`, {method: "POST"})); }
      catch (e) { alert(e.message); }
      ev.target.disabled = false;
    });
    tr.querySelector(".delete").addEventListener("click", async () => {
      const name = tr.querySelector(".name a").textContent;
      if (!confirm(`Delete ${name}? Its frames, texts and file are removed.`)) return;
      try { await api(`/api/media/${id}`, {method: "DELETE"}); tr.remove(); }
      catch (e) { alert(e.message); }
    });
    return tr;
  }

  function updateMediaRow(tr, item) {
    const p = item.progress, total = p.frames_total;
    tr.dataset.status = item.status;
    for (const a of tr.querySelectorAll(".name a, .thumb a")) a.href = `/media/${item.id}`;
    tr.querySelector(".name a").textContent = item.name;
    const img = tr.querySelector(".thumb img");
    if (p.frames_extracted > 0 && img.hidden) {
      img.src = `/files/media/${item.id}/frames/0.jpg`;
      img.hidden = false;
    }
    tr.querySelector(".duration").textContent = item.media_type === "image" ? "image" : clock(item.duration);
    const status = tr.querySelector(".status");
    status.textContent = item.status;
    status.className = `status status-${item.status}`;
    tr.querySelector(".error-text").textContent = item.error || "";
    const done = item.status === "done";
    const handled = p.frames_ocr + p.frames_skipped; // read, or unchanged and skipped
    const ocr = done ? 100 : pct(handled, total);
    tr.querySelector(".bar .extracted").style.width = `${done ? 100 : pct(p.frames_extracted, total)}%`;
    tr.querySelector(".bar .ocr").style.width = `${ocr}%`;
    tr.querySelector(".bar").setAttribute("aria-valuenow", Math.round(ocr));
    const of = total == null ? "?" : total;
    tr.querySelector(".counts").textContent =
      `extracted ${p.frames_extracted}/${of} · read ${handled}/${of}` +
      (p.frames_skipped ? ` (${p.frames_skipped} unchanged)` : "");
    tr.querySelector(".regions").textContent = item.regions;
    tr.querySelector(".retry").hidden = item.status !== "failed" || !mayChange(item);
    tr.querySelector(".delete").hidden = !mayChange(item);
  }

  function mediaList(tbody) {
    const rows = new Map();
    const empty = document.getElementById("media-empty"), error = document.getElementById("media-error");
    async function refresh() {
      let busy = false;
      try {
        const data = await api("/api/media");
        const seen = new Set();
        data.items.forEach((item, i) => {
          seen.add(item.id);
          let tr = rows.get(item.id);
          if (!tr) { tr = newMediaRow(item.id); rows.set(item.id, tr); }
          updateMediaRow(tr, item);
          if (tbody.children[i] !== tr) tbody.insertBefore(tr, tbody.children[i] || null);
        });
        for (const [id, tr] of rows) if (!seen.has(id)) { tr.remove(); rows.delete(id); }
        busy = data.items.some(i => !["done", "failed"].includes(i.status));
        empty.hidden = data.items.length > 0;
        error.hidden = true;
      } catch (e) {
        error.textContent = `Could not refresh: ${e.message}`;
        error.hidden = false;
      }
      setTimeout(refresh, busy ? 1000 : 5000);
    }
    refresh();
  }

  // --- upload -------------------------------------------------------------------------------------

  function uploader({input, zone, fps, list}) {
    const queue = [];
    let running = 0;
    const PARALLEL = 2;

    function add(files) {
      for (const file of files) {
        const bar = el("progress", {max: "1", value: "0"});
        const result = el("span", {class: "result muted", text: "waiting"});
        const li = el("li", {class: "upload-item"}, el("span", {class: "file", text: file.name}), bar, result);
        list.append(li);
        queue.push({file, bar, result, li, fps: fps.value});
      }
      pump();
    }

    function pump() {
      while (running < PARALLEL && queue.length) {
        running += 1;
        send(queue.shift()).finally(() => { running -= 1; pump(); });
      }
    }

    function send({file, bar, result, li, fps: rate}) {
      return new Promise((resolve) => {
        const form = new FormData();
        form.append("file", file, file.name);
        if (rate) form.append("fps", rate);
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
            result.className = "result ok";
            result.append(el("a", {href: `/media/${body.id}`, text: body.media.name}),
              document.createTextNode(body.created ? " uploaded, queued for OCR" : " was uploaded before (same content)"));
            if (body.note) result.append(el("div", {class: "muted", text: body.note}));
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

    input.addEventListener("change", () => { add(input.files); input.value = ""; });
    for (const name of ["dragenter", "dragover"]) {
      zone.addEventListener(name, (ev) => { ev.preventDefault(); zone.classList.add("over"); });
    }
    for (const name of ["dragleave", "drop"]) {
      zone.addEventListener(name, (ev) => { ev.preventDefault(); zone.classList.remove("over"); });
    }
    zone.addEventListener("drop", (ev) => add(ev.dataTransfer.files));
  }

  // --- jobs ---------------------------------------------------------------------------------------

  function retryButtons(scope) {
    for (const b of scope.querySelectorAll("button.retry[data-id]")) {
      b.addEventListener("click", async () => {
        b.disabled = true;
        try { await api(`/api/media/${b.dataset.id}/retry`, {method: "POST"}); b.textContent = "queued"; }
        catch (e) { alert(e.message); b.disabled = false; }
      });
    }
  }

  // Forms that ask first (the Content-Security-Policy allows no inline handlers).
  document.addEventListener("submit", (e) => {
    const form = e.target.closest("form[data-confirm]");
    if (form && !confirm(form.dataset.confirm)) e.preventDefault();
  });

  return {api, el, clock, pct, mayChange, SVG, mediaList, uploader, retryButtons};
})();
