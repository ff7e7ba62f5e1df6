"""The page in a real headless browser (Debian's chromium driven by Playwright) against a real service.

Without a browser these tests skip, naming the install command; in CI (``CI`` set) they fail instead,
as ``.ci/run`` installs chromium. Every request the browser makes is intercepted: one to any host but
the service is refused and fails the test. Screenshots go to a temporary directory, or to
``$PRECURSOR_SCREENSHOTS`` when set (docs/page.jpg comes from there).
"""

from __future__ import annotations

import base64
import csv
import gzip
import io
import json
import os
import re
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import numpy as np
import pytest
import torch
from PIL import Image
from scipy.signal import stft

from model_store import Calibration, InputSpec
from model_store.formats import frg604rc
from model_store.spectrogram import band_frequencies

from .conftest import CROSS_MODEL, CROSS_SPEC, build_store, tiny_cross_model

CHROMIUM = Path("/usr/bin/chromium")
INSTALL = "apt-get install -y chromium (and pip install playwright, in the dev extra)"
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--no-first-run"]
TIMEOUT_MS = 20_000
LOUD_MODEL = "loud"  # the direction-aware tiny model with its detection bias raised: every window in alarm
LOUD_HEADS = {
    "detection": "tells event windows from Normal ones (test statement)",
    "magnitude": "hardly knows the magnitude (test statement)",
    "azimuth": "knows the bearing from the cross-spectra (test statement)",
}


def _missing() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed"
    if not CHROMIUM.exists():
        return f"{CHROMIUM} does not exist"
    return None


@pytest.fixture(scope="module")
def browser():
    missing = _missing()
    if missing:
        message = f"no browser for the page tests ({missing}): {INSTALL}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def page_store(tmp_path_factory) -> Path:
    """The tests' two tiny models and a third that always alarms, with its own statements of what its heads
    can know."""
    root = tmp_path_factory.mktemp("page-store")
    registry = build_store(root)
    loud = tiny_cross_model()
    with torch.no_grad():
        loud.heads["detection"][-1].bias += 6.0  # P(event) ~ 0.99 on any input
    registry.save(loud, LOUD_MODEL, input_spec=CROSS_SPEC, provenance={"trained_on": "untrained", "description": "test"},
                  calibration=Calibration(alarm_threshold=0.7), metrics={"what_each_head_can_know": LOUD_HEADS})
    return root


@pytest.fixture(scope="module")
def network_store(page_store) -> Path:
    """A network model for the always-alarming model whose bearing calibration sharpens its untrained head's
    broad kappa (about 2) a hundredfold, so that its direction finder's bearings cross into a fix."""
    from model_store import ModelRegistry
    from model_store.network import BearingCalibration, MagnitudeModel, NetworkConfig
    from model_store.network_store import NetworkArtifact, NetworkStore, network_store_of, station_model_identity

    root = network_store_of(page_store)
    magnitude = MagnitudeModel(("Large", "Medium", "Moderate"), ((1.5, 0.3), (0.0, 0.0), (-1.5, -0.3)),
                               (0.0, 0.0, 0.0), (3.5, 3.0), (0.4, 1.0), fitted_on="a test")
    NetworkStore(root).save(NetworkArtifact(
        magnitude=magnitude, bearing_calibration=BearingCalibration(scale=0.01),
        station_model=station_model_identity(ModelRegistry(page_store).manifest(LOUD_MODEL)),
        amplitude_estimator="coherent_band_rms_v1", network_config=NetworkConfig(max_sources=3)))
    return root


