// The service's page: upload a station file (-> /analyze) or a spectrogram PNG (-> /predict) and look at
// the result. Plain JavaScript; every request goes to this service.
import {
  COLORMAPS, barsChart, chartsToPng, compassChart, fmtNumber, heatDataUrl, heatFigure, lut, timelineChart, utcDate,
  utcTime,
} from "./charts.js";
import { initNetwork } from "./network.js";
import { initStations, showStation } from "./stations.js";

const $ = (id) => document.getElementById(id);
const TABLES = Object.fromEntries(Object.entries(COLORMAPS).map(([k, v]) => [k, lut(v)]));
const CHANNEL_NAMES = { H: "H", D: "D", Z: "Z", ZH: "ZH", ZD: "ZD", HD: "HD" };
const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

const state = {
  file: null, // the File to send
  resultFile: null, // the File the shown result came from
  kind: null, // "analyze" | "predict"
  result: null, // the response JSON
  raw: null, // its text
  detail: null, // GET /v2/models/{name} of the model that answered
  selected: null, // window index
  overlay: null, // shown overlay: "overlay-magnitude" | "overlay-azimuth" | "direction-evidence" | "none"
  images: new Map(), // url -> Promise of {dataUrl, pixels}
  xhr: null,
};

// ---------------------------------------------------------------- requests
function authHeaders() {
  const key = $("key-input").value.trim();
  return key ? { "X-API-Key": key } : {};
}

/** The text a failed response says: the service's {"error": ...} or its plain text. */
function errorText(status, body) {
  let message = body;
  try {
    const parsed = JSON.parse(body);
    if (parsed && typeof parsed.error === "string") message = parsed.error;
  } catch {
    /* not JSON: the server's own plain-text answer */
  }
  return `The service answered ${status}: ${message || "(no message)"}`;
}

async function getJson(url) {
  const r = await fetch(url, { headers: authHeaders() });
  const body = await r.text();
  if (!r.ok) throw new Error(errorText(r.status, body));
  return JSON.parse(body);
}

function blobToDataUrl(blob) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(blob);
  });
}

/** RGBA pixels of an image (a Blob or File). */
async function pixelsOf(blob) {
  const bitmap = await createImageBitmap(blob, { colorSpaceConversion: "none", premultiplyAlpha: "none" });
  const canvas = document.createElement("canvas");
  canvas.width = bitmap.width;
  canvas.height = bitmap.height;
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  ctx.drawImage(bitmap, 0, 0);
  return { width: bitmap.width, height: bitmap.height, data: ctx.getImageData(0, 0, bitmap.width, bitmap.height).data };
}

/** An image of the result, fetched once: {dataUrl, blob}. Inline base64 needs no request. */
function image(url) {
  if (!state.images.has(url)) {
    state.images.set(url, (async () => {
      if (url.startsWith("data:")) return { dataUrl: url, blob: null }; // inline base64: nothing to fetch
      const r = await fetch(url, { headers: authHeaders() });
      if (!r.ok) throw new Error(errorText(r.status, await r.text()));
      const blob = await r.blob();
      return { dataUrl: await blobToDataUrl(blob), blob };
    })());
  }
  return state.images.get(url);
}

// ---------------------------------------------------------------- form, upload, progress, errors
function showError(message) {
  const box = $("error-box");
  box.textContent = message;
  box.hidden = !message;
}

function setBusy(busy) {
  $("submit-button").disabled = busy;
  $("cancel-button").hidden = !busy;
  if (busy) $("progress-box").hidden = false;
}

function finished(text) {
  progress(text, 1);
  $("progress-box").hidden = !text;
}

function progress(text, fraction) {
  const bar = $("progress-bar");
  if (fraction === null) bar.removeAttribute("value"); // indeterminate: the server is working
  else bar.value = fraction;
  $("progress-text").textContent = text;
}

