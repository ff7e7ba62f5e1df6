// Charts of the service's page, in plain SVG: every visual property is an attribute (not CSS), so a
// chart serialised on its own (the "Figure as PNG" download) looks as it does on the page.

const SVG_NS = "http://www.w3.org/2000/svg";
export const FONT = "system-ui, -apple-system, Segoe UI, Roboto, DejaVu Sans, sans-serif";
const INK = "#1b1f24";
const MUTED = "#4a5563";
const ACCENT = "#0b5cad";
const ALARM = "#b00020";
const BEARING = "#c05000";

// Colour maps as anchors interpolated linearly. Power: viridis (perceptually ordered, colour-blind
// safe). Coherency: blue (-1) - white (0) - red (+1). Overlay: the anchors of app/explain.py, which
// draws the service's Grad-CAM and direction-evidence overlays.
export const COLORMAPS = {
  power: ["#440154", "#482878", "#3e4989", "#31688e", "#26828e", "#1f9e89", "#35b779", "#6ece58", "#b5de2b", "#fde725"],
  coherency: ["#2166ac", "#4393c3", "#92c5de", "#d1e5f0", "#f7f7f7", "#fddbc7", "#f4a582", "#d6604d", "#b2182b"],
  overlay: ["#000004", "#57106e", "#bc3754", "#f98e09", "#fcffa4"],
};

/** 256 RGB triplets interpolated from a list of hex anchors. */
export function lut(anchors) {
  const rgb = anchors.map((h) => [1, 3, 5].map((k) => parseInt(h.slice(k, k + 2), 16)));
  const out = new Uint8ClampedArray(256 * 3);
  for (let i = 0; i < 256; i++) {
    const pos = (i / 255) * (rgb.length - 1);
    const lo = Math.min(Math.floor(pos), rgb.length - 2);
    const frac = pos - lo;
    for (let c = 0; c < 3; c++) out[i * 3 + c] = rgb[lo][c] * (1 - frac) + rgb[lo + 1][c] * frac;
  }
  return out;
}

export function el(name, attrs = {}, parent = null, text = null) {
  const node = document.createElementNS(SVG_NS, name);
  for (const [k, v] of Object.entries(attrs)) {
    if (v !== undefined && v !== null) node.setAttribute(k, String(v));
  }
  if (text !== null) node.textContent = text;
  if (parent) parent.appendChild(node);
  return node;
}

function svgRoot(width, height, label) {
  return el("svg", {
    xmlns: SVG_NS, viewBox: `0 0 ${width} ${height}`, width, height, role: "img", "aria-label": label,
    "font-family": FONT, "font-size": 13, fill: INK,
  });
}

function text(parent, x, y, content, attrs = {}) {
  return el("text", { x, y, ...attrs }, parent, content);
}

/** Values 0..255 (w x h, row-major) through a LUT into a PNG data URL, each pixel scale x scale. */
export function heatDataUrl(values, w, h, table, scale = 1) {
  const small = document.createElement("canvas");
  small.width = w;
  small.height = h;
  const ctx = small.getContext("2d");
  const img = ctx.createImageData(w, h);
  for (let i = 0; i < w * h; i++) {
    const v = values[i];
    img.data[i * 4] = table[v * 3];
    img.data[i * 4 + 1] = table[v * 3 + 1];
    img.data[i * 4 + 2] = table[v * 3 + 2];
    img.data[i * 4 + 3] = 255;
  }
  ctx.putImageData(img, 0, 0);
  if (scale === 1) return small.toDataURL("image/png");
  const big = document.createElement("canvas");
  big.width = w * scale;
  big.height = h * scale;
  const bctx = big.getContext("2d");
  bctx.imageSmoothingEnabled = false; // show the model's pixels as they are
  bctx.drawImage(small, 0, 0, big.width, big.height);
  return big.toDataURL("image/png");
}

/** Nice ticks (steps of 1, 2, 2.5 or 5 x 10^k) within [lo, hi]. */
export function niceTicks(lo, hi, count = 5) {
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) || raw;
  const ticks = [];
  for (let t = Math.ceil(lo / step - 1e-9) * step; t <= hi + step * 1e-9; t += step) ticks.push(Number(t.toFixed(12)));
  return ticks;
}