@pytest.fixture(scope="module")
def service(page_store, network_store, tmp_path_factory):
    from .live import LiveServer

    where = tmp_path_factory.mktemp("page")
    server = LiveServer(where / "service.log", model_store=str(page_store), station_store=str(where / "stations"))
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    target = os.environ.get("PRECURSOR_SCREENSHOTS")
    path = Path(target) if target else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def page(browser, service):
    """A fresh page whose every request is checked: the service's own go through, others are refused and
    recorded (and fail the test)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    elsewhere: list[str] = []
    errors: list[str] = []
    host = urlsplit(service.url).netloc

    def route(r):
        if urlsplit(r.request.url).netloc == host:
            r.continue_()
        else:
            elsewhere.append(r.request.url)
            r.abort()

    context.route("**/*", route)
    p = context.new_page()
    p.set_default_timeout(TIMEOUT_MS)
    p.on("pageerror", lambda e: errors.append(str(e)))
    p.goto(f"{service.url}/")
    yield p
    context.close()
    assert elsewhere == [], f"the page asked other hosts: {elsewhere}"
    assert errors == [], f"script errors: {errors}"


def _analyze_in_page(page, path_or_file, model: str | None = None):
    page.locator("#model-select option").nth(3).wait_for(state="attached")  # the served models are listed
    if model:
        page.select_option("#model-select", f"{model}:1")
    page.set_input_files("#file-input", path_or_file)
    with page.expect_response(lambda r: r.url.endswith(("/analyze", "/predict"))) as response:
        page.click("#submit-button")
    return response.value


def _texts(page, selector: str) -> list[str]:
    """Text of each match (HTML or SVG), stripped."""
    return [t.strip() for t in page.locator(selector).all_text_contents()]


def _pixel_time_and_frequency(spec: InputSpec, col: int, row: int, width: int, height: int) -> tuple[float, float]:
    """Where a pixel lies, from scipy's STFT frames and the band's bins, resized as PIL does (pixel centres):
    seconds into the window and Hz. Independent of the page's own arithmetic."""
    n = int(spec.window_s / spec.sample_interval_s)
    _, times, _ = stft(np.zeros(n), fs=1 / spec.sample_interval_s, nperseg=spec.nperseg, noverlap=spec.noverlap)
    freqs = band_frequencies(spec)
    frame = (col + 0.5) * len(times) / width - 0.5
    bin_ = (height - 1 - row + 0.5) * len(freqs) / height - 0.5
    return float(times[0] + frame * (times[1] - times[0])), float(freqs[0] + bin_ * (freqs[1] - freqs[0]))


def test_a_station_gets_a_baseline_from_the_page_and_its_windows_are_judged_by_it(page, lut_day_path, tmp_path):
    from dataclasses import replace
    from datetime import timedelta

    from model_store import read_series
    from training.writers import to_iaga2002

    day = read_series(lut_day_path)
    files = []
    for k in (1, 2, 3):
        files.append(tmp_path / f"lut2023010{k + 1}.sec")
        files[-1].write_bytes(to_iaga2002(replace(day, start=day.start + timedelta(days=k))))
    page.fill("#baseline-station", "lut")
    page.wait_for_selector(".baseline-status.none")
    assert "LUT (Lombok Utara) has no baseline" in page.inner_text("#baseline-status")
    page.set_input_files("#baseline-files", [str(f) for f in files])
    with page.expect_response(lambda r: r.url.endswith("/v2/stations/lut/baseline")) as made:
        page.click("#baseline-make")
    assert made.value.status == 201
    page.wait_for_selector(".baseline-status.has")
    status = page.inner_text("#baseline-status")
    assert "Made: LUT. Version 1" in status and "12 of 12 windows used; dropped: none" in status

    response = _analyze_in_page(page, str(lut_day_path), model=CROSS_MODEL)
    assert response.status == 200 and response.json()["baseline"]["version"] == "1"
    page.wait_for_selector("#window-view[data-ready]")
    assert page.inner_text("[data-field='baseline']").startswith("station LUT, version 1: 12 windows of 3 days")
    assert "background_p_value <= 0.05" in page.inner_text("[data-field='alarm-rule']")
    alarms = _texts(page, "#window-table td[data-field='alarm']")
    assert len(alarms) == 4 and all("(p " in a for a in alarms)
    page.click("#baseline-delete")
    page.wait_for_selector(".baseline-status.none")