async function isPng(file) {
  const head = new Uint8Array(await file.slice(0, 8).arrayBuffer());
  return PNG_SIGNATURE.every((b, i) => head[i] === b);
}

function chooseFile(file) {
  state.file = file || null;
  $("file-name").textContent = file ? `Selected: ${file.name} (${(file.size / 1024).toFixed(1)} KB)` : "";
}

function mb(bytes) {
  return (bytes / 2 ** 20).toFixed(bytes < 2 ** 20 ? 2 : 1);
}

async function submit(ev) {
  ev.preventDefault();
  showError("");
  const file = state.file;
  if (!file) {
    showError("Choose a station file or a spectrogram PNG first.");
    $("file-input").focus();
    return;
  }
  const kind = (await isPng(file)) ? "predict" : "analyze";
  const form = new FormData();
  form.append("file", file, file.name);
  const model = $("model-select").value;
  if (model) form.append("model", model);
  form.append("explain", $("explain-input").checked ? "true" : "false");
  if (kind === "analyze") {
    for (const [id, field] of [["format-select", "format"], ["station-input", "station"], ["hop-input", "hop_hours"]]) {
      const value = $(id).value.trim();
      if (value) form.append(field, value);
    }
    form.append("image_links", "true"); // the timeline stays small; images come one window at a time
  }
  const xhr = new XMLHttpRequest();
  state.xhr = xhr;
  xhr.open("POST", `/${kind}`);
  for (const [k, v] of Object.entries(authHeaders())) xhr.setRequestHeader(k, v);
  const started = Date.now();
  let ticker = null;
  const processing = () => {
    const s = Math.round((Date.now() - started) / 1000);
    progress(`Processing on the server (${kind === "analyze" ? "reading the record, running the model on each window" : "running the model"})… ${s} s`, null);
  };
  xhr.upload.onprogress = (e) => {
    if (e.lengthComputable) progress(`Uploading ${file.name}: ${mb(e.loaded)} of ${mb(e.total)} MB`, e.loaded / e.total);
  };
  xhr.upload.onload = () => {
    processing();
    ticker = setInterval(processing, 1000);
  };
  const done = () => {
    clearInterval(ticker);
    setBusy(false);
    state.xhr = null;
  };
  xhr.onload = async () => {
    done();
    if (xhr.status !== 200) {
      finished("");
      showError(errorText(xhr.status, xhr.responseText));
      if (xhr.status === 401) {
        $("key-input").closest("details").open = true;
        $("key-input").focus();
      }
      return;
    }
    try {
      progress("Drawing the result…", 1);
      await show(kind, xhr.responseText, file);
    } catch (err) {
      finished("");
      showError(`Could not show the result: ${err.message}`);
    }
  };
  xhr.onerror = () => {
    done();
    finished("");
    showError("Could not reach the service (the connection failed or was closed). Is it running?");
  };
  xhr.onabort = () => {
    done();
    finished("");
    showError("Cancelled: the page stopped the upload or stopped waiting for the answer.");
  };
  setBusy(true);
  progress(`Uploading ${file.name}…`, 0);
  xhr.send(form);
}

// ---------------------------------------------------------------- results
function fmtP(p) {
  return p.toFixed(3);
}

function fmtBearing(az) {
  if (az.bearing_deg === undefined) return "—";
  const unc = az.bearing_uncertainty_deg !== undefined ? ` ± ${az.bearing_uncertainty_deg.toFixed(1)}°` : "";
  return `${az.bearing_deg.toFixed(1)}°${unc}`;
}

function span(ms0, ms1) {
  const sameDay = utcDate(ms0) === utcDate(ms1);
  return `${utcDate(ms0)} ${utcTime(ms0)} – ${sameDay ? "" : utcDate(ms1) + " "}${utcTime(ms1)} UTC`;
}

