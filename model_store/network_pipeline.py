"""Several stations' records -> the network stage, window by window: what ``POST /analyze/network``, the
network evaluation (``training/network_eval.py``) and a batch archive runner share.

1. **Which records.** One record per station (:func:`station_positions` refuses a file that names no
   station and a station sent twice); every station needs a position: an uploaded stations table first,
   else the file's own header and the packaged station table, which must agree if both have it. The
   records must cover the same UTC days (:func:`check_same_days`).
2. **Common windows.** Every record is padded with missing samples back to the hop grid that starts at UTC
   midnight of the first day (:func:`align_to_hop`), so every station's windows start at the same instants
   whatever second its file starts at; the padding counts as missing data under the window rules
   (a window with too much of it is skipped, as any other gap). A station's skipped window is absent from
   that window's network, and so is a station whose record does not cover it.
3. **What the network takes from one station's window** (:func:`station_window`), after the window
   pipeline (:mod:`model_store.pipeline`) has predicted it:

   * *detection*: the window's alarm as ``/analyze`` judges it (with a station baseline: its
     background_p_value at most the baseline's false-alarm rate; without: P(event) at the model's
     operating point). The caller judges (the service by its station baselines); the network counts a
     station as detecting exactly when its timeline shows an alarm.
   * *bearing*: ``Prediction.bearing_deg``, weighted by the bearing head's own von Mises concentration
     kappa = |m| (``Prediction.bearing_kappa``), not by ``bearing_uncertainty_deg``, whose outlier share
     makes it wider than the bearings' scatter (``model_store.network``'s docstring).
   * *received band amplitude* (:func:`received_amplitude_nt`): the RMS, over the window, of the
     horizontal field in the emission band that is coherent with Z along the bearing, read off the
     window's own spectrogram image (the 8-bit image the model saw).
4. :func:`network_timeline` groups the stations' windows by start and runs
   :func:`model_store.network.network_window` on each common window.

The received amplitude estimator. For each image cell of the direction band (``InputSpec.direction_band_hz``,
0.01-0.1 Hz, where emissions are reported) the horizontal PSD P_H + P_D (power panel, nT^2/Hz) is
multiplied by the square of the coherency along the bearing b, gamma = ZH cos b + ZD sin b (cross panel;
negative gamma counts as 0); the band's rows are summed times their frequency step and the time columns
averaged: a variance in nT^2, whose square root is the amplitude in nT. For a source polarised along b
with Z in phase (what the direction finder assumes) gamma is 1 and this is the emission's horizontal band
power; an incoherent background adds only its chance coherence (about 1/9 of its power with the 3x3
smoothing of the cross spectra) and a coherent one (a coast's induction along another azimuth) its share
along b. Measured on the simulated dense array (``configs/sim_dense_array.yaml``, windows with one
emission): 0.85-0.9 of the true RMS amplitude from 0.03 to 1.5 nT, scatter 0.19 dex; below about 0.03 nT
the background floor (a median of about 0.06 nT in windows without an emission) dominates, twice the true
value at 0.01-0.03 nT. It needs no station baseline, so it is the same feature with or without one, and
the same feature the magnitude model is fitted on (``training/network_eval.py`` computes it through this
function from the same images). None for a model without a cross-spectral input or a bearing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, time, timedelta, timezone
from functools import lru_cache
from typing import Any

import numpy as np

from .errors import ModelStoreError
from .geodesy import wrap_deg
from .input_spec import InputSpec
from .network import (
    BearingCalibration,
    MagnitudeModel,
    NetworkConfig,
    NetworkResult,
    StationObservation,
    network_window,
    uncertainty_deg_from_kappa,
)
from .pipeline import WindowOutcome
from .series import StationSeries
from .stations import Station, load_stations

#: the network settings of the chain (the endpoint, the evaluation) when no fitted network model says otherwise:
#: the maths' defaults, seeking up to three sources a window (overlapping emissions, locate_sources)
CHAIN_NETWORK_CONFIG = NetworkConfig(max_sources=3)
COORDINATE_TOLERANCE_DEG = 0.05  # a file's header and the station table agree on a position to about 5 km
AMPLITUDE_ESTIMATOR = "coherent_band_rms_v1"  # received_amplitude_nt; stored with a fitted magnitude model


class NetworkInputError(ModelStoreError):
    """Records the network stage cannot take together (names the file or station and says why)."""


@dataclass(frozen=True)
class NamedRecord:
    """One uploaded or read file: its name (as messages show it) and the series it holds."""

    name: str
    series: StationSeries


# ---------------------------------------------------------------------------- which records
def station_positions(records: Sequence[NamedRecord], uploaded: Mapping[str, Station] | None = None,
                      table: Mapping[str, Station] | None = None) -> dict[str, Station]:
    """Station code -> its position, one per record, in the records' order.

    A position comes from ``uploaded`` (a stations table sent with the records) if it lists the station;
    else from the file's header and the packaged ``table``, which must agree to 0.05 degrees if both give
    one. A NetworkInputError names a file without a station code, a station sent twice, files whose
    header and the table disagree, and every station without a position.
    """
    table = load_stations() if table is None else table
    uploaded = uploaded or {}
    seen: dict[str, str] = {}
    out: dict[str, Station] = {}
    unplaced: list[str] = []
    for record in records:
        code = (record.series.station or "").strip().upper()
        if not code:
            raise NetworkInputError(f"{record.name} names no station: send files whose header carries the station "
                                    "code (IAGA-2002, FRG-604RC, ImagCDF, miniSEED do)")
        if code in seen:
            raise NetworkInputError(f"{seen[code]} and {record.name} are both records of station {code}: send one "
                                    "file per station")
        seen[code] = record.name
        s = record.series
        header = (s.latitude, s.longitude) if s.latitude is not None and s.longitude is not None else None
        if code in uploaded:
            out[code] = uploaded[code]
            continue
        known = table.get(code)
        if known is not None and header is not None and (
                abs(header[0] - known.latitude) > COORDINATE_TOLERANCE_DEG
                or abs(wrap_deg(header[1] - known.longitude)) > COORDINATE_TOLERANCE_DEG):
            raise NetworkInputError(
                f"{record.name} places station {code} at {header[0]:.4f}, {header[1]:.4f}, the station table at "
                f"{known.latitude:.4f}, {known.longitude:.4f}: send a stations table (code, name, latitude, "
                "longitude) that says where it is")
        if known is not None:
            out[code] = known
        elif header is not None:
            out[code] = Station(code, code, float(header[0]), float(wrap_deg(header[1])))
        else:
            unplaced.append(f"{code} ({record.name})")
    if unplaced:
        raise NetworkInputError(
            f"no coordinates for station{'s' if len(unplaced) > 1 else ''} {', '.join(unplaced)}: "
            f"{'their files carry' if len(unplaced) > 1 else 'its file carries'} none and the packaged station "
            "table does not list it; send a stations table (CSV: code, name, latitude, longitude)")
    return out


def _utc(t: datetime) -> datetime:
    return t.replace(tzinfo=timezone.utc) if t.tzinfo is None else t.astimezone(timezone.utc)


def record_days(series: StationSeries) -> tuple[str, str]:
    """The UTC days of a record's first and last samples (ISO dates)."""
    start = _utc(series.start)
    last = start + timedelta(seconds=max(series.n_samples - 1, 0) * series.sampling_interval_s)
    return start.date().isoformat(), last.date().isoformat()