def test_a_station_day_gives_a_timeline_and_each_window_with_its_explanations(page, service, lut_day_path, shots):
    response = _analyze_in_page(page, str(lut_day_path), model=CROSS_MODEL)
    assert response.status == 200
    shown = response.json()
    # the same upload straight to the service: the page shows the service's numbers
    direct = httpx.post(f"{service.url}/analyze", files={"file": lut_day_path.open("rb")},
                        data={"model": CROSS_MODEL, "explain": "true", "image_links": "true"}, timeout=60).json()
    for a, b in zip(shown["windows"], direct["windows"]):
        assert a["precursor_probability"] == pytest.approx(b["precursor_probability"], abs=1e-9)
    page.wait_for_selector("#window-view[data-ready]")

    # what, where, which model, and its notice
    assert page.inner_text("#model-notice") == shown["model"]["notice"]
    assert "Research tool, not an earthquake warning system" in page.inner_text("#research-notice")
    assert page.inner_text("[data-field='station']").startswith("LUT (Lombok Utara)")
    assert page.inner_text("[data-field='span']") == "2023-01-01 00:00 – 2023-01-02 00:00 UTC (frg604rc)"
    assert page.inner_text("[data-field='sampling']") == "every 1 s"
    assert page.inner_text("[data-field='model']").startswith("tinycross:1 (cross_spectral input")

    # the timeline: one point per window, the threshold, the numbers on hover and in the table
    windows = shown["windows"]
    assert page.locator("#timeline .window").count() == len(windows) == 4
    threshold = shown["summary"]["alarm_threshold"]
    assert page.text_content("#timeline .threshold-label") == f"alarm threshold {threshold:.2f}"
    assert _texts(page, "#window-table td[data-field='p']") == [f"{w['precursor_probability']:.3f}" for w in windows]
    assert _texts(page, "#window-table td[data-field='alarm']") == ["ALARM" if w["alarm"] else "no" for w in windows]
    assert _texts(page, "#window-table td[data-field='magnitude']") == [w["outputs"]["magnitude"]["label"] for w in windows]
    assert _texts(page, "#window-table td[data-field='bearing']") == [
        f"{w['outputs']['azimuth']['bearing_deg']:.1f}° ± {w['outputs']['azimuth']['bearing_uncertainty_deg']:.1f}°"
        for w in windows]
    page.hover("#timeline .window[data-index='2'] .marker")
    tip = page.locator("#timeline-tip")
    tip.wait_for(state="visible")
    assert f"P(precursor) {windows[2]['precursor_probability']:.3f}" in tip.inner_text()
    assert "Window 3: 2023-01-01 12:00 – 18:00 UTC" in tip.inner_text()

    # select the second window on the timeline
    page.click("#timeline .window[data-index='1'] .marker")
    page.wait_for_selector("#window-view[data-ready='1']")
    w = windows[1]
    assert page.inner_text("#window-heading") == "Window 2 of 4: 2023-01-01 06:00 – 12:00 UTC"
    assert page.locator("#window-table tr.selected").get_attribute("data-index") == "1"

    # each channel's spectrogram with real axes and its colour bar
    figures = page.locator("#channels figure")
    assert [figures.nth(k).get_attribute("data-channel") for k in range(figures.count())] == ["H", "D", "Z", "ZH", "ZD", "HD"]
    h_panel = page.locator("#channels figure[data-channel='H']")
    assert h_panel.locator(".heat").get_attribute("href").startswith("data:image/png;base64,")
    assert _texts(h_panel, ".x-axis .tick") == ["06:00", "08:00", "10:00", "12:00"]
    assert "time (UTC), 2023-01-01" in h_panel.locator(".x-axis .axis-label").text_content()
    assert _texts(h_panel, ".y-axis .tick") == ["0", "0.025", "0.05", "0.075", "0.1", "0.125"]
    assert _texts(h_panel, ".colour-bar .tick") == ["-60", "-35", "-10", "15", "40"]
    assert h_panel.locator(".colour-bar .axis-label").text_content() == "dB re 1 nT²/Hz"
    zh_panel = page.locator("#channels figure[data-channel='ZH']")
    assert _texts(zh_panel, ".colour-bar .tick") == ["-1", "-0.5", "0", "+0.5", "+1"]

    # pointing at the H panel reads the pixel under the pointer, at the time and frequency the axes say
    hit = h_panel.locator(".hit")
    hit.scroll_into_view_if_needed()
    box = hit.bounding_box()
    hit.hover(position={"x": 0.3 * box["width"], "y": 0.4 * box["height"]})
    readout = page.locator("#readout")
    col, row = int(readout.get_attribute("data-col")), int(readout.get_attribute("data-row"))
    png = np.asarray(Image.open(io.BytesIO(httpx.get(f"{service.url}{w['spectrogram_url']}").content)).convert("RGB"))
    spec = InputSpec.from_dict(httpx.get(f"{service.url}/v2/models/{CROSS_MODEL}").json()["input_spec"])
    assert png.shape == (64, 128, 3) and (col, row) == (int(0.3 * 64), int(0.4 * 64))
    db = spec.db_min + png[row, col, 0] / 255 * (spec.db_max - spec.db_min)
    seconds, hz = _pixel_time_and_frequency(spec, col, row, 64, 64)
    m = re.fullmatch(r"H power: (-?[\d.]+) dB at (\d\d):(\d\d):(\d\d) UTC, ([\d.]+) Hz", readout.inner_text())
    assert m, readout.inner_text()
    assert float(m.group(1)) == pytest.approx(db, abs=0.006)
    clock = int(m.group(2)) * 3600 + int(m.group(3)) * 60 + int(m.group(4))
    assert clock == pytest.approx(6 * 3600 + seconds, abs=1)
    assert float(m.group(5)) == pytest.approx(hz, abs=6e-5)

    # the explanation overlay: either head's Grad-CAM, and the bearing's direction evidence, each the PNG the
    # service serves for it (when both heads explain Normal their maps coincide: P(Normal) is shared)
    def served(url: str) -> str:
        return "data:image/png;base64," + base64.b64encode(httpx.get(f"{service.url}{url}").content).decode()

    overlay = page.locator("#overlay figure")
    assert overlay.get_attribute("data-overlay") == "overlay-magnitude"
    assert overlay.locator(".heat").get_attribute("href") == served(w["explanation"]["magnitude"]["overlay_url"])
    assert f"class “{w['explanation']['magnitude']['target_class']}”" in overlay.locator("figcaption").inner_text()
    assert _texts(overlay, ".colour-bar .tick") == ["0", "0.5", "1"]
    page.get_by_label("Grad-CAM: azimuth head").check()
    page.wait_for_selector("#overlay figure[data-overlay='overlay-azimuth']")
    assert page.locator("#overlay .heat").get_attribute("href") == served(w["explanation"]["azimuth"]["overlay_url"])
    assert f"class “{w['explanation']['azimuth']['target_class']}”" in page.inner_text("#overlay figcaption")
    page.get_by_label("direction evidence (bearing)").check()
    page.wait_for_selector("#overlay figure[data-overlay='direction-evidence']")
    assert page.locator("#overlay .heat").get_attribute("href") == served(
        w["explanation"]["azimuth"]["direction_evidence_url"])

    # both heads' charts with the window's numbers
    mag, az = w["outputs"]["magnitude"], w["outputs"]["azimuth"]
    bars = page.locator("#magnitude-chart .value")
    assert {bars.nth(k).get_attribute("data-class"): bars.nth(k).text_content() for k in range(bars.count())} == {
        k: f"{v:.3f}" for k, v in mag["probabilities"].items()}
    rose = page.locator("#azimuth-chart .value")
    assert {rose.nth(k).get_attribute("data-class"): rose.nth(k).text_content().removeprefix("Normal ")
            for k in range(rose.count())} == {k: f"{v:.3f}" for k, v in az["probabilities"].items()}
    assert page.locator("#azimuth-chart .sector").count() == 8
    assert page.text_content("#azimuth-chart .bearing-text").startswith(
        f"bearing {az['bearing_deg']:.1f}° ± {az['bearing_uncertainty_deg']:.1f}°")

    # what each head can know, as the model says
    detail = httpx.get(f"{service.url}/v2/models/{CROSS_MODEL}").json()
    assert _texts(page, "#heads-can-know li") == [f"{k}: {v}" for k, v in detail["what_each_head_can_know"].items()]

    # downloads: the JSON as received, the timeline as CSV, the figure as PNG
    with page.expect_download() as download:
        page.click("#download-json")
    assert json.loads(Path(download.value.path()).read_text()) == shown
    with page.expect_download() as download:
        page.click("#download-csv")
    rows = list(csv.DictReader(Path(download.value.path()).open()))
    assert [float(r["precursor_probability"]) for r in rows] == [x["precursor_probability"] for x in windows]
    assert [float(r["magnitude_Large"]) for r in rows] == [x["outputs"]["magnitude"]["probabilities"]["Large"] for x in windows]
    with page.expect_download() as download:
        page.click("#download-figure")
    assert download.value.suggested_filename == "analysis-LUT-2023-01-01-window-2.png"
    figure = Image.open(download.value.path())
    assert figure.format == "PNG" and figure.width > 1000 and figure.height > 1500

    page.set_viewport_size({"width": 1100, "height": 900})
    page.wait_for_timeout(300)  # the timeline is drawn again for the new width
    page.screenshot(path=shots / "page.jpg", full_page=True, type="jpeg", quality=60)  # docs/page.jpg
    page.set_viewport_size({"width": 390, "height": 844})  # a phone
    page.wait_for_timeout(200)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=shots / "page-phone.png", full_page=True)