async function show(kind, text, file) {
  state.kind = kind;
  state.resultFile = file;
  state.raw = text;
  state.result = JSON.parse(text);
  state.images = new Map();
  state.selected = null;
  state.overlay = null;
  const r = state.result;
  state.detail = await getJson(`/v2/models/${encodeURIComponent(r.model.name)}?version=${encodeURIComponent(r.model.version)}`);
  if (kind === "predict") {
    state.images.set("upload", Promise.resolve({ dataUrl: await blobToDataUrl(file), blob: file }));
  }
  $("result").hidden = false;
  $("model-notice").textContent = r.model.notice;
  renderSummary(file);
  renderModel();
  $("timeline-block").hidden = kind !== "analyze";
  $("download-csv").hidden = kind !== "analyze";
  if (kind === "analyze") {
    renderTimeline();
    const first = r.summary.max_precursor_window ?? r.windows.findIndex((w) => w.outputs);
    if (first !== null && first >= 0) await selectWindow(first, false);
    else $("window-view").hidden = true;
    finished(`Done: ${file.name}, ${r.summary.windows_analyzed} of ${r.summary.windows_total} windows analysed.`);
    showStation(r.station.code);
  } else {
    await selectWindow(0, false);
    finished(`Done: ${file.name}.`);
  }
}

function summaryRows() {
  const r = state.result, m = r.model, spec = state.detail.input_spec;
  const rows = [["Model", `${m.name}:${m.version} (${m.representation} input, trained on ${m.trained_on})`]];
  if (state.kind === "analyze") {
    const st = r.station;
    const where = st.latitude !== undefined ? ` at ${st.latitude.toFixed(3)}°, ${st.longitude.toFixed(3)}°` : "";
    rows.unshift(
      ["Station", `${st.code}${st.name ? " (" + st.name + ")" : ""}${where}`],
      ["Span", `${span(Date.parse(r.start), Date.parse(r.end))} (${r.source_format})`],
      ["Sampling", `every ${fmtNumber(r.sampling_interval_s)} s${r.resampled_to_s ? `, decimated to ${fmtNumber(r.resampled_to_s)} s for the model` : ""}`],
      ["Windows", `${r.summary.windows_total} of ${fmtNumber(r.window_hours)} h every ${fmtNumber(r.hop_hours)} h: ${r.summary.windows_analyzed} analysed, ${r.summary.windows_skipped} skipped, ${r.summary.windows_in_alarm} in alarm`],
    );
    const b = r.baseline;
    rows.push(["Baseline", b ? `station ${b.station}, version ${b.version}: ${b.windows.used} windows of ${b.days.length} days (${b.first_day} to ${b.last_day})` : "none"],
              ["Alarm rule", r.summary.alarm_rule], ["False-alarm rate", r.summary.false_alarm_rate]);
  } else {
    rows.unshift(["Image", `${r.input.width}x${r.input.height} PNG${r.input.note ? " (" + r.input.note + ")" : ""}`]);
    rows.push(["Chosen by", r.model.selected_by || "—"], ["Alarm threshold", r.alarm_threshold.toFixed(2)]);
  }
  rows.push(["Frequencies", `${fmtNumber(spec.fmin_hz)}–${fmtNumber(spec.fmax_hz)} Hz, ${fmtNumber(spec.window_s / 3600)} h windows`]);
  return rows;
}

function renderSummary() {
  const dl = $("summary");
  dl.replaceChildren();
  for (const [k, v] of summaryRows()) {
    const dt = document.createElement("dt");
    dt.textContent = k;
    const dd = document.createElement("dd");
    dd.textContent = v;
    dd.dataset.field = k.toLowerCase().replace(/ /g, "-");
    dl.append(dt, dd);
  }
}

function renderModel() {
  const d = state.detail;
  $("model-layout").textContent = `${d.name}:${d.version} reads ${d.input_layout}.`;
  const ul = $("heads-can-know");
  ul.replaceChildren();
  for (const [head, statement] of Object.entries(d.what_each_head_can_know)) {
    const li = document.createElement("li");
    const b = document.createElement("strong");
    b.textContent = `${head}: `;
    li.append(b, statement);
    ul.append(li);
  }
}

