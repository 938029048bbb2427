// The search page: the form applies itself as it changes. After a pause in typing (DEBOUNCE_MS) the
// page the server renders for the form's values is fetched and its results swapped in, and the
// address follows (so a reload or a shared link shows the same). Loaded after app.js.
DVA.searchPage = (() => {
  const DEBOUNCE_MS = 300;

  function searchPage(form, results) {
    let timer = null, inFlight = null, shown = new URLSearchParams(location.search).toString();

    const query = () => {
      const params = new URLSearchParams();
      for (const [k, v] of new FormData(form)) if (String(v).trim() !== "") params.set(k, v);
      return params.toString();
    };

    async function run() {
      const wanted = query();
      if (wanted === shown) return;
      for (const input of form.querySelectorAll("input[type=number]")) if (!input.checkValidity()) return;
      if (inFlight) inFlight.abort();
      inFlight = new AbortController();
      results.setAttribute("aria-busy", "true");
      try {
        const res = await fetch(`/search?${wanted}`, {credentials: "same-origin", signal: inFlight.signal});
        const doc = new DOMParser().parseFromString(await res.text(), "text/html");
        const fresh = doc.getElementById("search-results");
        if (!fresh) throw new Error(`${res.status} ${res.statusText}`);
        results.replaceChildren(...fresh.childNodes);
        document.title = doc.title;
        history.replaceState(null, "", wanted ? `/search?${wanted}` : "/search");
        shown = wanted;
      } catch (e) {
        if (e.name === "AbortError") return;
        results.replaceChildren(DVA.el("p", {class: "error", role: "alert", text: `Search failed: ${e.message}`}));
      } finally {
        results.removeAttribute("aria-busy");
      }
    }

    const soon = () => { clearTimeout(timer); timer = setTimeout(run, DEBOUNCE_MS); };
    form.addEventListener("input", soon);
    form.addEventListener("change", soon);
    form.addEventListener("submit", (ev) => { ev.preventDefault(); clearTimeout(timer); run(); });
  }

  return searchPage;
})();