def test_a_damaged_file_shows_progress_then_what_the_service_said(page, service, lut_bytes, shots):
    damaged = {"name": "S230101.LUT", "mimeType": "application/octet-stream", "buffer": gzip.decompress(lut_bytes)[:50_000]}
    held = []  # the request, held back until the page has shown that it is working
    page.route("**/analyze", lambda route: held.append(route))
    page.set_input_files("#file-input", damaged)
    page.click("#submit-button")
    for _ in range(200):
        if held:
            break
        page.wait_for_timeout(25)
    assert held and page.locator("#progress-box").is_visible() and page.locator("#submit-button").is_disabled()
    assert re.match(r"(Uploading S230101\.LUT|Processing on the server)", page.inner_text("#progress-text"))
    with page.expect_response("**/analyze") as response:
        held[0].continue_()
    assert response.value.status == 422
    message = response.value.json()["error"]
    assert "truncated: block 5" in message
    box = page.locator("#error-box")
    box.wait_for(state="visible")
    assert box.inner_text() == f"The service answered 422: {message}"
    assert box.get_attribute("role") == "alert" and page.locator("#result").is_hidden()
    assert page.locator("#progress-box").is_hidden() and page.locator("#submit-button").is_enabled()
    page.screenshot(path=shots / "page-error.png")