function windowRows() {
  return state.result.windows.map((w) => {
    const t0 = Date.parse(w.start), t1 = Date.parse(w.end);
    const skipped = !w.outputs;
    const base = { index: w.index, t0, t1, skipped, window: w };
    if (skipped) {
      return { ...base, aria: `Window ${w.index + 1}, ${span(t0, t1)}: skipped, ${w.skipped_reason || "not analysed"}` };
    }
    return {
      ...base, p: w.precursor_probability, alarm: w.alarm,
      aria: `Window ${w.index + 1}, ${span(t0, t1)}: precursor probability ${fmtP(w.precursor_probability)}${w.alarm ? ", ALARM" : ""}`,
    };
  });
}

function tipText(w) {
  const lines = [`Window ${w.index + 1}: ${span(Date.parse(w.start), Date.parse(w.end))}`,
                 `valid samples ${(w.valid_fraction * 100).toFixed(1)}%`];
  if (!w.outputs) {
    lines.push(`skipped: ${w.skipped_reason || "not analysed"}`);
  } else {
    lines.push(`P(precursor) ${fmtP(w.precursor_probability)}${w.alarm ? " — ALARM" : ""}`
               + (w.background_p_value !== null && w.background_p_value !== undefined ? `, background p ${fmtP(w.background_p_value)}` : ""),
               `magnitude: ${w.outputs.magnitude.label}`,
               `azimuth: ${w.outputs.azimuth.label}${w.outputs.azimuth.bearing_deg !== undefined ? ", bearing " + fmtBearing(w.outputs.azimuth) : ""}`);
  }
  return lines.join("\n");
}

function hover(index, node) {
  const tip = $("timeline-tip");
  if (index === null) {
    tip.hidden = true;
    return;
  }
  tip.textContent = tipText(state.result.windows[index]);
  tip.hidden = false;
  const host = $("timeline-block").getBoundingClientRect();
  const box = (node.querySelector(".marker") || node).getBoundingClientRect();
  const left = Math.min(box.left - host.left + box.width / 2 + 12, host.width - tip.offsetWidth - 4);
  tip.style.left = `${Math.max(0, left)}px`;
  tip.style.top = `${box.top - host.top - tip.offsetHeight - 8 < 0 ? box.bottom - host.top + 8 : box.top - host.top - tip.offsetHeight - 8}px`;
}

function renderTimeline() {
  const r = state.result;
  $("timeline-tip").hidden = true;
  const chart = timelineChart({
    windows: windowRows(), start: Date.parse(r.start), end: Date.parse(r.end), threshold: r.summary.alarm_threshold,
    selected: state.selected, handlers: { hover, select: (i) => selectWindow(i, true) },
    width: Math.round(Math.min(900, Math.max(340, $("timeline").clientWidth || 900))), // readable on a phone
  });
  $("timeline").replaceChildren(chart);
  renderTable();
}

function cell(row, text, attrs = {}) {
  const td = document.createElement("td");
  td.textContent = text;
  for (const [k, v] of Object.entries(attrs)) td.setAttribute(k, v);
  row.append(td);
  return td;
}

