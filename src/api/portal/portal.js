// Berth portal: the one script, for search as you type on the repository list and for
// following a running task's log. Without it the same form searches when submitted; with it,
// the list that the form would load is fetched as the user types and swapped in place,
// keeping the focus in the search box. A run's page without it refreshes itself instead.
"use strict";
(() => {
  const form = document.querySelector("form[role=search]");
  if (!form) return;
  let timer;
  let pending;
  const refresh = async () => {
    pending?.abort();
    pending = new AbortController();
    const url = `${form.action}?${new URLSearchParams(new FormData(form))}`;
    try {
      const res = await fetch(url, { signal: pending.signal, credentials: "same-origin" });
      if (!res.ok) return;
      const page = new DOMParser().parseFromString(await res.text(), "text/html");
      const fresh = page.getElementById("results");
      const shown = document.getElementById("results");
      if (fresh && shown) {
        shown.replaceWith(fresh);
        history.replaceState(null, "", url);
      }
    } catch (e) {
      if (e.name !== "AbortError") throw e;
    }
  };
  form.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(refresh, 150);
  });
})();

// A run's log, followed in place: new text appended as text (never as markup), the status
// updated, and the page loaded again once the run has ended (for its outputs and times).
(() => {
  const log = document.querySelector("pre#log[data-follow]");
  if (!log) return;
  let offset = Number(log.dataset.offset) || 0;
  const poll = async () => {
    let next = null;
    try {
      const res = await fetch(`${log.dataset.follow}?offset=${offset}`, { credentials: "same-origin" });
      const json = res.ok && (res.headers.get("content-type") || "").startsWith("application/json");
      next = json ? await res.json() : null;
    } catch {
      setTimeout(poll, 3000); // the server may be restarting: ask again
      return;
    }
    if (!next) return location.reload(); // signed out or refused: the page says why
    const bottom = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
    if (next.text) log.append(next.text);
    if (bottom) log.scrollTop = log.scrollHeight;
    offset = next.offset;
    const status = document.querySelector("#run-status .status");
    if (status) {
      status.textContent = next.status;
      status.className = `status ${next.status.toLowerCase()}`;
    }
    document.getElementById("log-cut").hidden = !next.cut;
    if (next.final) return location.reload();
    setTimeout(poll, 1000);
  };
  setTimeout(poll, 1000);
})();