def check_same_days(records: Sequence[NamedRecord]) -> None:
    """Refuse records that do not cover the same UTC days (a NetworkInputError naming each file's days)."""
    days = {r.name: record_days(r.series) for r in records}
    if len(set(days.values())) > 1:
        listed = "; ".join(f"{name}: {a}" + (f" to {b}" if b != a else "") for name, (a, b) in days.items())
        raise NetworkInputError(f"the files cover different UTC days ({listed}): a network window needs every "
                                "station's record of the same day (or days)")


def hop_origin(records: Sequence[NamedRecord]) -> datetime:
    """Where the hop grid starts: UTC midnight of the earliest record's first day."""
    first = min(_utc(r.series.start) for r in records)
    return datetime.combine(first.date(), time(0), tzinfo=timezone.utc)


def align_to_hop(series: StationSeries, hop_s: float, origin: datetime) -> StationSeries:
    """``series`` padded with missing samples back to the last grid instant origin + k hop at or before its
    start (it starts there exactly; a start between samples moves by under half a sample)."""
    start = _utc(series.start)
    dt = series.sampling_interval_s
    offset = ((start - origin).total_seconds()) % hop_s
    n_pad = round(offset / dt)
    grid_start = start - timedelta(seconds=offset)
    if n_pad == 0:
        return series if start == grid_start == series.start else replace(series, start=grid_start)
    if abs(n_pad * dt - hop_s) < 1e-9:  # within half a sample after a grid instant: start on it instead
        return replace(series, start=grid_start + timedelta(seconds=hop_s))
    pad = np.full(n_pad, np.nan)
    return replace(series, start=grid_start, h=np.concatenate([pad, series.h]), d=np.concatenate([pad, series.d]),
                   z=np.concatenate([pad, series.z]), aux={})


