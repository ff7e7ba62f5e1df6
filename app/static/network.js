// The page's network mode: several stations' day files -> POST /analyze/network, drawn here: a map of the
// stations (a graticule: no coastline ships with the service), each detecting station's bearing ray with its
// uncertainty wedge, the fix and its 95% ellipse; the stations' timelines aligned window by window; the
// network's magnitude answer beside what one station's model says. Plain JavaScript and SVG, offline.
import { barsChart, el, fmtNumber, utcDate, utcTime } from "./charts.js";

const KM_PER_DEG = 111.195; // the service's sphere (6371.0088 km)
const W = 640, H = 520, PAD = 44;
const FONT = 'system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "DejaVu Sans", sans-serif';
const RAY_KM = 120; // the network's max_range_km: a station cannot detect farther
const WEDGE_SD = 2; // +-2 circular standard deviations: about 95% of a von Mises bearing

let ctx = null; // {$, authHeaders, errorText, getJson}
const net = { result: null, raw: null, selected: 0, doc: null, xhr: null };

function fmtSpan(start, end) {
  const t0 = Date.parse(start), t1 = Date.parse(end);
  return `${utcDate(t0)} ${utcTime(t0)}–${utcTime(t1)} UTC`;
}

function showError(message) {
  const box = ctx.$("network-error");
  box.textContent = message;
  box.hidden = !message;
}

function status(text) {
  ctx.$("network-status").textContent = text;
}

// ---------------------------------------------------------------- request
function submit(ev) {
  ev.preventDefault();
  showError("");
  const files = [...ctx.$("network-files").files];
  if (files.length < 2) {
    showError("Choose at least two station files of the same day (one per station).");
    ctx.$("network-files").focus();
    return;
  }
  const form = new FormData();
  for (const f of files) form.append("files", f, f.name);
  const table = ctx.$("network-stations").files[0];
  if (table) form.append("stations", table, table.name);
  const model = ctx.$("model-select").value;
  if (model) form.append("model", model);
  const xhr = new XMLHttpRequest();
  net.xhr = xhr;
  xhr.open("POST", "/analyze/network");
  for (const [k, v] of Object.entries(ctx.authHeaders())) xhr.setRequestHeader(k, v);
  const started = Date.now();
  let ticker = null;
  xhr.upload.onload = () => {
    ticker = setInterval(() => status(`Processing ${files.length} stations on the server… ${Math.round((Date.now() - started) / 1000)} s`), 1000);
  };
  const done = () => {
    clearInterval(ticker);
    ctx.$("network-submit").disabled = false;
    net.xhr = null;
  };
  xhr.onload = async () => {
    done();
    if (xhr.status !== 200) {
      status("");
      showError(ctx.errorText(xhr.status, xhr.responseText));
      return;
    }
    try {
      await show(xhr.responseText);
      const r = net.result;
      status(`Done: ${r.summary.stations} stations, ${r.summary.windows_total} common windows, ${r.summary.windows_in_alarm} with a network alarm.`);
    } catch (err) {
      status("");
      showError(`Could not show the result: ${err.message}`);
    }
  };
  xhr.onerror = () => {
    done();
    status("");
    showError("Could not reach the service (the connection failed or was closed). Is it running?");
  };
  ctx.$("network-submit").disabled = true;
  status(`Uploading ${files.length} files…`);
  xhr.send(form);
}

// ---------------------------------------------------------------- result
async function show(text) {
  net.raw = text;
  net.result = JSON.parse(text);
  const r = net.result;
  if (!net.doc) {
    try {
      net.doc = await ctx.getJson("/v2/network");
    } catch {
      net.doc = null; // the statements are a help, not the result
    }
  }
  ctx.$("network-result").hidden = false;
  ctx.$("network-notice").textContent = r.model.notice;
  renderSummary();
  renderCanKnow();
  const alarmed = r.windows.findIndex((w) => w.network.alarm);
  const best = alarmed >= 0 ? alarmed : (r.summary.most_detecting_window ?? 0);
  selectWindow(best, false);
}

