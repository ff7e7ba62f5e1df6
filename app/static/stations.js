// The page's station-baseline section: whether a station has a baseline, and making one from days of its own
// record (PUT /v2/stations/{code}/baseline) or deleting it. Plain JavaScript; every request goes to this service.

let page = null; // what page.js shares: $, getJson, authHeaders, errorText, stationOf

function describe(b) {
  const dropped = Object.entries(b.windows.dropped).map(([why, n]) => `${n} ${why}`).join("; ") || "none";
  return `Version ${b.version}, made ${b.created_at.slice(0, 16).replace("T", " ")} UTC from ${b.days.length} days `
    + `(${b.first_day} to ${b.last_day}): ${b.windows.used} of ${b.windows.total} windows used; dropped: ${dropped}. `
    + `Windows of this station are judged against it: alarm when background p <= ${b.rules.false_alarm_rate}.`;
}

function setStatus(text, kind = "") {
  const status = page.$("baseline-status");
  status.textContent = text;
  status.className = `baseline-status ${kind}`;
}

async function show(code) {
  const { $ } = page;
  $("baseline-delete").hidden = true;
  if (!code) {
    setStatus("Type a station code to see its baseline.");
    return;
  }
  try {
    const detail = await page.getJson(`/v2/stations/${encodeURIComponent(code)}`);
    if (detail.baseline) {
      setStatus(`${detail.code}${detail.name ? " (" + detail.name + ")" : ""}: ${describe(detail.baseline)}`, "has");
      $("baseline-delete").hidden = false;
    } else {
      setStatus(`${detail.code}${detail.name ? " (" + detail.name + ")" : ""} has no baseline: its false-alarm rate is `
        + "unknown. Make one from 3 or more days of its own record (7-14 recommended).", "none");
    }
  } catch (err) {
    setStatus(err.message.includes(" 404:") ? `${code.toUpperCase()} has no baseline and is not in the station table.`
      : err.message, err.message.includes(" 404:") ? "none" : "error");
  }
}

async function make(ev) {
  ev.preventDefault();
  const { $ } = page;
  const code = $("baseline-station").value.trim();
  const files = [...$("baseline-files").files];
  if (!code || !files.length) {
    setStatus("Give the station code and choose its day files.", "error");
    return;
  }
  const form = new FormData();
  for (const f of files) form.append("files", f, f.name);
  $("baseline-make").disabled = true;
  setStatus(`Making the baseline of ${code.toUpperCase()} from ${files.length} file(s)…`);
  try {
    const r = await fetch(`/v2/stations/${encodeURIComponent(code)}/baseline`,
                          { method: "PUT", body: form, headers: page.authHeaders() });
    const body = await r.text();
    if (!r.ok) throw new Error(page.errorText(r.status, body));
    const b = JSON.parse(body);
    setStatus(`Made: ${b.station}. ${describe(b)}`, "has");
    $("baseline-delete").hidden = false;
  } catch (err) {
    setStatus(err.message, "error");
  } finally {
    $("baseline-make").disabled = false;
  }
}

async function remove() {
  const { $ } = page;
  const code = $("baseline-station").value.trim();
  try {
    const r = await fetch(`/v2/stations/${encodeURIComponent(code)}/baseline`,
                          { method: "DELETE", headers: page.authHeaders() });
    const body = await r.text();
    if (!r.ok) throw new Error(page.errorText(r.status, body));
    await show(code);
  } catch (err) {
    setStatus(err.message, "error");
  }
}

/** Wire the section up; ``shared`` holds the helpers of page.js. */
export function initStations(shared) {
  page = shared;
  const { $ } = page;
  let typing = null;
  $("baseline-station").addEventListener("input", (e) => {
    clearTimeout(typing);
    typing = setTimeout(() => show(e.target.value.trim()), 300);
  });
  $("baseline-form").addEventListener("submit", make);
  $("baseline-delete").addEventListener("click", remove);
  $("station-input").addEventListener("change", (e) => {
    if (e.target.value.trim()) {
      $("baseline-station").value = e.target.value.trim();
      show(e.target.value.trim());
    }
  });
  setStatus("Type a station code to see its baseline.");
}

/** After an analysis: show the baseline of the record's station. */
export function showStation(code) {
  if (!page || !code || code === "unknown") return;
  page.$("baseline-station").value = code;
  show(code);
}
