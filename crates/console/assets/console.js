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

// Image upload: the form makes the image record, then the file goes through
// the console into Glance (streamed; the page's CSRF token in a header).
(function () {
  const form = document.getElementById("image-upload");
  if (!form) return;
  form.addEventListener("submit", async (ev) => {
    const file = form.querySelector("input[type=file]").files[0];
    if (!file) return; // no file: the plain form makes a queued image
    ev.preventDefault();
    const csrf = form.querySelector("input[name=csrf]").value;
    const fields = new URLSearchParams(new FormData(form));
    fields.delete("file");
    const made = await fetch(form.action, { method: "POST", body: fields,
      headers: { "Accept": "application/json" }, credentials: "same-origin" });
    const answer = await made.json();
    if (!made.ok) { location.href = form.action + "?error=" + encodeURIComponent(answer.message); return; }
    const sent = await fetch(`/console/images/${answer.id}/file`, { method: "PUT", body: file,
      headers: { "X-CSRF-Token": csrf }, credentials: "same-origin" });
    const note = sent.ok ? "done=" + encodeURIComponent("Image uploaded.")
                         : "error=" + encodeURIComponent("The upload failed (" + sent.status + ").");
    location.href = form.action + "?" + note;
  });
})();