function renderSummary() {
  const r = net.result;
  const rows = [
    ["Model", `${r.model.name}:${r.model.version} (trained on ${r.model.trained_on})`],
    ["Stations", r.stations.map((s) => `${s.station.code} (${s.position_from.replace("_", " ")})`).join(", ")],
    ["Windows", `${r.summary.windows_total} common windows of ${fmtNumber(r.window_hours)} h from ${utcDate(Date.parse(r.hop_origin))} 00:00 UTC; ${r.summary.windows_in_alarm} with a network alarm, ${r.summary.sources_fixed} sources fixed`],
    ["Network model", r.network_model ? `version ${r.network_model.version}, fitted on ${r.network_model.station_model}'s features` : r.network_model_reason],
  ];
  const dl = ctx.$("network-summary");
  dl.replaceChildren();
  for (const [k, v] of rows) {
    const dt = document.createElement("dt");
    dt.textContent = k;
    const dd = document.createElement("dd");
    dd.textContent = v;
    dl.append(dt, dd);
  }
}

function renderCanKnow() {
  const ul = ctx.$("network-can-know");
  ul.replaceChildren();
  for (const [k, v] of Object.entries(net.doc?.what_it_can_know || {})) {
    const li = document.createElement("li");
    const b = document.createElement("strong");
    b.textContent = `${k}: `;
    li.append(b, v);
    ul.append(li);
  }
}

function selectWindow(index, focus) {
  const r = net.result;
  if (!r.windows[index]) return;
  net.selected = index;
  const w = r.windows[index];
  ctx.$("network-window-heading").textContent = `Window ${index + 1} of ${r.windows.length}: ${fmtSpan(w.start, w.end)}`;
  const n = w.network;
  const verdict = ctx.$("network-verdict");
  verdict.textContent = `${n.alarm ? "NETWORK ALARM" : "No network alarm"}: ${n.reason}`
    + (n.source || !n.source_reason || n.reason.includes(n.source_reason) ? "" : ` (${n.source_reason})`);
  verdict.className = `verdict${n.alarm ? " alarm-text" : ""}`;
  renderTimelines();
  renderMap(w);
  renderMagnitude(w);
  renderStations(w);
  ctx.$("network-view").dataset.ready = String(index);
  if (focus) ctx.$("network-window-heading").focus();
}

// ---------------------------------------------------------------- aligned timelines
function pColor(p) {
  if (p === null || p === undefined) return "#e2e6ec";
  const t = Math.max(0, Math.min(1, p));
  const mix = (a, b) => Math.round(a + (b - a) * t);
  return `rgb(${mix(238, 176)}, ${mix(241, 0)}, ${mix(245, 32)})`;
}