# ---------------------------------------------------------------------------- one station's window
@lru_cache(maxsize=16)
def _band_rows(spec: InputSpec) -> tuple[np.ndarray, np.ndarray]:
    """The image rows in the direction band and each row's frequency step (Hz)."""
    from .direction import row_frequencies

    f = row_frequencies(spec)
    lo, hi = spec.direction_band_hz
    rows = np.flatnonzero((f >= lo) & (f <= hi))
    return rows, np.abs(np.gradient(f))[rows]


def received_amplitude_nt(image: np.ndarray, spec: InputSpec, bearing_deg: float | None) -> float | None:
    """The window's received band amplitude (nT RMS) from its image in [0, 1] and the served bearing: see the
    module docstring (the horizontal emission-band field coherent with Z along the bearing). None without a
    cross-spectral panel or a bearing, and for a station-relative input (its power panel is dB above the
    station's background, not nT^2/Hz)."""
    if (spec.representation != "cross_spectral" or spec.background == "station" or bearing_deg is None
            or not math.isfinite(bearing_deg)):
        return None
    rows, df = _band_rows(spec)
    if len(rows) == 0:
        return None
    img = np.asarray(image, dtype=np.float64)[:, rows]
    span = spec.db_max - spec.db_min
    horizontal = 10.0 ** ((spec.db_min + img[0] * span) / 10.0) + 10.0 ** ((spec.db_min + img[1] * span) / 10.0)
    b = math.radians(bearing_deg)
    gamma = np.clip((2.0 * img[3] - 1.0) * math.cos(b) + (2.0 * img[4] - 1.0) * math.sin(b), 0.0, 1.0)
    variance = float(np.sum(np.mean(gamma ** 2 * horizontal, axis=1) * df))
    return math.sqrt(max(variance, 0.0))


@dataclass(frozen=True)
class StationWindow:
    """One station's window as the network stage sees it; a skipped window has only ``skipped_reason``."""

    code: str
    latitude: float
    longitude: float
    start: datetime
    end: datetime
    skipped_reason: str | None = None
    precursor_probability: float | None = None
    alarm: bool | None = None
    background_p_value: float | None = None
    bearing_deg: float | None = None
    bearing_kappa: float | None = None
    amplitude_nt: float | None = None
    magnitude_given_event: dict[str, float] | None = None  # the station model's own answer, given an event

    @property
    def analysed(self) -> bool:
        return self.skipped_reason is None and self.precursor_probability is not None

    def observation(self, calibration: BearingCalibration | None = None) -> StationObservation:
        """What :func:`model_store.network.network_window` takes: detection is this window's alarm (no
        p-value is passed, so the network applies no second rule of its own); the bearing's kappa as the
        network's bearing calibration (fitted with the magnitude model) says to trust it."""
        kappa = self.bearing_kappa if calibration is None else calibration.kappa(self.bearing_kappa)
        return StationObservation(self.code, self.latitude, self.longitude, bearing_deg=self.bearing_deg,
                                  kappa=kappa, detected=bool(self.alarm), amplitude_nt=self.amplitude_nt)

    def to_dict(self, calibration: BearingCalibration | None = None) -> dict[str, Any]:
        """JSON-ready; ``bearing_sd_deg`` is the circular standard deviation the network weighs the bearing by
        (its kappa after ``calibration``)."""
        sd = None
        kappa = self.observation(calibration).kappa
        if kappa is not None and kappa > 0:
            sd = round(uncertainty_deg_from_kappa(kappa), 2)
        label = None
        if self.magnitude_given_event:
            label = max(self.magnitude_given_event, key=self.magnitude_given_event.__getitem__)
        return {
            "code": self.code, "latitude": self.latitude, "longitude": self.longitude,
            "detected": bool(self.alarm), "precursor_probability": _round(self.precursor_probability, 6),
            "background_p_value": _round(self.background_p_value, 6),
            "bearing_deg": _round(self.bearing_deg, 2), "bearing_kappa": _round(self.bearing_kappa, 3),
            "bearing_sd_deg": sd, "amplitude_nt": _round(self.amplitude_nt, 5),
            "magnitude_given_event": None if not self.magnitude_given_event else {
                "label": label, "probabilities": {k: round(v, 4) for k, v in self.magnitude_given_event.items()}},
        }


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(float(value), digits)


