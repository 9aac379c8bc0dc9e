// Live counts: poll /api/cameras (and on the overview /api/today) every 2 s and update the
// numbers on the page in place.
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
        for (const direction of ["in", "out"]) {
          const cell = row.querySelector(`[data-count="${direction}"]`);
          if (cell) cell.textContent = String(line[direction]);  // since start (camera page)
        }
      }
      const ended = camera.state === "finished" || camera.state === "failed";
      for (const zone of camera.zones) {
        const row = card.querySelector(`[data-zone="${CSS.escape(zone.name)}"]`);
        // A camera that ended has no "now": not its last frame's count.
        row.querySelector('[data-count="current"]').textContent = ended ? "\u2013" : String(zone.current);
      }
      const status = card.querySelector("[data-status]");
      if (status) {
        status.textContent = camera.state;
        status.className = "status " + camera.state;
        status.title = camera.reason || "";
      }
      const reason = card.querySelector("[data-reason]");
      if (reason) reason.textContent = camera.reason || "";
    }
  }

  // The same words as the server's `Compared.against`.
  function against(today, before) {
    if (before === 0) return today ? "new" : "same";
    const change = (today - before) / before;
    if (Math.abs(change) < 0.005) return "same";
    const percent = Math.round(change * 100);
    return (percent > 0 ? "+" : "\u2212") + Math.abs(percent) + "%";
  }

  function show(cell, counts) {
    if (!cell) return;
    cell.querySelector("[data-today]").textContent = String(counts.today);
    const changes = cell.querySelectorAll(".change");
    changes[0].textContent = against(counts.today, counts.yesterday);
    changes[1].textContent = against(counts.today, counts.last_week);
  }

  function updateToday(today) {
    show(document.querySelector('[data-site="in"]'), today.in);
    show(document.querySelector('[data-site="out"]'), today.out);
    for (const camera of today.cameras) {
      const card = root.querySelector(`[data-camera="${CSS.escape(camera.name)}"]`);
      if (!card) continue;
      for (const line of camera.lines) {
        const row = card.querySelector(`[data-line="${CSS.escape(line.name)}"]`);
        if (!row) continue;
        show(row.querySelector('[data-direction="in"]'), line.in);
        show(row.querySelector('[data-direction="out"]'), line.out);
      }
      for (const [zone, peak] of Object.entries(camera.zone_peaks)) {
        const cell = card.querySelector(`[data-zone="${CSS.escape(zone)}"] [data-peak]`);
        if (cell) cell.textContent = String(peak);
      }
    }
  }

  async function fetchJson(address) {
    const response = await fetch(address, { credentials: "same-origin", cache: "no-store" });
    if (response.status === 401) {
      window.location.reload();  // the session ended: the server sends us to /login
      return null;
    }
    return response.ok ? response.json() : null;
  }

  const todayRoot = document.querySelector("[data-poll-today]");

  async function poll() {
    try {
      const cameras = await fetchJson(url);
      if (cameras) update(cameras);
      if (todayRoot) {
        const today = await fetchJson(todayRoot.getAttribute("data-poll-today"));
        if (today) updateToday(today);
      }
    } catch (error) {
      // Server restarting or network gone: keep the last numbers, try again next time.
    }
    window.setTimeout(poll, 2000);
  }
  window.setTimeout(poll, 2000);
})();