/** The smallest nice number (1, 2, 2.5 or 5 x 10^k) at or above v > 0. */
export function niceCeil(v) {
  const mag = 10 ** Math.floor(Math.log10(v));
  return [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= v * (1 - 1e-12));
}

export function fmtNumber(v) {
  return String(Number(v.toFixed(6)));
}

const pad2 = (n) => String(n).padStart(2, "0");
export function utcTime(ms, seconds = false) {
  const d = new Date(ms);
  return `${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}${seconds ? ":" + pad2(d.getUTCSeconds()) : ""}`;
}
export function utcDate(ms) {
  return new Date(ms).toISOString().slice(0, 10);
}

const TIME_STEPS_S = [600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800];

/** Ticks of a time axis: absolute UTC (ms since the epoch) at round steps. */
function timeTicks(t0, t1, maxTicks) {
  const span = (t1 - t0) / 1000;
  const step = (TIME_STEPS_S.find((s) => span / s <= maxTicks) || 86400 * 30) * 1000;
  const ticks = [];
  for (let t = Math.ceil(t0 / step) * step; t <= t1; t += step) ticks.push(t);
  return ticks;
}

/**
 * A heat map with real axes and a colour bar.
 * opts: title, href (the image, a data URL), x: {lo, hi, absolute} (ms since the epoch when absolute,
 * else seconds into the window), y: {lo, hi} (Hz), bar: {table, lo, hi, label, ticks}, onPoint(fx, fy).
 */
export function heatFigure(opts) {
  const W = 470, H = 320, left = 70, right = 104, top = 30, bottom = 56;
  const x0 = left, x1 = W - right, y0 = top, y1 = H - bottom;
  const root = svgRoot(W, H, opts.label || opts.title);
  el("rect", { x: 0, y: 0, width: W, height: H, fill: "#ffffff" }, root);
  text(root, x0, 20, opts.title, { "font-weight": 700, "font-size": 17, class: "figure-title" });
  el("image", { href: opts.href, x: x0, y: y0, width: x1 - x0, height: y1 - y0, preserveAspectRatio: "none",
                class: "heat" }, root);
  el("rect", { x: x0, y: y0, width: x1 - x0, height: y1 - y0, fill: "none", stroke: INK }, root);

  const yAxis = el("g", { class: "y-axis", "font-size": 14 }, root);
  const ys = (f) => y1 - ((f - opts.y.lo) / (opts.y.hi - opts.y.lo)) * (y1 - y0);
  for (const f of niceTicks(opts.y.lo, opts.y.hi, 6)) {
    if (f < opts.y.lo || f > opts.y.hi) continue;
    el("line", { x1: x0 - 5, x2: x0, y1: ys(f), y2: ys(f), stroke: INK }, yAxis);
    text(yAxis, x0 - 8, ys(f) + 4, fmtNumber(f), { "text-anchor": "end", class: "tick" });
  }
  text(yAxis, 16, (y0 + y1) / 2, "frequency (Hz)", {
    transform: `rotate(-90 16 ${(y0 + y1) / 2})`, "text-anchor": "middle", class: "axis-label",
  });

  const xAxis = el("g", { class: "x-axis", "font-size": 14 }, root);
  const xs = (t) => x0 + ((t - opts.x.lo) / (opts.x.hi - opts.x.lo)) * (x1 - x0);
  if (opts.x.absolute) {
    for (const t of timeTicks(opts.x.lo, opts.x.hi, 6)) {
      el("line", { x1: xs(t), x2: xs(t), y1: y1, y2: y1 + 5, stroke: INK }, xAxis);
      text(xAxis, xs(t), y1 + 20, utcTime(t), { "text-anchor": "middle", class: "tick" });
    }
    text(xAxis, (x0 + x1) / 2, H - 8, `time (UTC), ${utcDate(opts.x.lo + (opts.x.hi - opts.x.lo) / 2)}`,
         { "text-anchor": "middle", class: "axis-label" });
  } else {
    for (const s of niceTicks(opts.x.lo / 3600, opts.x.hi / 3600, 6)) {
      if (s * 3600 < opts.x.lo || s * 3600 > opts.x.hi) continue;
      el("line", { x1: xs(s * 3600), x2: xs(s * 3600), y1: y1, y2: y1 + 5, stroke: INK }, xAxis);
      text(xAxis, xs(s * 3600), y1 + 20, fmtNumber(s), { "text-anchor": "middle", class: "tick" });
    }
    text(xAxis, (x0 + x1) / 2, H - 8, "hours into the window", { "text-anchor": "middle", class: "axis-label" });
  }

  // colour bar
  const bx = x1 + 16, bw = 14;
  const barValues = new Uint8Array(256);
  for (let i = 0; i < 256; i++) barValues[i] = 255 - i;
  el("image", { href: heatDataUrl(barValues, 1, 256, opts.bar.table), x: bx, y: y0, width: bw, height: y1 - y0,
                preserveAspectRatio: "none" }, root);
  el("rect", { x: bx, y: y0, width: bw, height: y1 - y0, fill: "none", stroke: INK }, root);
  const bar = el("g", { class: "colour-bar", "font-size": 14 }, root);
  const by = (v) => y1 - ((v - opts.bar.lo) / (opts.bar.hi - opts.bar.lo)) * (y1 - y0);
  for (const v of opts.bar.ticks) {
    el("line", { x1: bx + bw, x2: bx + bw + 4, y1: by(v), y2: by(v), stroke: INK }, bar);
    text(bar, bx + bw + 6, by(v) + 4, opts.bar.format ? opts.bar.format(v) : fmtNumber(v), { class: "tick" });
  }
  text(bar, W - 8, (y0 + y1) / 2, opts.bar.label, {
    transform: `rotate(90 ${W - 8} ${(y0 + y1) / 2})`, "text-anchor": "middle", class: "axis-label",
  });

  if (opts.onPoint) {
    const hit = el("rect", { x: x0, y: y0, width: x1 - x0, height: y1 - y0, fill: "transparent", class: "hit" }, root);
    const locate = (ev) => {
      const box = hit.getBoundingClientRect();
      const fx = (ev.clientX - box.left) / box.width, fy = (ev.clientY - box.top) / box.height;
      if (fx >= 0 && fx < 1 && fy >= 0 && fy < 1) opts.onPoint(fx, fy);
    };
    hit.addEventListener("pointermove", locate);
    hit.addEventListener("pointerdown", locate);
  }
  return root;
}