def test_a_spectrogram_png_is_answered_by_predict(page, service, lut_cross_png):
    upload = {"name": "window.png", "mimeType": "image/png", "buffer": lut_cross_png}
    response = _analyze_in_page(page, upload)
    assert response.status == 200 and response.url.endswith("/predict")
    result = response.json()
    assert result["model"]["representation"] == "cross_spectral"  # found by the description the PNG carries
    assert page.inner_text("[data-field='chosen-by']") == result["model"]["selected_by"]
    page.wait_for_selector("#window-view[data-ready='0']")
    assert page.locator("#timeline-block").is_hidden()
    assert page.inner_text("#window-verdict").startswith(f"P(precursor) {result['precursor_probability']:.3f}")
    assert page.locator("#channels figure").count() == 6
    assert page.text_content("#channels figure[data-channel='Z'] .x-axis .axis-label") == "hours into the window"
    assert page.locator("#overlay-choice input").count() == 3  # both heads and the direction evidence
    bars = page.locator("#magnitude-chart .value")
    assert [bars.nth(k).text_content() for k in range(bars.count())] == [
        f"{v:.3f}" for v in result["outputs"]["magnitude"]["probabilities"].values()]


def test_alarms_and_skipped_windows_are_shown_and_the_keyboard_selects(page, lut_bytes):
    raw = gzip.decompress(lut_bytes)
    gappy = raw[: 36 * frg604rc.BLOCK_BYTES] + raw[42 * frg604rc.BLOCK_BYTES :]  # 06:00-07:00 missing
    page.fill("#hop-input", "3")
    shown = _analyze_in_page(page, {"name": "S230101.LUT", "mimeType": "application/octet-stream", "buffer": gappy},
                             model=LOUD_MODEL).json()
    page.wait_for_selector("#window-view[data-ready]")
    windows = shown["windows"]
    skipped = [w for w in windows if "outputs" not in w]
    assert len(windows) == 7 and [w["index"] for w in skipped] == [1, 2]
    assert shown["summary"]["windows_in_alarm"] == 5 and all(w["alarm"] for w in windows if "outputs" in w)
    # alarms: marked on the timeline, in the table, in the summary and for the selected window
    assert page.locator("#timeline .marker.alarm").count() == 5
    assert _texts(page, "#window-table td[data-field='alarm']") == ["ALARM"] * 5
    assert "5 analysed, 2 skipped, 5 in alarm" in page.inner_text("[data-field='windows']")
    w = windows[shown["summary"]["max_precursor_window"]]
    verdict = page.locator("#window-verdict")
    assert verdict.inner_text().startswith(f"P(precursor) {w['precursor_probability']:.3f} — ALARM (threshold 0.70)")
    assert "alarm-text" in verdict.get_attribute("class")
    assert w["outputs"]["magnitude"]["label"] != "Normal"
    # skipped windows: grey bands whose reason shows on focus, and in the table
    assert page.locator("#timeline .marker.skipped").count() == 2
    assert _texts(page, "#window-table td[data-field='skipped']") == [f"skipped: {s['skipped_reason']}" for s in skipped]
    page.focus("#timeline .window[data-index='1']")
    assert f"skipped: {skipped[0]['skipped_reason']}" in page.inner_text("#timeline-tip")
    # the keyboard: a focused window opens with Enter
    page.focus("#timeline .window[data-index='6']")
    page.keyboard.press("Enter")
    page.wait_for_selector("#window-view[data-ready='6']")
    assert page.inner_text("#window-heading") == "Window 7 of 7: 2023-01-01 18:00 – 2023-01-02 00:00 UTC"
    assert sorted(_texts(page, "#heads-can-know li")) == [f"{k}: {v}" for k, v in sorted(LOUD_HEADS.items())]


