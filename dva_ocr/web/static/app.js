// dva-ocr dashboard scripts: plain JavaScript, no build step.
const DVA = (() => {
  const csrf = () => document.querySelector('meta[name="csrf-token"]').content;

  async function api(path, options = {}) {
    const headers = Object.assign({"X-CSRF-Token": csrf()}, options.headers || {});
    const res = await fetch(path, Object.assign({credentials: "same-origin"}, options, {headers}));
    if (res.status === 204) return null;
    const body = await res.json();
    if (!res.ok) throw new Error(body.error || res.statusText);
    return body;
  }

  function text(el, value) { el.textContent = value == null ? "" : String(value); return el; }

  function mediaRow(item) {
    const tr = document.createElement("tr");
    tr.dataset.id = item.id;
    const p = item.progress;
    tr.innerHTML = "<td></td><td class='status'></td><td><progress max='1'></progress> <span class='counts'></span></td><td class='regions'></td>";
    text(tr.children[0], item.name);
    text(tr.querySelector(".status"), item.status + (item.error ? ": " + item.error : ""));
    tr.querySelector("progress").value = p.fraction;
    text(tr.querySelector(".counts"), `${p.frames_ocr}/${p.frames_total ?? "?"} frames`);
    text(tr.querySelector(".regions"), item.regions);
    return tr;
  }

  function mediaList(tbody) {
    async function refresh() {
      const data = await api("/api/media");
      tbody.replaceChildren(...data.items.map(mediaRow));
      const busy = data.items.some(i => !["done", "failed"].includes(i.status));
      setTimeout(refresh, busy ? 1000 : 5000);
    }
    refresh();
  }

  return {api, mediaList};
})();
