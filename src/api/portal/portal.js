// Berth portal: the one script, for search as you type on the repository list. Without it
// the same form searches when submitted; with it, the list that the form would load is
// fetched as the user types and swapped in place, keeping the focus in the search box.
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