/**
 * The timeline: one point per window at its precursor probability (its line spans the window), the
 * alarm threshold, skipped windows as grey bands. handlers: select(i), hover(i, element) / hover(null).
 */
export function timelineChart({ windows, start, end, threshold, selected, handlers, width = 900 }) {
  const W = width, H = 286, left = 58, right = 18, top = 18, bottom = 78;
  const x0 = left, x1 = W - right, y0 = top, y1 = H - bottom;
  const root = svgRoot(W, H, "Timeline of the precursor probability per window");
  el("rect", { x: 0, y: 0, width: W, height: H, fill: "#ffffff" }, root);
  const xs = (t) => x0 + ((t - start) / (end - start || 1)) * (x1 - x0);
  const ys = (p) => y1 - p * (y1 - y0);
  const defs = el("defs", {}, root);
  const hatch = el("pattern", { id: "skipped-hatch", width: 8, height: 8, patternUnits: "userSpaceOnUse",
                                patternTransform: "rotate(45)" }, defs);
  el("rect", { width: 8, height: 8, fill: "#eceff3" }, hatch);
  el("line", { x1: 0, y1: 0, x2: 0, y2: 8, stroke: "#9aa3af", "stroke-width": 3 }, hatch);

  const sel = windows.find((w) => w.index === selected);
  if (sel) {
    el("rect", { x: xs(sel.t0), y: y0, width: Math.max(2, xs(sel.t1) - xs(sel.t0)), height: y1 - y0,
                 fill: "#dbe9f8", class: "selected-band" }, root);
  }
  const grid = el("g", { class: "y-axis", "font-size": 12 }, root);
  for (const p of [0, 0.25, 0.5, 0.75, 1]) {
    el("line", { x1: x0, x2: x1, y1: ys(p), y2: ys(p), stroke: "#d5dbe3" }, grid);
    text(grid, x0 - 8, ys(p) + 4, p.toFixed(2), { "text-anchor": "end" });
  }
  text(grid, 14, (y0 + y1) / 2, "P(precursor)", {
    transform: `rotate(-90 14 ${(y0 + y1) / 2})`, "text-anchor": "middle",
  });
  el("line", { x1: x0, x2: x1, y1: ys(0.5), y2: ys(0.5), stroke: MUTED, "stroke-dasharray": "2 4" }, root);
  // legend, under the time axis
  const ly = H - 8;
  el("line", { x1: x0, x2: x0 + 26, y1: ly - 4, y2: ly - 4, stroke: MUTED, "stroke-dasharray": "2 4" }, root);
  text(root, x0 + 32, ly, "0.5: from here up the labels are event classes", { "font-size": 11, fill: MUTED });
  if (threshold !== null && threshold !== undefined) {
    el("line", { x1: x0, x2: x1, y1: ys(threshold), y2: ys(threshold), stroke: ALARM, "stroke-width": 2,
                 "stroke-dasharray": "8 5", class: "threshold" }, root);
    text(root, x1 - 4, ys(threshold) - 5, `alarm threshold ${threshold.toFixed(2)}`,
         { "text-anchor": "end", fill: ALARM, "font-size": 12, "font-weight": 700, class: "threshold-label" });
  }
  const axis = el("g", { class: "x-axis", "font-size": 12 }, root);
  el("line", { x1: x0, x2: x1, y1: y1, y2: y1, stroke: INK }, axis);
  let lastDate = null;
  for (const t of timeTicks(start, end, Math.max(3, Math.floor(W / 110)))) {
    const x = xs(t), anchor = x > x1 - 40 ? "end" : x < x0 + 40 ? "start" : "middle";
    el("line", { x1: x, x2: x, y1: y1, y2: y1 + 5, stroke: INK }, axis);
    text(axis, x, y1 + 18, utcTime(t), { "text-anchor": anchor });
    if (utcDate(t) !== lastDate) {
      text(axis, x, y1 + 33, utcDate(t), { "text-anchor": anchor, fill: MUTED, "font-size": 11 });
      lastDate = utcDate(t);
    }
  }
  text(axis, (x0 + x1) / 2, y1 + 48, "time (UTC)", { "text-anchor": "middle", fill: MUTED, "font-size": 11 });

  const layer = el("g", { class: "windows" }, root);
  for (const w of windows) {
    const g = el("g", { class: "window", tabindex: 0, role: "button", "data-index": w.index, "aria-label": w.aria,
                        "aria-pressed": w.index === selected ? "true" : "false" }, layer);
    const mid = xs((w.t0 + w.t1) / 2);
    if (w.skipped) {
      el("rect", { x: xs(w.t0), y: y0, width: Math.max(2, xs(w.t1) - xs(w.t0)), height: y1 - y0,
                   fill: "url(#skipped-hatch)", opacity: 0.7, class: "marker skipped" }, g);
      text(g, mid, y1 - 6, "skipped", { "text-anchor": "middle", "font-size": 11, fill: MUTED });
    } else {
      const y = ys(w.p);
      el("line", { x1: xs(w.t0), x2: xs(w.t1), y1: y, y2: y, stroke: w.alarm ? ALARM : ACCENT, "stroke-width": 3,
                   opacity: 0.35 }, g);
      if (w.alarm) {
        el("path", { d: `M${mid} ${y - 9} L${mid + 8} ${y + 6} L${mid - 8} ${y + 6} Z`, fill: ALARM,
                     stroke: w.index === selected ? INK : "#ffffff", "stroke-width": 2, class: "marker alarm" }, g);
        text(g, mid, y - 13, "ALARM", { "text-anchor": "middle", fill: ALARM, "font-size": 11, "font-weight": 700 });
      } else {
        el("circle", { cx: mid, cy: y, r: 6.5, fill: ACCENT, stroke: w.index === selected ? INK : "#ffffff",
                       "stroke-width": 2, class: "marker" }, g);
      }
    }
    el("rect", { x: mid - 12, y: y0, width: 24, height: y1 - y0, fill: "transparent" }, g); // easier to hit
    g.addEventListener("pointerenter", () => handlers.hover(w.index, g));
    g.addEventListener("pointerleave", () => handlers.hover(null));
    g.addEventListener("focus", () => handlers.hover(w.index, g));
    g.addEventListener("blur", () => handlers.hover(null));
    g.addEventListener("click", () => handlers.select(w.index));
    g.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter" || ev.key === " ") {
        ev.preventDefault();
        handlers.select(w.index);
      }
    });
  }
  return root;
}