function renderTable() {
  const body = $("window-table").tBodies[0];
  body.replaceChildren();
  for (const w of state.result.windows) {
    const tr = document.createElement("tr");
    tr.dataset.index = w.index;
    if (w.index === state.selected) tr.className = "selected";
    const first = document.createElement("td");
    const button = document.createElement("button");
    button.type = "button";
    button.className = "select-window";
    button.textContent = `Window ${w.index + 1}`;
    button.addEventListener("click", () => selectWindow(w.index, true));
    first.append(button);
    tr.append(first);
    cell(tr, span(Date.parse(w.start), Date.parse(w.end)));
    cell(tr, `${(w.valid_fraction * 100).toFixed(1)}%`, { class: "num", "data-field": "valid" });
    if (!w.outputs) {
      tr.classList.add("skipped");
      button.disabled = true;
      cell(tr, `skipped: ${w.skipped_reason || "not analysed"}`, { colspan: "5", "data-field": "skipped" });
    } else {
      const az = w.outputs.azimuth;
      cell(tr, fmtP(w.precursor_probability), { class: "num", "data-field": "p" });
      const p = w.background_p_value;
      cell(tr, (w.alarm ? "ALARM" : "no") + (p !== null && p !== undefined ? ` (p ${fmtP(p)})` : ""),
           { "data-field": "alarm", class: w.alarm ? "alarm-text" : "" });
      cell(tr, w.outputs.magnitude.label, { "data-field": "magnitude" });
      cell(tr, az.label, { "data-field": "azimuth" });
      cell(tr, fmtBearing(az), { "data-field": "bearing", class: "num" });
    }
    body.append(tr);
  }
}

// ---------------------------------------------------------------- one window
function currentWindow() {
  if (state.kind === "predict") {
    const r = state.result;
    return { index: 0, outputs: r.outputs, precursor_probability: r.precursor_probability, alarm: r.alarm,
             explanation: r.explanation, spectrogram: "upload" };
  }
  const w = state.result.windows[state.selected];
  return { ...w, spectrogram: w.spectrogram_url };
}

/** Where the image rows and columns lie: frequency edges (Hz) and time edges (s into the window), from the
 * model's InputSpec (an STFT with zero-padded ends; rows are the band's bins, low at the bottom). */
function extents(spec) {
  const dt = spec.sample_interval_s, df = 1 / (spec.nperseg * dt), hop = spec.nperseg - spec.noverlap;
  let bins = 0, fLow = null;
  for (let k = 0; k <= spec.nperseg / 2; k++) {
    const f = k * df;
    if (f >= spec.fmin_hz - 1e-12 && f <= spec.fmax_hz + 1e-12) {
      bins += 1;
      if (fLow === null) fLow = f;
    }
  }
  const n = Math.round(spec.window_s / dt);
  let padded = n + spec.nperseg; // scipy's stft: nperseg/2 zeros at each end, then padded to whole hops
  if ((padded - spec.nperseg) % hop) padded += hop - ((padded - spec.nperseg) % hop);
  const frames = (padded - spec.nperseg) / hop + 1;
  return {
    f: [fLow - df / 2, fLow + (bins - 0.5) * df],
    t: [(-hop / 2) * dt, (frames - 0.5) * hop * dt],
  };
}

function channelInfo(name, spec) {
  if (name.length === 2) {
    return { title: `${name} coherency`, table: TABLES.coherency, lo: -1, hi: 1, label: "coherency",
             ticks: [-1, -0.5, 0, 0.5, 1], value: (v) => (v / 255) * 2 - 1,
             format: (v) => (v > 0 ? "+" : "") + fmtNumber(v), unit: "" };
  }
  const lo = spec.db_min, hi = spec.db_max;
  const step = (hi - lo) / 4;
  return { title: `${CHANNEL_NAMES[name]} power`, table: TABLES.power, lo, hi, label: "dB re 1 nT²/Hz",
           ticks: [0, 1, 2, 3, 4].map((k) => lo + k * step), value: (v) => lo + (v / 255) * (hi - lo),
           format: fmtNumber, unit: " dB" };
}

function readout(info, ch, fx, fy, ext, t0) {
  const col = Math.floor(fx * ch.width), row = Math.floor(fy * ch.height);
  const level = ch.values[row * ch.width + col];
  const seconds = ext.t[0] + ((col + 0.5) / ch.width) * (ext.t[1] - ext.t[0]);
  const freq = ext.f[1] - ((row + 0.5) / ch.height) * (ext.f[1] - ext.f[0]);
  const when = t0 === null ? `${(seconds / 3600).toFixed(3)} h into the window` : `${utcTime(t0 + seconds * 1000, true)} UTC`;
  const out = $("readout");
  out.textContent = `${info.title}: ${info.format(Number(info.value(level).toFixed(2)))}${info.unit} at ${when}, ${freq.toFixed(4)} Hz`;
  Object.assign(out.dataset, { channel: ch.name, col, row, level });
}