def test_docs_and_redoc_render_with_nothing_from_elsewhere(page, service, shots):
    refused: list[str] = []  # what the pages' Content-Security-Policy kept the browser from fetching
    page.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)
    page.goto(f"{service.url}/docs")
    page.wait_for_selector(".swagger-ui .info .title")
    assert "Magnetometer precursor service" in page.inner_text(".swagger-ui .info .title")
    page.wait_for_selector(".opblock-summary-path[data-path='/analyze']")
    page.screenshot(path=shots / "docs.png")
    page.goto(f"{service.url}/redoc")
    page.wait_for_selector("h1:has-text('Magnetometer precursor service')")
    assert page.locator("text=/analyze").count() > 0
    page.wait_for_timeout(300)
    assert all("cdn.redoc.ly/redoc/logo-mini.svg" in line for line in refused), refused  # ReDoc's logo, and only it


def _network_day(tmp_path) -> tuple[list[Path], dict]:
    """IAGA-2002 day files of the dense array's stations on the day before the origin of the event seen by the
    most of them (strong emissions at three or more stations), and that event."""
    from dataclasses import replace as dc_replace
    from datetime import timedelta

    from training.config import load_yaml
    from training.simulate import SimConfig, World
    from training.writers import to_iaga2002

    root = Path(__file__).resolve().parents[2]
    sim = SimConfig.from_dict(load_yaml(root / "configs" / "sim_dense_array.yaml")["simulator"])
    world = World(dc_replace(sim, days=20))
    reached = world.stations_reached()
    event = max((e for e in world.events if e.time - timedelta(days=1) >= world.days[0]), key=lambda e: reached[e.event_id])
    before = event.time - timedelta(hours=12)  # emissions grow towards the origin
    day = next(k for k, d in enumerate(world.days) if d <= before < d + timedelta(days=1))
    codes = sorted({i.station for i in world.injections if i.event_id == event.event_id})[:4]
    others = [c for c in world.stations if c not in codes][:1]
    files = []
    for code, series in world.simulate_day(day, codes + others).items():
        files.append(tmp_path / f"{code.lower()}{series.start:%Y%m%d}vsec.sec")
        files[-1].write_bytes(to_iaga2002(series, world.stations[code].name))
    return files, {"latitude": event.latitude, "longitude": event.longitude, "stations": codes}