function renderTimelines() {
  const r = net.result;
  const table = ctx.$("network-timelines");
  table.replaceChildren();
  const head = table.createTHead().insertRow();
  const corner = document.createElement("th");
  corner.scope = "col";
  corner.textContent = "Station";
  head.append(corner);
  r.windows.forEach((w, i) => {
    const th = document.createElement("th");
    th.scope = "col";
    const b = document.createElement("button");
    b.type = "button";
    b.className = "select-network-window";
    b.dataset.index = i;
    b.textContent = `${utcTime(Date.parse(w.start))}`;
    b.setAttribute("aria-label", `Window ${i + 1}, ${fmtSpan(w.start, w.end)}${w.network.alarm ? ", network alarm" : ""}`);
    b.setAttribute("aria-pressed", String(i === net.selected));
    b.addEventListener("click", () => selectWindow(i, true));
    b.addEventListener("keydown", (e) => {
      const step = e.key === "ArrowRight" ? 1 : e.key === "ArrowLeft" ? -1 : 0;
      if (!step) return;
      e.preventDefault();
      const next = Math.max(0, Math.min(r.windows.length - 1, i + step));
      selectWindow(next, false);
      table.querySelector(`button[data-index="${next}"]`)?.focus();
    });
    th.append(b);
    if (i === net.selected) th.className = "selected";
    head.append(th);
  });
  const body = table.createTBody();
  for (const s of r.stations) {
    const tr = body.insertRow();
    const th = document.createElement("th");
    th.scope = "row";
    th.textContent = s.station.code;
    tr.append(th);
    s.windows.forEach((w, i) => {
      const td = tr.insertCell();
      td.dataset.station = s.station.code;
      td.dataset.index = i;
      if (i === net.selected) td.classList.add("selected");
      if (!w.outputs) {
        td.textContent = "skipped";
        td.title = w.skipped_reason || "not analysed";
        td.classList.add("skipped");
        return;
      }
      td.textContent = `${w.precursor_probability.toFixed(2)}${w.alarm ? " ⚑" : ""}`;
      td.style.backgroundColor = pColor(w.precursor_probability); // CSSOM: allowed by the page's style-src
      if (w.precursor_probability > 0.6) td.style.color = "#ffffff";
      td.classList.add(w.alarm ? "alarm-cell" : "quiet-cell");
      td.title = `${s.station.code}, ${fmtSpan(w.start, w.end)}: P(precursor) ${w.precursor_probability.toFixed(3)}${w.alarm ? ", ALARM" : ""}`;
    });
  }
  const tr = body.insertRow();
  tr.className = "network-row";
  const th = document.createElement("th");
  th.scope = "row";
  th.textContent = "Network";
  tr.append(th);
  r.windows.forEach((w, i) => {
    const td = tr.insertCell();
    const fixes = (w.network.source ? 1 : 0) + w.network.other_sources.length;
    td.textContent = w.network.alarm ? `ALARM (${fixes} source${fixes > 1 ? "s" : ""})` : "—";
    td.className = `${w.network.alarm ? "alarm-text" : ""}${i === net.selected ? " selected" : ""}`;
    td.dataset.index = i;
  });
}

// ---------------------------------------------------------------- the map
function planeOf(points) {
  const lat0 = points.reduce((a, p) => a + p[0], 0) / points.length;
  const lon0 = points.reduce((a, p) => a + p[1], 0) / points.length;
  const k = Math.cos((lat0 * Math.PI) / 180);
  return {
    lat0, lon0, k,
    km: ([lat, lon]) => [(lon - lon0) * k * KM_PER_DEG, (lat - lat0) * KM_PER_DEG],
  };
}

function niceStep(spanDeg) {
  for (const s of [0.05, 0.1, 0.2, 0.25, 0.5, 1, 2, 5, 10]) if (spanDeg / s <= 6) return s;
  return 20;
}

function radians(d) {
  return (d * Math.PI) / 180;
}

/** The map of one window, its extent from every station and source of the whole analysis (it stays put while
 * windows are stepped through). */
