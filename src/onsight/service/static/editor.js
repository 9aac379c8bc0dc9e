// Geometry editor: click on the snapshot to draw lines, areas of each app kind (zones,
// queues, restricted areas, stations) and ignored areas; drag a corner or end (or a whole
// item) to move it; rename items in the list. The form posts the whole set as JSON, each
// item with the name it had (`was`) so that the server keeps its settings across a rename.
// Coordinates are normalised (0-1) from the pointer position in the picture's box.
"use strict";
(function () {
  const editor = document.getElementById("editor");
  if (!editor) return;
  const svg = document.getElementById("canvas");
  const width = Number(editor.dataset.width);
  const height = Number(editor.dataset.height);
  const geometry = JSON.parse(editor.dataset.geometry);
  // The kinds drawn here, e.g. {key: "queues", shape: "polygon", noun: "queue"}.
  const sections = JSON.parse(editor.dataset.sections);
  // After a refused save the page shows what was posted: keep only what can be drawn.
  const isPoint = (p) => Array.isArray(p) && p.length === 2 && p.every(Number.isFinite);
  const valid = (item, section) => item && typeof item.name === "string" &&
    Array.isArray(item[section.shape]) && item[section.shape].every(isPoint) &&
    (section.shape === "points" ? item.points.length === 2 : item.polygon.length >= 3);
  const items = {};
  for (const section of sections) {
    const given = Array.isArray(geometry[section.key]) ? geometry[section.key] : [];
    items[section.key] = given.filter((item) => valid(item, section));
    for (const item of items[section.key]) {
      if (typeof item.was !== "string") item.was = item.name;
    }
  }
  const allNamed = () => sections.flatMap((section) => items[section.key]);
  // Ignored areas have no name in the config; here they are shown as "ignore 1", "ignore 2".
  const ignored = (Array.isArray(geometry.ignore) ? geometry.ignore : [])
    .filter((p) => Array.isArray(p) && p.length >= 3 && p.every(isPoint))
    .map((polygon) => ({ polygon }));
  // Calibration: picture points and where they are on the floor (metres), in pairs.
  const given = geometry.calibration && Array.isArray(geometry.calibration.image)
    ? geometry.calibration : { image: [], ground: [] };
  const marks = given.image.map((p, i) => ({ image: p, ground: given.ground[i] }))
    .filter((m) => isPoint(m.image) && isPoint(m.ground));
  const nameInput = document.getElementById("item-name");
  const hint = document.getElementById("hint");
  const buttons = {
    ignore: document.getElementById("draw-ignore"),
    mark: document.getElementById("add-calibration"),
    finish: document.getElementById("finish-zone"),
    cancel: document.getElementById("cancel"),
  };
  const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
  const SVG = "http://www.w3.org/2000/svg";
  let mode = null; // null | a section (drawing one of its items) | "ignore"
  let pending = [];

  function el(tag, attributes, parent) {
    const node = document.createElementNS(SVG, tag);
    for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, String(value));
    parent.appendChild(node);
    return node;
  }

  const px = (p) => [p[0] * width, p[1] * height];
  const fontSize = Math.max(11, height * 0.045);

  function label(parent, x, y, text) {
    const node = el("text", { x, y, "font-size": fontSize, "text-anchor": "middle" }, parent);
    node.textContent = text;
  }

  // Dragging: a handle moves one point, the item's body moves all of its points.
  let drag = null; // {item, key, index (null: whole item), start, from}

  function handles(g, item, key) {
    item[key].forEach((p, index) => {
      const [x, y] = px(p);
      const handle = el("circle", { class: "handle", cx: x, cy: y, r: fontSize * 0.45 }, g);
      handle.dataset.index = String(index);
      handle.setAttribute("aria-label", `Point ${index + 1} of ${item.name}`);
    });
    g.dataset.name = item.name;
    g.addEventListener("pointerdown", (event) => startDrag(event, item, key));
  }

  function drawLine(line, extra) {
    const g = el("g", { class: "line" + extra }, svg);
    const [a, b] = line.points.map(px);
    el("line", { class: "body", x1: a[0], y1: a[1], x2: b[0], y2: b[1] }, g);
    const dx = b[0] - a[0], dy = b[1] - a[1];
    const length = Math.hypot(dx, dy) || 1;
    const arrow = 0.08 * Math.min(width, height);
    const mid = [(a[0] + b[0]) / 2, (a[1] + b[1]) / 2];
    const tip = [mid[0] - (dy / length) * arrow, mid[1] + (dx / length) * arrow];
    el("line", { class: "arrow", x1: mid[0], y1: mid[1], x2: tip[0], y2: tip[1],
                 "marker-end": "url(#arrowhead)" }, g);
    label(g, tip[0], tip[1] - fontSize * 0.4, `${line.name} (${line.in_name || "in"})`);
    handles(g, line, "points");
  }

  function drawZone(zone, extra) {
    const g = el("g", { class: extra }, svg);
    const points = zone.polygon.map(px);
    el("polygon", { points: points.map((p) => p.join(",")).join(" ") }, g);
    const cx = points.reduce((s, p) => s + p[0], 0) / points.length;
    const cy = points.reduce((s, p) => s + p[1], 0) / points.length;
    label(g, cx, cy, zone.name);
    handles(g, zone, "polygon");
  }

  const round = (v) => Math.round(v * 10000) / 10000;
  const clamp = (v) => Math.min(1, Math.max(0, v));

  function at(event) {
    const box = svg.getBoundingClientRect();
    return [(event.clientX - box.left) / box.width, (event.clientY - box.top) / box.height];
  }

  function startDrag(event, item, key) {
    if (mode !== null || event.button !== 0) return;
    const index = event.target.dataset.index;
    drag = { item, key, index: index === undefined ? null : Number(index), start: at(event),
             from: item[key].map((p) => p.slice()), moved: false };
    svg.setPointerCapture(event.pointerId);
    event.preventDefault();
  }

  svg.addEventListener("pointermove", (event) => {
    if (drag === null) return;
    const [x, y] = at(event);
    let dx = x - drag.start[0], dy = y - drag.start[1];
    if (drag.index === null) { // keep the whole item inside the picture
      dx = Math.min(Math.max(dx, -Math.min(...drag.from.map((p) => p[0]))),
                    1 - Math.max(...drag.from.map((p) => p[0])));
      dy = Math.min(Math.max(dy, -Math.min(...drag.from.map((p) => p[1]))),
                    1 - Math.max(...drag.from.map((p) => p[1])));
    }
    drag.item[drag.key] = drag.from.map((p, i) => drag.index === null || drag.index === i
      ? [round(clamp(p[0] + dx)), round(clamp(p[1] + dy))] : p.slice());
    drag.moved = true;
    render();
  });

  function endDrag() {
    if (drag === null) return;
    if (drag.moved) hint.textContent = `Moved ${drag.item.name}. Press Save to keep it.`;
    drag = null;
  }
  svg.addEventListener("pointerup", endDrag);
  svg.addEventListener("pointercancel", endDrag);

  function drawPending() {
    if (!pending.length) return;
    const g = el("g", { class: "pending" }, svg);
    const points = pending.map(px);
    el("polyline", { points: points.map((p) => p.join(",")).join(" ") }, g);
    for (const p of points) el("line", { class: "vertex", x1: p[0], y1: p[1], x2: p[0], y2: p[1] }, g);
  }

  function listItem(list, item, group, kind) {
    const li = document.createElement("li");
    if (kind === "ignored area") {
      item.name = `ignore ${group.indexOf(item) + 1}`;
      const text = document.createElement("span");
      text.textContent = item.name;
      li.append(text);
    } else {
      li.append(nameField(item, kind));
    }
    if (kind === "line") {
      const directions = document.createElement("span");
      directions.className = "muted small directions";
      directions.textContent = `in / out: ${item.in_name || "in"} / ${item.out_name || "out"}`;
      directions.title = "Direction names (in / out), kept when the line is moved or renamed";
      li.append(directions, alertChoice(item));
    }
    const remove = document.createElement("button");
    remove.type = "button";
    remove.textContent = "Delete";
    remove.setAttribute("aria-label", `Delete ${kind} ${item.name}`);
    remove.addEventListener("click", () => {
      group.splice(group.indexOf(item), 1);
      hint.textContent = kind === "line"
        ? `Deleted line ${item.name} with its direction names (${item.in_name || "in"} / ` +
          `${item.out_name || "out"}). Press Save to keep this, or reload to undo.`
        : `Deleted ${kind} ${item.name}. Press Save to keep this, or reload to undo.`;
      render();
    });
    li.append(remove);
    list.appendChild(li);
  }

  function nameField(item, kind) {
    // Renaming keeps the item's settings; counts already recorded keep the old name.
    const input = document.createElement("input");
    input.className = "item-name";
    input.value = item.name;
    input.maxLength = 64;
    input.setAttribute("aria-label", `Name of ${kind} ${item.name}`);
    input.addEventListener("change", () => {
      const name = input.value.trim();
      if (name === item.name) return;
      if (!NAME.test(name)) {
        hint.textContent = "Names use letters, digits, '_', '.' or '-' and start with a letter or digit.";
      } else if (allNamed().some((i) => i !== item && i.name === name)) {
        hint.textContent = `The name ${name} is taken; choose another.`;
      } else {
        const before = item.name;
        item.name = name;
        hint.textContent = `Renamed ${kind} ${before} to ${name}` +
          (item.was && item.was !== name ? `; counts already recorded stay under ${item.was}` : "") +
          ". Press Save to keep it.";
      }
      render();
    });
    return input;
  }

  function alertChoice(line) {
    // A crossing in the chosen direction is also a wrong-way alert.
    const select = document.createElement("select");
    select.setAttribute("aria-label", `Wrong-way alert for line ${line.name}`);
    for (const [value, text] of [["", "no alert"], ["in", "alert on in"], ["out", "alert on out"]]) {
      const option = document.createElement("option");
      option.value = value;
      option.textContent = text;
      option.selected = (line.alert_direction || "") === value;
      select.appendChild(option);
    }
    select.addEventListener("change", () => { line.alert_direction = select.value || null; });
    return select;
  }

  function render() {
    for (const node of Array.from(svg.querySelectorAll("g"))) node.remove();
    ignored.forEach((a, i) => drawZone(Object.assign(a, { name: `ignore ${i + 1}` }), "ignore"));
    // Calibration marks below lines and areas, whose handles must stay reachable.
    marks.forEach((m, i) => {
      const g = el("g", { class: "mark" }, svg);
      const [x, y] = px(m.image);
      el("circle", { cx: x, cy: y, r: fontSize * 0.4 }, g);
      label(g, x, y - fontSize * 0.6, `${i + 1}: ${m.ground[0]}, ${m.ground[1]} m`);
    });
    for (const section of sections) {
      if (section.shape === "polygon") items[section.key].forEach((z) => drawZone(z, "zone"));
    }
    for (const section of sections) {
      if (section.shape === "points") items[section.key].forEach((l) => drawLine(l, ""));
    }
    drawPending();
    renderMarks();
    const lists = sections.map((s) => [document.querySelector(`[data-list="${s.key}"]`),
                                       items[s.key], s.noun]);
    lists.push([document.getElementById("ignore-list"), ignored, "ignored area"]);
    for (const [list, group, kind] of lists) {
      list.replaceChildren();
      group.forEach((item) => listItem(list, item, group, kind));
      if (!group.length) {
        const li = document.createElement("li");
        li.className = "muted";
        li.textContent = "none";
        list.appendChild(li);
      }
    }
    const line = mode !== null && mode !== "ignore" && mode.shape === "points";
    buttons.finish.disabled = !((mode !== null && !line && pending.length >= 3) ||
                                (line && pending.length === 2));
    buttons.cancel.disabled = mode === null;
    svg.classList.toggle("drawing", mode !== null);
  }

  function renderMarks() {
    const list = document.getElementById("calibration-list");
    list.replaceChildren();
    marks.forEach((m, i) => {
      const li = document.createElement("li");
      const text = document.createElement("span");
      const where = m.image.map((v) => Number(v).toFixed(3)).join(", ");  // picture fractions
      text.textContent = `${i + 1}: (${where}) = ${m.ground[0]} m, ${m.ground[1]} m`;
      const remove = document.createElement("button");
      remove.type = "button";
      remove.textContent = "Delete";
      remove.setAttribute("aria-label", `Delete calibration mark ${marks.indexOf(m) + 1}`);
      remove.addEventListener("click", () => {
        marks.splice(marks.indexOf(m), 1);
        render();
      });
      li.append(text, remove);
      list.appendChild(li);
    });
  }

  function freeName(prefix) {
    const taken = new Set(allNamed().map((i) => i.name));
    let n = 1;
    while (taken.has(prefix + n)) n += 1;
    return prefix + n;
  }

  function takeName(prefix) {
    const name = nameInput.value.trim() || freeName(prefix);
    if (!NAME.test(name)) {
      hint.textContent = "Names use letters, digits, '_', '.' or '-' and start with a letter or digit.";
      return null;
    }
    if (allNamed().some((i) => i.name === name)) {
      hint.textContent = `The name ${name} is taken; choose another.`;
      return null;
    }
    return name;
  }

  function start(kind) {
    mode = kind;
    pending = [];
    if (kind === "mark") {
      const x = Number.parseFloat(document.getElementById("ground-x").value);
      const y = Number.parseFloat(document.getElementById("ground-y").value);
      if (!Number.isFinite(x) || !Number.isFinite(y)) {
        mode = null;
        hint.textContent = "Type the mark's x and y on the floor, in metres, first.";
        render();
        return;
      }
      pending = [];
      mode = { mark: [x, y] };
      hint.textContent = `Click the floor mark at ${x} m, ${y} m on the picture.`;
      render();
      return;
    }
    hint.textContent = kind === "ignore"
      ? "Click each corner of the area where nothing should count (a poster, a mirror, a " +
        "screen), then press Finish."
      : kind.shape === "points"
        ? `Click the two ends of the ${kind.noun}.`
        : `Click each corner of the ${kind.noun}, then press Finish.`;
    render();
  }

  function finish() {
    const kind = mode;
    if (kind === "ignore") {
      ignored.push({ polygon: pending });
      mode = null;
      pending = [];
      hint.textContent = "Added an ignored area. Press Save to keep it.";
      render();
      return;
    }
    const name = takeName(kind.noun.replace(/ /g, "_"));
    if (name === null) return;
    const item = { name, [kind.shape]: pending };
    if (kind.shape === "points") item.in_name = "in";
    items[kind.key].push(item);
    mode = null;
    pending = [];
    nameInput.value = "";
    hint.textContent = `Added ${kind.noun} ${name}. Press Save to keep it.`;
    render();
  }

  svg.addEventListener("click", (event) => {
    const line = mode !== null && mode !== "ignore" && mode.shape === "points";
    if (mode === null || (line && pending.length >= 2)) return;
    if (mode.mark) {
      marks.push({ image: at(event).map((v) => round(clamp(v))), ground: mode.mark });
      mode = null;
      hint.textContent = `Added calibration mark ${marks.length}. Press Save to keep it.`;
      render();
      return;
    }
    const [x, y] = at(event);
    pending.push([round(clamp(x)), round(clamp(y))]);
    if (line && pending.length === 2) finish();
    else render();
  });
  for (const section of sections) {
    document.querySelector(`[data-draw="${section.key}"]`)
      .addEventListener("click", () => start(section));
  }
  buttons.ignore.addEventListener("click", () => start("ignore"));
  buttons.mark.addEventListener("click", () => start("mark"));
  buttons.finish.addEventListener("click", finish);
  buttons.cancel.addEventListener("click", () => {
    mode = null;
    pending = [];
    hint.textContent = "Cancelled.";
    render();
  });
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && mode !== null) buttons.cancel.click();
  });
  document.getElementById("save-form").addEventListener("submit", () => {
    const drawing = {
      ignore: ignored.map((a) => a.polygon),
      calibration: { image: marks.map((m) => m.image), ground: marks.map((m) => m.ground) },
    };
    for (const section of sections) {
      drawing[section.key] = items[section.key].map((item) => {
        const out = { name: item.name, [section.shape]: item[section.shape] };
        if (typeof item.was === "string") out.was = item.was;
        if (section.shape === "points") out.alert_direction = item.alert_direction || null;
        return out;
      });
    }
    document.getElementById("geometry").value = JSON.stringify(drawing);
  });
  render();
})();