async function renderChannels(w) {
  const spec = state.detail.input_spec;
  const names = [...spec.channels, ...(spec.representation === "cross_spectral" ? ["ZH", "ZD", "HD"] : [])];
  const { blob } = await image(w.spectrogram);
  const px = await pixelsOf(blob);
  const panels = Math.ceil(names.length / 3);
  const width = Math.floor(px.width / panels), height = px.height;
  const ext = extents(spec);
  const t0 = state.kind === "analyze" ? Date.parse(w.start) : null;
  const x = t0 === null ? { lo: ext.t[0], hi: ext.t[1], absolute: false }
    : { lo: t0 + ext.t[0] * 1000, hi: t0 + ext.t[1] * 1000, absolute: true };
  const scale = Math.max(1, Math.floor(256 / Math.max(width, height)));
  const figures = names.map((name, k) => {
    const panel = Math.floor(k / 3), rgb = k % 3;
    const values = new Uint8Array(width * height);
    for (let row = 0; row < height; row++) {
      for (let col = 0; col < width; col++) {
        values[row * width + col] = px.data[(row * px.width + panel * width + col) * 4 + rgb];
      }
    }
    const info = channelInfo(name, spec);
    const ch = { name, values, width, height };
    const fig = document.createElement("figure");
    fig.dataset.channel = name;
    const chart = heatFigure({
      title: info.title, label: `${info.title} spectrogram with time and frequency axes`,
      href: heatDataUrl(values, width, height, info.table, scale), x, y: { lo: ext.f[0], hi: ext.f[1] },
      bar: { table: info.table, lo: info.lo, hi: info.hi, label: info.label, ticks: info.ticks, format: info.format },
      onPoint: (fx, fy) => readout(info, ch, fx, fy, ext, t0),
    });
    fig.append(chart);
    return fig;
  });
  $("channels").replaceChildren(...figures);
}

const OVERLAY_NAMES = {
  "overlay-magnitude": "Grad-CAM: magnitude head",
  "overlay-azimuth": "Grad-CAM: azimuth head",
  "direction-evidence": "direction evidence (bearing)",
};

function overlaySources(w) {
  const e = w.explanation || {};
  const src = {};
  for (const task of ["magnitude", "azimuth"]) {
    if (!e[task]) continue;
    src[`overlay-${task}`] = {
      url: e[task].overlay_url || `data:image/png;base64,${e[task].overlay_png_base64}`,
      caption: `Grad-CAM of the ${task} head for class “${e[task].target_class}” (map ${e[task].map_shape.join("x")}), over the power panel (R=H, G=D, B=Z)`,
    };
  }
  const az = e.azimuth || {};
  if (az.direction_evidence_url || az.direction_evidence_png_base64) {
    src["direction-evidence"] = {
      url: az.direction_evidence_url || `data:image/png;base64,${az.direction_evidence_png_base64}`,
      caption: "Where the bearing comes from: each cell's cross spectrum projected on the bearing, over the power panel",
    };
  }
  return src;
}

function renderOverlayChoice(w) {
  const sources = overlaySources(w);
  const box = $("overlay-choice");
  const legend = box.querySelector("legend");
  box.replaceChildren(legend);
  const names = Object.keys(sources);
  if (!names.length) {
    const p = document.createElement("p");
    p.className = "hint";
    p.textContent = "No explanation for this result: analyse again with “Grad-CAM explanations” ticked.";
    box.append(p);
    $("overlay").replaceChildren();
    return sources;
  }
  if (!names.includes(state.overlay)) state.overlay = names[0];
  for (const name of names) {
    const label = document.createElement("label");
    const input = document.createElement("input");
    Object.assign(input, { type: "radio", name: "overlay", value: name, checked: name === state.overlay });
    input.addEventListener("change", () => {
      state.overlay = name;
      renderOverlay(currentWindow());
    });
    label.append(input, OVERLAY_NAMES[name]);
    box.append(label);
  }
  return sources;
}