/** Horizontal bars of class probabilities; the served label in bold. */
export function barsChart({ probabilities, label, title }) {
  const names = Object.keys(probabilities);
  const row = 30, W = 440, H = names.length * row + 44, x0 = 96, bw = 250;
  const root = svgRoot(W, H, title);
  el("rect", { x: 0, y: 0, width: W, height: H, fill: "#ffffff" }, root);
  names.forEach((name, i) => {
    const y = 10 + i * row, p = probabilities[name];
    const bold = name === label ? 700 : 400;
    text(root, x0 - 8, y + 15, name, { "text-anchor": "end", "font-weight": bold });
    el("rect", { x: x0, y: y + 2, width: bw, height: row - 10, fill: "#eef1f5" }, root);
    el("rect", { x: x0, y: y + 2, width: Math.max(0, p) * bw, height: row - 10,
                 fill: name === "Normal" ? "#7b8594" : ACCENT, class: "bar" }, root);
    text(root, x0 + bw + 8, y + 15, p.toFixed(3), { "font-weight": bold, class: "value", "data-class": name });
  });
  const ay = 10 + names.length * row;
  for (const t of [0, 0.5, 1]) {
    el("line", { x1: x0 + t * bw, x2: x0 + t * bw, y1: ay - 4, y2: ay + 2, stroke: INK }, root);
    text(root, x0 + t * bw, ay + 16, String(t), { "text-anchor": "middle", "font-size": 11, fill: MUTED });
  }
  text(root, x0 + bw + 8, ay + 16, "probability", { "font-size": 11, fill: MUTED });
  return root;
}

