// Nimbus console: keeps elements marked data-live fresh without a reload, by
// fetching the page again every few seconds and swapping those elements in.
// Everything else works without JavaScript.
(function () {
  const live = () => Array.from(document.querySelectorAll("[data-live][id]"));
  if (live().length === 0) return;
  async function refresh() {
    try {
      const resp = await fetch(location.href, { credentials: "same-origin" });
      if (!resp.ok) return;
      const doc = new DOMParser().parseFromString(await resp.text(), "text/html");
      for (const el of live()) {
        const fresh = doc.getElementById(el.id);
        if (fresh && fresh.innerHTML !== el.innerHTML && !el.contains(document.activeElement)) {
          el.innerHTML = fresh.innerHTML;
        }
      }
    } catch (e) { /* offline for a moment: try again next time */ }
  }
  setInterval(refresh, 3000);
})();