let overlayToken = 0;
async function renderOverlay(w) {
  const token = ++overlayToken;
  const source = overlaySources(w)[state.overlay];
  if (!source) return;
  const { dataUrl } = await image(source.url);
  if (token !== overlayToken) return; // another choice came meanwhile
  const spec = state.detail.input_spec, ext = extents(spec);
  const t0 = state.kind === "analyze" ? Date.parse(w.start) : null;
  const x = t0 === null ? { lo: ext.t[0], hi: ext.t[1], absolute: false }
    : { lo: t0 + ext.t[0] * 1000, hi: t0 + ext.t[1] * 1000, absolute: true };
  const chart = heatFigure({
    title: OVERLAY_NAMES[state.overlay], href: dataUrl, x, y: { lo: ext.f[0], hi: ext.f[1] },
    label: `${OVERLAY_NAMES[state.overlay]} over the power spectrogram`,
    bar: { table: TABLES.overlay, lo: 0, hi: 1, label: "relative weight (1 = peak)", ticks: [0, 0.5, 1] },
  });
  const fig = document.createElement("figure");
  fig.dataset.overlay = state.overlay;
  const caption = document.createElement("figcaption");
  caption.textContent = `${source.caption}; blended half and half with the spectrogram.`;
  fig.append(chart, caption);
  $("overlay").replaceChildren(fig);
}

function renderHeads(w) {
  const mag = w.outputs.magnitude, az = w.outputs.azimuth;
  const bars = barsChart({ probabilities: mag.probabilities, label: mag.label,
                           title: "Magnitude class probabilities" });
  const rose = compassChart({ probabilities: az.probabilities, label: az.label, bearing: az.bearing_deg,
                              uncertainty: az.bearing_uncertainty_deg, title: "Azimuth class probabilities on a compass rose" });
  $("magnitude-chart").replaceChildren(bars);
  $("azimuth-chart").replaceChildren(rose);
}

async function selectWindow(index, focus) {
  if (state.kind === "analyze" && !state.result.windows[index]?.outputs) return;
  state.selected = index;
  const view = $("window-view");
  delete view.dataset.ready;
  const w = currentWindow();
  if (state.kind === "analyze") {
    renderTimeline();
    $("window-heading").textContent = `Window ${index + 1} of ${state.result.windows.length}: ${span(Date.parse(w.start), Date.parse(w.end))}`;
  } else {
    $("window-heading").textContent = `Spectrogram ${state.resultFile.name}`;
  }
  const threshold = state.kind === "analyze" ? state.result.summary.alarm_threshold : state.result.alarm_threshold;
  const judged = w.background_p_value !== null && w.background_p_value !== undefined
    ? `background p ${fmtP(w.background_p_value)} against the station's baseline`
    : `threshold ${threshold === null ? "none" : threshold.toFixed(2)}`;
  $("window-verdict").textContent = `P(precursor) ${fmtP(w.precursor_probability)} — ${w.alarm ? "ALARM" : "no alarm"} (${judged}); magnitude label ${w.outputs.magnitude.label}, azimuth label ${w.outputs.azimuth.label}.`;
  $("window-verdict").className = `verdict${w.alarm ? " alarm-text" : ""}`;
  $("window-view").hidden = false;
  $("readout").textContent = "Point at a spectrogram for its value.";
  renderHeads(w);
  renderOverlayChoice(w);
  try {
    await Promise.all([renderChannels(w), renderOverlay(w)]);
    view.dataset.ready = String(index); // drawn (tests and scripts can wait for this)
  } catch (err) {
    showError(`Could not draw window ${index + 1}: ${err.message}`);
  }
  if (focus) $("window-heading").focus();
}