const SECTOR_DEG = { N: 0, NE: 45, E: 90, SE: 135, S: 180, SW: 225, W: 270, NW: 315 };

function polar(cx, cy, r, deg) {
  const a = (deg * Math.PI) / 180;
  return [cx + r * Math.sin(a), cy - r * Math.cos(a)];
}

function wedge(cx, cy, r, fromDeg, toDeg) {
  const [ax, ay] = polar(cx, cy, r, fromDeg);
  const [bx, by] = polar(cx, cy, r, toDeg);
  const large = toDeg - fromDeg > 180 ? 1 : 0;
  return `M${cx} ${cy} L${ax.toFixed(2)} ${ay.toFixed(2)} A${r} ${r} 0 ${large} 1 ${bx.toFixed(2)} ${by.toFixed(2)} Z`;
}

/** The azimuth head on a compass rose: one wedge per sector (radius ~ probability), the bearing and its
 * uncertainty if the model gives them, and P(Normal) beside. */
export function compassChart({ probabilities, label, bearing, uncertainty, title }) {
  const W = 440, H = 440, cx = 220, cy = 200, R = 140;
  const root = svgRoot(W, H, title);
  el("rect", { x: 0, y: 0, width: W, height: H, fill: "#ffffff" }, root);
  const sectors = Object.keys(probabilities).filter((k) => k in SECTOR_DEG);
  const peak = Math.max(...sectors.map((k) => probabilities[k]), 1e-9);
  const full = niceCeil(peak);
  for (const f of [0.5, 1]) {
    el("circle", { cx, cy, r: R * f, fill: "none", stroke: "#c9d1db" }, root);
    text(root, cx + 4, cy - R * f + 12, fmtNumber(full * f), { "font-size": 10, fill: MUTED, class: "ring" });
  }
  for (const deg of [0, 90]) {
    const [ax, ay] = polar(cx, cy, R, deg), [bx, by] = polar(cx, cy, R, deg + 180);
    el("line", { x1: ax, y1: ay, x2: bx, y2: by, stroke: "#e1e6ec" }, root);
  }
  if (bearing !== undefined && bearing !== null && uncertainty !== undefined) {
    const u = Math.min(uncertainty, 179.9);
    el("path", { d: wedge(cx, cy, R, bearing - u, bearing + u), fill: BEARING, opacity: 0.18,
                 class: "bearing-uncertainty" }, root);
  }
  for (const name of sectors) {
    const deg = SECTOR_DEG[name], p = probabilities[name];
    el("path", { d: wedge(cx, cy, Math.max(0.5, (R * p) / full), deg - 22.5, deg + 22.5),
                 fill: name === label ? "#08427d" : ACCENT, opacity: 0.85, stroke: "#ffffff", class: "sector",
                 "data-class": name }, root);
    const [lx, ly] = polar(cx, cy, R + 22, deg);
    const bold = name === label ? 700 : 400;
    text(root, lx, ly - 2, name, { "text-anchor": "middle", "font-weight": 700 });
    text(root, lx, ly + 12, p.toFixed(3), { "text-anchor": "middle", "font-size": 11, "font-weight": bold,
                                            class: "value", "data-class": name });
  }
  let y = cy + R + 52;
  if (bearing !== undefined && bearing !== null) {
    const [ax, ay] = polar(cx, cy, R, bearing);
    el("line", { x1: cx, y1: cy, x2: ax, y2: ay, stroke: BEARING, "stroke-width": 3, class: "bearing" }, root);
    const [h1x, h1y] = polar(ax, ay, 12, bearing + 155), [h2x, h2y] = polar(ax, ay, 12, bearing - 155);
    el("path", { d: `M${ax} ${ay} L${h1x} ${h1y} L${h2x} ${h2y} Z`, fill: BEARING }, root);
    const unc = uncertainty !== undefined && uncertainty !== null ? ` ± ${uncertainty.toFixed(1)}°` : "";
    text(root, 12, y, `bearing ${bearing.toFixed(1)}°${unc} (if an event; clockwise from north)`,
         { fill: BEARING, "font-weight": 700, class: "bearing-text" });
    y += 20;
  }
  if ("Normal" in probabilities) {
    text(root, 12, y, `Normal ${probabilities.Normal.toFixed(3)}`, { class: "value", "data-class": "Normal",
                                                                     "font-weight": label === "Normal" ? 700 : 400 });
  }
  text(root, W - 12, y, `label: ${label}`, { "text-anchor": "end", "font-weight": 700 });
  return root;
}

