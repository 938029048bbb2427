// The media page: player, sampled frame with boxes, the text list. Loaded after app.js.
DVA.mediaPage = (() => {
  const {api, el, clock, SVG} = DVA;

  function mediaPage(root) {
    const id = root.dataset.id;
    const video = document.getElementById("player");
    const frame = document.getElementById("frame"), img = document.getElementById("frame-img");
    const svg = document.getElementById("frame-boxes"), none = document.getElementById("frame-none");
    const frameTime = document.getElementById("frame-time");
    const textsBox = document.getElementById("texts"), filter = document.getElementById("text-filter");
    let byFrame = new Map(); // frame_index -> regions
    let shown = null;

    function drawBoxes(regions, selectedId) {
      svg.replaceChildren();
      for (const r of regions) {
        let shape;
        if (r.polygon && r.polygon.length >= 3) {
          shape = document.createElementNS(SVG, "polygon");
          shape.setAttribute("points", r.polygon.map(p => p.join(",")).join(" "));
        } else {
          const [x, y, w, h] = r.box;
          shape = document.createElementNS(SVG, "rect");
          Object.entries({x, y, width: w, height: h}).forEach(([k, v]) => shape.setAttribute(k, v));
        }
        shape.setAttribute("class", r.id === selectedId ? "box selected" : "box");
        const title = document.createElementNS(SVG, "title");
        title.textContent = `${r.text} (${Math.round(r.confidence * 100)}%)`;
        shape.append(title);
        svg.append(shape);
      }
    }

    function showFrame(index, time, selectedId) {
      if (index == null || index === "") { frame.hidden = true; none.hidden = false; return; }
      index = Number(index);
      none.hidden = true;
      frame.hidden = false;
      const regions = byFrame.get(index) || [];
      const src = `/files/media/${id}/frames/${index}.jpg`;
      shown = index;
      const draw = () => {
        svg.setAttribute("viewBox", `0 0 ${img.naturalWidth} ${img.naturalHeight}`);
        drawBoxes(regions, selectedId);
      };
      if (img.getAttribute("src") !== src) {
        img.onload = draw;
        img.src = src;
      } else if (img.complete && img.naturalWidth) {
        draw();
      }
      if (frameTime && time != null) frameTime.textContent = `at ${clock(time)} (${Number(time).toFixed(1)} s)`;
      for (const g of textsBox.querySelectorAll(".text-group")) {
        g.classList.toggle("current", Number(g.dataset.frame) === index);
      }
    }

    function seek(time) {
      if (!video) return;
      const go = () => { video.currentTime = time; };
      if (video.readyState >= 1) go();
      else video.addEventListener("loadedmetadata", go, {once: true});
    }

    // Tracks: each text once, with its time span; its box in every frame it was seen in.
    function renderTexts(tracks) {
      byFrame = new Map();
      for (const tr of tracks) {
        for (const s of tr.boxes) {
          if (!byFrame.has(s.frame)) byFrame.set(s.frame, []);
          byFrame.get(s.frame).push({id: tr.id, text: tr.text, confidence: tr.confidence, box: s.box, time: s.t});
        }
      }
      textsBox.replaceChildren();
      if (!tracks.length) {
        textsBox.append(el("p", {class: "muted", text: "No text found (yet)."}));
        return;
      }
      const byStart = new Map(); // first frame index -> tracks that start there
      for (const tr of tracks) {
        const first = tr.boxes[0];
        if (!byStart.has(first.frame)) byStart.set(first.frame, {time: first.t, tracks: []});
        byStart.get(first.frame).tracks.push(tr);
      }
      for (const [index, group] of byStart) {
        const time = group.time;
        const items = group.tracks.map(tr => el("li", {},
          el("button", {type: "button", class: "text-item", "data-time": time, "data-region": tr.id,
            title: `${clock(tr.start)}–${clock(tr.end)} · confidence ${Math.round(tr.confidence * 100)}%`,
            onclick: () => { seek(time); showFrame(index, time, tr.id); }}, tr.text)));
        textsBox.append(el("div", {class: "text-group", "data-frame": index},
          el("button", {type: "button", class: "time", text: clock(time),
            onclick: () => { seek(time); showFrame(index, time, null); }}),
          el("ul", {}, ...items)));
      }
    }

    filter.addEventListener("input", () => {
      const needle = filter.value.trim().toLowerCase();
      for (const g of textsBox.querySelectorAll(".text-group")) {
        let any = false;
        for (const b of g.querySelectorAll(".text-item")) {
          const hit = !needle || b.textContent.toLowerCase().includes(needle);
          b.parentElement.hidden = !hit;
          any = any || hit;
        }
        g.hidden = !any;
      }
    });

    const t = root.dataset.t === "" ? null : Number(root.dataset.t);
    if (t != null) seek(t);
    api(`/api/media/${id}/tracks`).then(data => {
      renderTexts(data.tracks);
      const start = root.dataset.frame;
      if (start !== "") {
        const regions = byFrame.get(Number(start));
        showFrame(start, regions ? regions[0].time : t, null);
      } else if (root.dataset.image === "true") {
        showFrame(0, 0, null);
      } else {
        showFrame(null);
      }
    }).catch(e => { textsBox.replaceChildren(el("p", {class: "error", text: e.message})); });
    // still being read: follow the status, and reload once the texts are all there
    if (!["done", "failed"].includes(root.dataset.status)) {
      const chip = document.getElementById("media-status");
      const poll = async () => {
        try {
          const item = await api(`/api/media/${id}`);
          chip.textContent = item.status;
          chip.className = `status status-${item.status}`;
          if (["done", "failed"].includes(item.status)) { location.reload(); return; }
        } catch (e) { /* keep polling: the server may be restarting */ }
        setTimeout(poll, 1500);
      };
      setTimeout(poll, 1500);
    }
    return {seek, showFrame, get shown() { return shown; }};
  }

  return mediaPage;
})();