// ---------------------------------------------------------------- downloads
function save(blob, name) {
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10000);
}

function baseName() {
  const r = state.result;
  if (state.kind === "predict") return `predict-${state.resultFile.name.replace(/\.png$/i, "")}`;
  return `analysis-${r.station.code}-${r.start.slice(0, 10)}`;
}

function csvCell(v) {
  const s = v === undefined || v === null ? "" : String(v);
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

function timelineCsv() {
  const r = state.result;
  const analysed = r.windows.find((w) => w.outputs);
  const mags = analysed ? Object.keys(analysed.outputs.magnitude.probabilities) : [];
  const azs = analysed ? Object.keys(analysed.outputs.azimuth.probabilities) : [];
  const header = ["index", "start", "end", "valid_fraction", "longest_gap_s", "skipped_reason", "precursor_probability",
                  "alarm", "magnitude_label", "azimuth_label", "bearing_deg", "bearing_uncertainty_deg",
                  ...mags.map((k) => `magnitude_${k}`), ...azs.map((k) => `azimuth_${k}`)];
  const lines = [header.join(",")];
  for (const w of r.windows) {
    const o = w.outputs;
    const row = [w.index, w.start, w.end, w.valid_fraction, w.longest_gap_s, w.skipped_reason,
                 w.precursor_probability, o ? w.alarm : "", o?.magnitude.label, o?.azimuth.label,
                 o?.azimuth.bearing_deg, o?.azimuth.bearing_uncertainty_deg,
                 ...mags.map((k) => o?.magnitude.probabilities[k]), ...azs.map((k) => o?.azimuth.probabilities[k])];
    lines.push(row.map(csvCell).join(","));
  }
  return lines.join("\n") + "\n";
}

async function downloadFigure() {
  const charts = [...document.querySelectorAll("#channels svg, #overlay svg, #magnitude-chart svg, #azimuth-chart svg")];
  if (!charts.length) return;
  const title = `${$("window-heading").textContent} — ${state.result.model.name}:${state.result.model.version}`;
  const blob = await chartsToPng(charts, title);
  save(blob, `${baseName()}-window-${state.selected + 1}.png`);
}

// ---------------------------------------------------------------- start
async function loadModels() {
  try {
    const models = await getJson("/v2/models");
    const select = $("model-select");
    for (const m of models.filter((m) => m.serving)) {
      const option = document.createElement("option");
      option.value = `${m.name}:${m.version}`;
      option.textContent = `${m.name}:${m.version} (trained on ${m.trained_on})`;
      select.append(option);
    }
  } catch {
    /* the default model still answers */
  }
}

function init() {
  const zone = $("drop-zone");
  $("file-input").addEventListener("change", (e) => chooseFile(e.target.files[0]));
  zone.addEventListener("dragover", (e) => {
    e.preventDefault();
    zone.classList.add("dragging");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("dragging"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    zone.classList.remove("dragging");
    if (e.dataTransfer.files.length) chooseFile(e.dataTransfer.files[0]);
  });
  $("upload-form").addEventListener("submit", submit);
  $("cancel-button").addEventListener("click", () => state.xhr?.abort());
  $("download-json").addEventListener("click", () => save(new Blob([state.raw], { type: "application/json" }), `${baseName()}.json`));
  $("download-csv").addEventListener("click", () => save(new Blob([timelineCsv()], { type: "text/csv" }), `${baseName()}-timeline.csv`));
  $("download-figure").addEventListener("click", downloadFigure);
  let resizing = null;
  window.addEventListener("resize", () => {
    clearTimeout(resizing);
    resizing = setTimeout(() => state.kind === "analyze" && renderTimeline(), 150);
  });
  loadModels();
  initStations({ $, getJson, authHeaders, errorText, stationOf: () => state.result?.station?.code });
  initNetwork({ $, getJson, authHeaders, errorText });
}

init();