function renderMap(w) {
  const r = net.result;
  const points = r.stations.map((s) => [s.station.latitude, s.station.longitude]);
  for (const win of r.windows) {
    for (const src of [win.network.source, ...win.network.other_sources]) if (src) points.push([src.latitude, src.longitude]);
  }
  const plane = planeOf(points);
  const xy = points.map(plane.km);
  let [x0, x1, y0, y1] = [Math.min(...xy.map((p) => p[0])), Math.max(...xy.map((p) => p[0])),
                          Math.min(...xy.map((p) => p[1])), Math.max(...xy.map((p) => p[1]))];
  const margin = Math.max(20, 0.15 * Math.max(x1 - x0, y1 - y0));
  x0 -= margin; x1 += margin; y0 -= margin; y1 += margin;
  const scale = Math.min((W - 2 * PAD) / (x1 - x0), (H - 2 * PAD) / (y1 - y0)); // px per km, both axes
  const cx = (W - (x1 - x0) * scale) / 2, cy = (H - (y1 - y0) * scale) / 2;
  const px = ([x, y]) => [cx + (x - x0) * scale, H - cy - (y - y0) * scale];
  const toPx = (lat, lon) => px(plane.km([lat, lon]));

  const n = w.network;
  const src = n.source;
  const label = src
    ? `Map of window ${net.selected + 1}: a source at ${src.latitude.toFixed(3)}°, ${src.longitude.toFixed(3)}°, 95% ellipse ${src.ellipse_km.semi_major.toFixed(1)} by ${src.ellipse_km.semi_minor.toFixed(1)} km, from ${src.stations_used.join(", ")}`
    : `Map of window ${net.selected + 1}: no source (${n.source_reason || n.reason})`;
  const svg = el("svg", { xmlns: "http://www.w3.org/2000/svg", viewBox: `0 0 ${W} ${H}`, width: W, height: H,
                          role: "img", "aria-label": label, "font-family": FONT, "font-size": 12, fill: "#1b1f24" });
  el("rect", { x: 0, y: 0, width: W, height: H, fill: "#ffffff" }, svg);
  const defs = el("defs", {}, svg);
  const clip = el("clipPath", { id: "network-map-clip" }, defs);
  el("rect", { x: PAD / 2, y: PAD / 2, width: W - PAD, height: H - PAD }, clip);
  el("rect", { x: PAD / 2, y: PAD / 2, width: W - PAD, height: H - PAD, fill: "#f7fafc", stroke: "#c9d1db" }, svg);

  // graticule
  const latLo = plane.lat0 + y0 / KM_PER_DEG, latHi = plane.lat0 + y1 / KM_PER_DEG;
  const lonLo = plane.lon0 + x0 / (plane.k * KM_PER_DEG), lonHi = plane.lon0 + x1 / (plane.k * KM_PER_DEG);
  const step = niceStep(Math.max(latHi - latLo, lonHi - lonLo));
  const grid = el("g", { class: "graticule", stroke: "#d5dde6", "stroke-width": 1, "clip-path": "url(#network-map-clip)" }, svg);
  const labels = el("g", { class: "graticule-labels", "font-size": 11, fill: "#4a5563" }, svg);
  const deg = (v, pos, neg) => `${Math.abs(v).toFixed(step < 0.1 ? 2 : step < 1 ? 1 : 0)}°${v >= 0 ? pos : neg}`;
  for (let lat = Math.ceil(latLo / step) * step; lat <= latHi; lat += step) {
    const [, y] = toPx(lat, plane.lon0);
    el("line", { x1: PAD / 2, x2: W - PAD / 2, y1: y, y2: y }, grid);
    el("text", { x: 4, y: y + 4 }, labels, deg(lat, "N", "S"));
  }
  for (let lon = Math.ceil(lonLo / step) * step; lon <= lonHi; lon += step) {
    const [x] = toPx(plane.lat0, lon);
    el("line", { x1: x, x2: x, y1: PAD / 2, y2: H - PAD / 2 }, grid);
    el("text", { x, y: H - 6, "text-anchor": "middle" }, labels, deg(lon, "E", "W"));
  }

  // rays and wedges of the detecting stations
  const rays = el("g", { class: "rays", "clip-path": "url(#network-map-clip)" }, svg);
  for (const s of w.stations) {
    if (!s.detected || s.bearing_deg === null) continue;
    const [sx, sy] = toPx(s.latitude, s.longitude);
    const b = s.bearing_deg, sd = s.bearing_sd_deg ?? 45, L = RAY_KM * scale;
    const half = Math.min(89, WEDGE_SD * sd);
    const end = (a) => [sx + L * Math.sin(radians(a)), sy - L * Math.cos(radians(a))];
    const [ax, ay] = end(b - half), [bx, by] = end(b + half), [ex, ey] = end(b);
    el("path", { d: `M${sx.toFixed(1)} ${sy.toFixed(1)} L${ax.toFixed(1)} ${ay.toFixed(1)} A${L.toFixed(1)} ${L.toFixed(1)} 0 0 1 ${bx.toFixed(1)} ${by.toFixed(1)} Z`,
                 fill: "#0b5cad", "fill-opacity": 0.12, stroke: "none", class: "wedge", "data-station": s.code }, rays);
    el("line", { x1: sx, y1: sy, x2: ex, y2: ey, stroke: "#0b5cad", "stroke-width": 1.5, class: "ray",
                 "data-station": s.code }, rays);
  }

  // sources and their 95% ellipses
  const sources = el("g", { class: "sources" }, svg);
  for (const [k, s] of [src, ...n.other_sources].entries()) {
    if (!s) continue;
    const [fx, fy] = toPx(s.latitude, s.longitude);
    const e = s.ellipse_km;
    el("ellipse", { cx: fx, cy: fy, rx: Math.max(1, e.semi_major * scale), ry: Math.max(1, e.semi_minor * scale),
                    transform: `rotate(${(e.azimuth_deg - 90).toFixed(1)} ${fx.toFixed(1)} ${fy.toFixed(1)})`,
                    fill: "#b00020", "fill-opacity": 0.1, stroke: "#b00020", "stroke-width": 2, class: "ellipse",
                    "data-source": k }, sources);
    el("path", { d: `M${fx - 7} ${fy - 7} L${fx + 7} ${fy + 7} M${fx - 7} ${fy + 7} L${fx + 7} ${fy - 7}`,
                 stroke: "#b00020", "stroke-width": 3, class: "fix", "data-source": k }, sources);
    el("text", { x: fx + 10, y: fy - 8, fill: "#b00020", "font-weight": 700 }, sources,
       k === 0 ? "source" : `source ${k + 1}`);
  }

  // stations on top
  const marks = el("g", { class: "stations" }, svg);
  const inWindow = new Map(w.stations.map((s) => [s.code, s]));
  for (const s of r.stations) {
    const code = s.station.code, here = inWindow.get(code);
    const [sx, sy] = toPx(s.station.latitude, s.station.longitude);
    const g = el("g", { class: "station", "data-station": code, tabindex: 0, role: "img",
                        "aria-label": stationWords(code, here, w) }, marks);
    el("title", {}, g, stationWords(code, here, w));
    el("path", { d: `M${sx} ${sy - 8} L${sx + 7} ${sy + 5} L${sx - 7} ${sy + 5} Z`,
                 fill: here ? (here.detected ? "#b00020" : "#4a5563") : "#ffffff", stroke: "#1b1f24", "stroke-width": 1.2,
                 "stroke-dasharray": here ? null : "2 2" }, g);
    el("text", { x: sx + 9, y: sy + 14, "font-weight": 600 }, g, code);
  }
  // scale bar
  const kmBar = [5, 10, 20, 25, 50, 100].find((k) => k * scale >= 60) || 100;
  el("line", { x1: W - PAD / 2 - 10 - kmBar * scale, x2: W - PAD / 2 - 10, y1: PAD / 2 + 16, y2: PAD / 2 + 16,
               stroke: "#1b1f24", "stroke-width": 3 }, svg);
  el("text", { x: W - PAD / 2 - 10, y: PAD / 2 + 32, "text-anchor": "end", "font-size": 11 }, svg, `${kmBar} km`);
  el("text", { x: PAD / 2 + 6, y: PAD / 2 + 16, "font-size": 11, fill: "#4a5563" }, svg,
     "N ↑  graticule only (no coastline is shipped)");
  ctx.$("network-map").replaceChildren(svg);
  ctx.$("network-map-desc").textContent = `${label}. Triangles: stations (red: detects in this window, grey: does `
    + "not, dashed: absent); blue: each detecting station's bearing with a wedge of ±2 standard deviations (as the "
    + "network weighs it); red: the source and its 95% ellipse. Rays end at 120 km, the farthest a station detects.";
}