def test_the_network_view_maps_the_stations_rays_and_fix_and_aligns_their_timelines(page, service, tmp_path, shots):
    from model_store.geodesy import distance_km

    files, event = _network_day(tmp_path)
    page.locator("#model-select option").nth(3).wait_for(state="attached")
    page.select_option("#model-select", f"{LOUD_MODEL}:1")
    page.set_input_files("#network-files", [str(f) for f in files])
    with page.expect_response(lambda r: r.url.endswith("/analyze/network")) as response:
        page.click("#network-submit")
    body = response.value.json()
    assert response.value.status == 200, body
    page.wait_for_selector("#network-view[data-ready]")
    assert page.inner_text("#network-status").startswith(f"Done: {len(files)} stations, 4 common windows")
    # the aligned timelines: a row per station, a column per common window, and the network's row
    rows = page.locator("#network-timelines tbody tr")
    assert rows.count() == len(files) + 1
    assert _texts(page, "#network-timelines tbody th") == [s["station"]["code"] for s in body["stations"]] + ["Network"]
    assert page.locator("#network-timelines thead button").count() == 4
    assert page.locator("#network-timelines td.alarm-cell").count() == 4 * len(files)  # the loud model alarms
    # the window shown has a source: the map draws it, its ellipse, the rays and wedges of the detecting stations
    shown = int(page.get_attribute("#network-view", "data-ready"))
    w = body["windows"][shown]
    assert w["network"]["alarm"] and w["network"]["source"] is not None
    src = w["network"]["source"]
    assert distance_km(src["latitude"], src["longitude"], event["latitude"], event["longitude"]) < 30
    assert page.locator("#network-map svg .station").count() == len(files)
    assert page.locator("#network-map svg .ray").count() == len(w["network"]["stations_detecting"])
    assert page.locator("#network-map svg .wedge").count() == len(w["network"]["stations_detecting"])
    assert page.locator("#network-map svg .ellipse").count() == 1 + len(w["network"]["other_sources"])
    assert page.locator("#network-map svg .graticule line").count() >= 4
    label = page.get_attribute("#network-map svg", "aria-label")
    assert f"a source at {src['latitude']:.3f}°, {src['longitude']:.3f}°" in label
    assert "NETWORK ALARM" in page.inner_text("#network-verdict")
    # the network's magnitude beside one station's
    assert page.locator("#network-magnitude svg .bar").count() == 3
    assert page.inner_text("#station-magnitude-heading").startswith("One station: ")
    assert page.locator("#station-magnitude svg .bar").count() == 3
    assert page.locator("#network-station-table tbody tr").count() == len(files)
    page.screenshot(path=shots / "network.png", full_page=True)
    # the keyboard: stations are focusable on the map, windows step with the arrow keys
    page.focus("#network-map svg .station")
    assert page.evaluate("document.activeElement.getAttribute('data-station')") == body["stations"][0]["station"]["code"]
    page.focus(f"#network-timelines thead button[data-index='{shown}']")
    page.keyboard.press("ArrowRight" if shown < 3 else "ArrowLeft")
    other = shown + 1 if shown < 3 else shown - 1
    page.wait_for_selector(f"#network-view[data-ready='{other}']")
    assert page.get_attribute(f"#network-timelines thead button[data-index='{other}']", "aria-pressed") == "true"
    assert page.inner_text("#network-window-heading").startswith(f"Window {other + 1} of 4: ")
    assert len(_texts(page, "#network-can-know li")) == 4