/** Several SVG charts drawn onto one white PNG (two columns), with a title line; resolves to a Blob. */
export async function chartsToPng(svgs, title) {
  const colWidth = 560, gap = 16, titleHeight = 40;
  const images = await Promise.all(svgs.map(async (s) => {
    const blob = new Blob([new XMLSerializer().serializeToString(s)], { type: "image/svg+xml" });
    const url = URL.createObjectURL(blob);
    try {
      const img = new Image();
      img.src = url;
      await img.decode();
      const vb = s.viewBox.baseVal;
      return { img, w: colWidth, h: (colWidth * vb.height) / vb.width };
    } finally {
      URL.revokeObjectURL(url);
    }
  }));
  const rows = [];
  for (let i = 0; i < images.length; i += 2) rows.push(images.slice(i, i + 2));
  const height = titleHeight + rows.reduce((sum, r) => sum + Math.max(...r.map((c) => c.h)) + gap, 0);
  const canvas = document.createElement("canvas");
  canvas.width = colWidth * 2 + gap * 3;
  canvas.height = height;
  const ctx = canvas.getContext("2d");
  ctx.fillStyle = "#ffffff";
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  ctx.fillStyle = INK;
  ctx.font = `bold 16px ${FONT}`;
  ctx.fillText(title, gap, 26);
  let y = titleHeight;
  for (const r of rows) {
    r.forEach((c, k) => ctx.drawImage(c.img, gap + k * (colWidth + gap), y, c.w, c.h));
    y += Math.max(...r.map((c) => c.h)) + gap;
  }
  return new Promise((resolve) => canvas.toBlob(resolve, "image/png"));
}