function stationWords(code, s, w) {
  if (!s) {
    const why = w.absent.find((a) => a.code === code)?.reason || "not in this window";
    return `${code}: absent (${why})`;
  }
  const bearing = s.bearing_deg === null ? "no bearing" : `bearing ${s.bearing_deg.toFixed(1)}° ± ${s.bearing_sd_deg?.toFixed(1) ?? "?"}°`;
  return `${code}: ${s.detected ? "detects" : "does not detect"}, P(precursor) ${s.precursor_probability?.toFixed(3)}, ${bearing}`;
}

// ---------------------------------------------------------------- magnitude and stations
function renderMagnitude(w) {
  const n = w.network;
  const box = ctx.$("network-magnitude");
  const one = ctx.$("station-magnitude");
  if (n.magnitude) {
    box.replaceChildren(barsChart({ probabilities: n.magnitude.probabilities, label: n.magnitude.label,
                                    title: "Network magnitude class probabilities" }));
  } else {
    const p = document.createElement("p");
    p.className = "hint";
    p.textContent = `No network magnitude: ${n.magnitude_reason || "no source"}.`;
    box.replaceChildren(p);
  }
  const used = new Set(n.source ? n.source.stations_used : n.stations_detecting);
  const candidates = w.stations.filter((s) => used.has(s.code) && s.magnitude_given_event);
  const best = candidates.sort((a, b) => b.precursor_probability - a.precursor_probability)[0]
    || w.stations.filter((s) => s.magnitude_given_event).sort((a, b) => b.precursor_probability - a.precursor_probability)[0];
  ctx.$("station-magnitude-heading").textContent = best
    ? `One station: ${best.code}'s model alone (given an event)` : "One station";
  if (best) {
    one.replaceChildren(barsChart({ probabilities: best.magnitude_given_event.probabilities,
                                    label: best.magnitude_given_event.label,
                                    title: `${best.code} magnitude class probabilities given an event` }));
  } else {
    one.replaceChildren();
  }
}

