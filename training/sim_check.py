"""How close is the simulated background to real records? Per-band levels, Z/H and induction coupling.

For 6-hour windows of real station files and of simulated Normal windows (no emission, no event in the
labelling margins) this computes, per frequency band and channel, the median over windows of the
band-mean PSD in dB re 1 nT^2/Hz, the Z/H power ratio, the magnitude of the induction arrow (least
squares Z = A H + B D in the band) and the fraction of Z power it explains (multiple coherence).
The report compares real with simulated, for the same station where the real file's station is
simulated and for the whole network.

Both records are measured with the estimator that makes the model's input: the STFT of
:mod:`model_store.spectrogram` (its window, detrend and density scaling, :data:`MEASURE_SPEC`), the
one-sided PSD and the induction-arrow fit of :mod:`model_store.cross_spectra` (``remove_induction``, the
fit that removes a window's induction response from the cross-spectral channels). Only the segment is
longer than the model's (1024 s, so the 0.001-0.003 Hz band holds frequency bins); the cross spectra
are averaged over every cell of a band, the band-sized form of the model input's box smoothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from model_store import InputSpec, read_series
from model_store.compass import vector_bearing_deg
from model_store.cross_spectra import one_sided_psd, remove_induction
from model_store.spectrogram import window_stft as model_input_stft
from model_store.windows import conform_sampling, cut_windows

from .labels import NORMAL_KIND, Labeller, LabelRule
from .simulate import World

logger = logging.getLogger(__name__)

BANDS_HZ: tuple[tuple[float, float], ...] = (
    (0.001, 0.003), (0.003, 0.01), (0.01, 0.03), (0.03, 0.1), (0.1, 0.2), (0.2, 0.5),
)
# 6-hour windows (90% valid, gaps up to 15 min interpolated) with the model input's STFT window and detrend;
# 17-min segments (1024 s) so that the lowest band holds frequency bins
MEASURE_SPEC = InputSpec(nperseg=1024, noverlap=512)


@dataclass(frozen=True)
class BandStats:
    db: tuple[float, float, float]  # H, D, Z
    induction: float  # |T| of Z = A H + B D
    coherence: float  # fraction of Z power explained by H and D
    arrow: tuple[float, float]  # (A, B), real parts
    residual_db: float  # PSD of the Z that H and D do not explain


def window_stats(data: np.ndarray, spec: InputSpec = MEASURE_SPEC) -> list[BandStats]:
    """Per-band statistics of one (3, n) window of H, D, Z samples (nT, no NaN)."""
    f, x = model_input_stft(data, spec)
    psd = one_sided_psd(x, spec.nperseg)  # (3, F, T), nT^2/Hz
    out = []
    for lo, hi in BANDS_HZ:
        m = (f >= lo) & (f < hi)
        arrow, z_rest = remove_induction(f, x, (lo, hi))
        explained = 1.0 - float(np.sum(np.abs(z_rest[m]) ** 2) / max(np.sum(np.abs(x[2, m]) ** 2), 1e-30))
        residual_psd = float(np.mean(one_sided_psd(z_rest, spec.nperseg)[m]))
        band_psd = psd[:, m, :].mean(axis=(1, 2))
        out.append(BandStats(tuple(10 * np.log10(band_psd + 1e-30)), float(np.linalg.norm(arrow.real)), explained,
                             (float(arrow[0].real), float(arrow[1].real)), float(10 * np.log10(residual_psd + 1e-30))))
    return out


def real_windows(paths: Iterable[str | Path]) -> list[tuple[str, np.ndarray]]:
    """(station, window) for every usable 6-hour window of the given station files."""
    out = []
    for path in paths:
        series = conform_sampling(read_series(path), MEASURE_SPEC)
        out += [(series.station, w.data) for w in cut_windows(series, MEASURE_SPEC) if w.data is not None]
    return out


def simulated_normal_windows(world: World, rule: LabelRule, max_days: int,
                             stations: Sequence[str] | None = None) -> list[tuple[str, np.ndarray]]:
    """Normal windows (by the labelling rule) of the first ``max_days`` simulated days."""
    labeller = Labeller(world.events, rule, world.kp)
    codes = list(stations or world.stations)
    out = []
    for day in range(min(max_days, world.config.days)):
        for code, series in world.simulate_day(day, codes).items():
            st = world.stations[code]
            for w in cut_windows(series, MEASURE_SPEC):
                end = w.start + timedelta(seconds=MEASURE_SPEC.window_s)
                if w.data is not None and labeller.label(code, st.latitude, st.longitude, w.start, end).kind == NORMAL_KIND:
                    out.append((code, w.data))
    return out


def summarise(windows: list[tuple[str, np.ndarray]]) -> dict[str, Any] | None:
    """Median over windows of each band's statistics."""
    if not windows:
        return None
    stats = [window_stats(data) for _, data in windows]
    bands = []
    for k, (lo, hi) in enumerate(BANDS_HZ):
        db = np.median([s[k].db for s in stats], axis=0)
        bands.append({
            "band_hz": [lo, hi], "db": {"H": float(db[0]), "D": float(db[1]), "Z": float(db[2])},
            "z_over_h_db": float(np.median([s[k].db[2] - s[k].db[0] for s in stats])),
            "induction": float(np.median([s[k].induction for s in stats])),
            "coherence": float(np.median([s[k].coherence for s in stats])),
        })
    return {"windows": len(windows), "bands": bands}


