// Live counts: poll /api/cameras every 2 s and update the numbers on the page in place.
"use strict";
(function () {
  const root = document.querySelector("[data-poll]");
  if (!root) return;
  const url = root.getAttribute("data-poll");

  function names(selector, attribute, card) {
    return Array.from(card.querySelectorAll(selector), (el) => el.getAttribute(attribute));
  }

  function update(cameras) {
    for (const camera of cameras) {
      const card = root.querySelector(`[data-camera="${CSS.escape(camera.name)}"]`);
      if (!card) continue;
      const lines = camera.lines.map((l) => l.name);
      const zones = camera.zones.map((z) => z.name);
      // Lines or zones changed (the editor saved): rebuild the page from the server.
      if (lines.join("\n") !== names("[data-line]", "data-line", card).join("\n") ||
          zones.join("\n") !== names("[data-zone]", "data-zone", card).join("\n")) {
        window.location.reload();
        return;
      }
      for (const line of camera.lines) {
        const row = card.querySelector(`[data-line="${CSS.escape(line.name)}"]`);
        row.querySelector('[data-count="in"]').textContent = String(line.in);
        row.querySelector('[data-count="out"]').textContent = String(line.out);
      }
      for (const zone of camera.zones) {
        const row = card.querySelector(`[data-zone="${CSS.escape(zone.name)}"]`);
        row.querySelector('[data-count="current"]').textContent = String(zone.current);
      }
      const status = card.querySelector("[data-status]");
      if (status) {
        status.textContent = camera.connected ? "live" : "not connected";
        status.className = "status " + (camera.connected ? "ok" : "down");
      }
    }
  }

  async function poll() {
    try {
      const response = await fetch(url, { credentials: "same-origin", cache: "no-store" });
      if (response.status === 401) {
        window.location.reload();  // the session ended: the server sends us to /login
        return;
      }
      if (response.ok) update(await response.json());
    } catch (error) {
      // Server restarting or network gone: keep the last numbers, try again next time.
    }
    window.setTimeout(poll, 2000);
  }
  window.setTimeout(poll, 2000);
})();