function renderStations(w) {
  const body = ctx.$("network-station-table").tBodies[0];
  body.replaceChildren();
  const used = new Set(w.network.source ? w.network.source.stations_used : []);
  const dist = new Map((w.network.source?.station_distances || []).map((d) => [d.code, d]));
  for (const s of w.stations) {
    const tr = body.insertRow();
    tr.dataset.station = s.code;
    const cells = [
      s.code, s.detected ? "yes" : "no", s.precursor_probability?.toFixed(3) ?? "—",
      s.background_p_value === null ? "—" : s.background_p_value.toFixed(3),
      s.bearing_deg === null ? "—" : `${s.bearing_deg.toFixed(1)}° ± ${s.bearing_sd_deg?.toFixed(1) ?? "?"}°`,
      s.amplitude_nt === null ? "—" : s.amplitude_nt.toFixed(3),
      used.has(s.code) ? "yes" : "no",
      dist.has(s.code) ? `${dist.get(s.code).distance_km.toFixed(1)} ± ${dist.get(s.code).sd_km.toFixed(1)}` : "—",
    ];
    for (const c of cells) tr.insertCell().textContent = c;
    if (s.detected) tr.className = "alarm-text";
  }
  for (const a of w.absent) {
    const tr = body.insertRow();
    tr.dataset.station = a.code;
    tr.insertCell().textContent = a.code;
    const td = tr.insertCell();
    td.colSpan = 7;
    td.textContent = `absent: ${a.reason}`;
  }
}

export function initNetwork(context) {
  ctx = context;
  ctx.$("network-form").addEventListener("submit", submit);
  ctx.$("network-download").addEventListener("click", () => {
    if (!net.raw) return;
    const a = document.createElement("a");
    a.href = URL.createObjectURL(new Blob([net.raw], { type: "application/json" }));
    a.download = `network-${net.result.hop_origin.slice(0, 10)}.json`;
    document.body.append(a);
    a.click();
    a.remove();
  });
}