def station_window(station: Station, outcome: WindowOutcome, spec: InputSpec, magnitude_labels: Sequence[str],
                   alarm: bool | None = None, background_p_value: float | None = None) -> StationWindow:
    """One predicted (or skipped) window of a station as the network takes it. ``alarm`` and
    ``background_p_value``: as the caller judged the window (default: the model's own alarm)."""
    w, pred = outcome.window, outcome.prediction
    base = StationWindow(station.code, station.latitude, station.longitude, _utc(w.start), _utc(w.end))
    if pred is None or outcome.image is None:
        return replace(base, skipped_reason=w.skipped_reason or "not analysed")
    probs = np.asarray(pred.probabilities["magnitude"], dtype=np.float64)
    events = probs[:-1] / max(float(probs[:-1].sum()), 1e-12)  # Normal is last: given an event
    return replace(
        base, precursor_probability=float(pred.precursor_probability),
        alarm=bool(pred.alarm if alarm is None else alarm), background_p_value=background_p_value,
        bearing_deg=pred.bearing_deg, bearing_kappa=pred.bearing_kappa,
        amplitude_nt=received_amplitude_nt(outcome.image, spec, pred.bearing_deg),
        magnitude_given_event={str(c): float(p) for c, p in zip(magnitude_labels[:-1], events)},
    )


# ---------------------------------------------------------------------------- the common windows
@dataclass(frozen=True)
class NetworkWindow:
    """One common window: the stations whose window was analysed, those absent and why, the network's answer."""

    index: int
    start: datetime
    end: datetime
    stations: tuple[StationWindow, ...]
    absent: dict[str, str] = field(default_factory=dict)  # code -> why its window is not in this network
    result: NetworkResult | None = None
    calibration: BearingCalibration | None = None  # how the bearings were weighed

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index, "start": self.start.isoformat().replace("+00:00", "Z"),
            "end": self.end.isoformat().replace("+00:00", "Z"),
            "stations": [s.to_dict(self.calibration) for s in self.stations],
            "absent": [{"code": c, "reason": r} for c, r in self.absent.items()],
            "network": None if self.result is None else self.result.to_dict(),
        }


def network_timeline(stations: Mapping[str, Sequence[StationWindow]], origin: datetime, hop_s: float,
                     config: NetworkConfig | None = None, magnitude_model: MagnitudeModel | None = None,
                     calibration: BearingCalibration | None = None) -> list[NetworkWindow]:
    """Every common window (by start on the hop grid from ``origin``), in time order, with its network answer.

    ``stations``: code -> that station's windows (analysed or skipped), as :func:`station_window` made them.
    """
    config = config or CHAIN_NETWORK_CONFIG
    by_slot: dict[int, dict[str, StationWindow]] = {}
    span: dict[int, tuple[datetime, datetime]] = {}
    for code, windows in stations.items():
        for w in windows:
            slot = round((w.start - origin).total_seconds() / hop_s)
            by_slot.setdefault(slot, {})[code] = w
            span.setdefault(slot, (w.start, w.end))
    out = []
    for index, slot in enumerate(sorted(by_slot)):
        present = by_slot[slot]
        analysed = tuple(w for c, w in present.items() if w.analysed)
        absent = {c: (present[c].skipped_reason or "not analysed") if c in present
                  else "its record does not cover this window" for c in stations if c not in
                  {w.code for w in analysed}}
        result = network_window([w.observation(calibration) for w in analysed], config, magnitude_model)
        out.append(NetworkWindow(index, *span[slot], analysed, absent, result, calibration))
    return out


__all__ = ["AMPLITUDE_ESTIMATOR", "CHAIN_NETWORK_CONFIG", "COORDINATE_TOLERANCE_DEG", "NamedRecord", "NetworkInputError", "NetworkWindow",
           "StationWindow", "align_to_hop", "check_same_days", "hop_origin", "network_timeline",
           "received_amplitude_nt", "record_days", "station_positions", "station_window"]