def compare(real_paths: Sequence[str | Path], world: World, rule: LabelRule, days: int) -> dict[str, Any]:
    """Real vs simulated: per real station, the same simulated station (if simulated) and the network."""
    real = real_windows(real_paths)
    sim = simulated_normal_windows(world, rule, days)
    report: dict[str, Any] = {"real_files": [Path(p).name for p in real_paths], "simulated_days": days,
                              "network": summarise(sim), "stations": {}}
    for station in sorted({s for s, _ in real}):
        report["stations"][station] = {
            "real": summarise([w for w in real if w[0] == station]),
            "simulated": summarise([w for w in sim if w[0] == station]),
        }
    return report


def measure_traits(windows: list[tuple[str, np.ndarray]], max_hz: float = 0.1) -> dict[str, float]:
    """Simulator traits of a station measured on its real windows (``station_traits`` in a sim config).

    The induction arrow: magnitude and azimuth from the lowest bands, the corner frequency of
    |T(f)| = T0 / sqrt(1 + (f / fc)^2) by least squares over the bands below ``max_hz``; the Z background
    that induction does not explain: a power law fitted to the residual PSD of those bands.
    """
    stats = [window_stats(data) for _, data in windows]
    use = [k for k, (lo, hi) in enumerate(BANDS_HZ) if hi <= max_hz]
    centres = np.array([np.sqrt(BANDS_HZ[k][0] * BANDS_HZ[k][1]) for k in use])
    arrows = np.array([np.median([s[k].arrow for s in stats], axis=0) for k in use])
    magnitude = np.linalg.norm(arrows, axis=1)
    t0 = float(magnitude[0])
    grid = np.geomspace(0.002, 0.2, 200)
    fit = [np.sum((t0 / np.sqrt(1 + (centres / fc) ** 2) - magnitude) ** 2) for fc in grid]
    residual = np.array([np.median([s[k].residual_db for s in stats]) for k in use])
    slope, intercept = np.polyfit(np.log10(centres), residual / 10.0, 1)
    return {
        "coast_t0": round(t0, 3),
        "coast_azimuth_deg": round(float(vector_bearing_deg(arrows[0, 0], arrows[0, 1])), 1),
        "coast_corner_hz": round(float(grid[int(np.argmin(fit))]), 4),
        "z_noise_psd": float(f"{10 ** intercept:.3g}"),
        "z_noise_slope": round(float(-slope), 2),
    }


def render_markdown(report: dict[str, Any]) -> str:
    lines = []
    for station, entry in report["stations"].items():
        real = entry["real"]
        for label, sim in ((f"simulated {station}", entry["simulated"]), ("simulated network", report["network"])):
            if sim is None:
                continue
            lines += [
                f"**real {station} ({real['windows']} windows) minus {label} ({sim['windows']} Normal windows)**",
                "",
                "| band (Hz) | H dB | D dB | Z dB | Z/H real | Z/H sim | induction real | sim | coherence real | sim |",
                "|---|---|---|---|---|---|---|---|---|---|",
            ]
            for r, s in zip(real["bands"], sim["bands"]):
                diff = {c: r["db"][c] - s["db"][c] for c in "HDZ"}
                lines.append(
                    f"| {r['band_hz'][0]:g}-{r['band_hz'][1]:g} | {diff['H']:+.1f} | {diff['D']:+.1f} | {diff['Z']:+.1f} "
                    f"| {r['z_over_h_db']:+.1f} | {s['z_over_h_db']:+.1f} | {r['induction']:.2f} | {s['induction']:.2f} "
                    f"| {r['coherence']:.2f} | {s['coherence']:.2f} |"
                )
            lines.append("")
    return "\n".join(lines)


__all__ = ["BANDS_HZ", "compare", "measure_traits", "render_markdown", "summarise", "window_stats"]
