"""Station baselines: what is known about one station's ordinary background, from a few days of its own record.

Every station a user points the service at is one the model has never seen. A baseline, made from the
station's own days (3 or more; 7-14 recommended), lets its windows be judged against that station's
background instead of the training stations':

* **scores**: per model, the P(event) of the station's ordinary windows. A new window's
  ``background_p_value`` is the conformal p-value of its score among them, (1 + #{baseline >= s}) / (n + 1):
  when the baseline's windows are representative of the station's quiet background, a quiet window's
  p-value is uniform, and an alarm at p <= alpha has a false-alarm rate of at most alpha by construction.
* **spectra**: per input description, each power (and coherency) row's median and scaled MAD over the
  station's ordinary windows, by local-time band: the station's background level per frequency and time of
  day, and its quiet coherent Z (coast induction, a fixed man-made source) that is not a bearing.

An operator cannot know which days were quiet, so the days may hold a storm or an emission: windows whose
emission-band power is unlike the station's other windows at that time of day (beyond ``outlier_mad`` scaled MADs of the
median, in any channel) are dropped, and so are windows with too many missing samples; what was dropped and
why is counted in the baseline. Baselines are stored by :class:`~model_store.baseline_store.BaselineStore`.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import numpy as np

from .background import Background, local_time_band
from .config import DictConfig
from .errors import ModelStoreError
from .input_spec import InputSpec
from .pipeline import Predict, RecordTooShortError, WindowOutcome, analyze_series
from .series import StationSeries

FORMAT_VERSION = 1
MAD_SCALE = 1.4826  # a MAD times this estimates a normal distribution's standard deviation
QUANTILES = (0.5, 0.9, 0.95, 0.99)
DROPPED_MISSING = "too many missing samples"
DROPPED_OUTLIER = "emission-band power unlike the station's other windows (a storm, an emission or an artefact)"


class BaselineError(ModelStoreError):
    """A baseline cannot be made from what was given (another station's file, too few usable windows)."""


@dataclass(frozen=True)
class BaselineRules(DictConfig):
    """How a baseline is made: which windows count, and the false-alarm rate its alarms are set at."""

    config_name = "baseline rules"

    min_windows: int = 10  # usable windows needed: 3 days of 6-hour windows give 12
    outlier_mad: float = 5.0  # a window this many scaled MADs from its local-time band's median band power is dropped
    band_hz: tuple[float, float] = (0.01, 0.1)  # where emissions are reported: the band the outlier rule reads
    local_time_bands: int = 4  # the day cut into this many local-time bands for the spectra
    false_alarm_rate: float = 0.05  # the alarm: background_p_value <= this

    def __post_init__(self) -> None:
        if self.min_windows < 2 or not self.outlier_mad > 0 or not 0 < self.false_alarm_rate < 1:
            raise ValueError("baseline rules: min_windows >= 2, outlier_mad > 0, 0 < false_alarm_rate < 1")
        if not 0 <= self.band_hz[0] < self.band_hz[1] or self.local_time_bands < 1:
            raise ValueError("baseline rules: band_hz must be (low, high) and local_time_bands >= 1")


# ---------------------------------------------------------------------------- what one window says
@dataclass
class WindowStats:
    """What a baseline keeps of one window: when, its local-time band, and its image's row levels."""

    start: datetime
    local_band: int
    band_db: np.ndarray  # (3,) mean power in the emission band per power channel, dB re 1 nT^2/Hz
    row_db: np.ndarray  # (3, H) each power row's median over the window, dB
    row_coherency: np.ndarray | None  # (3, H) each coherency row's median (cross-spectral inputs), -1..1
    score: float | None  # P(event), when the window was predicted


def emission_rows(spec: InputSpec, band_hz: tuple[float, float]) -> np.ndarray:
    """The image rows (row 0 = the highest frequency) whose frequency lies in ``band_hz``."""
    from .direction import row_frequencies

    f = row_frequencies(spec)
    rows = np.flatnonzero((f >= band_hz[0]) & (f <= band_hz[1]))
    return rows if len(rows) else np.arange(len(f))


def window_stats(outcome: WindowOutcome, spec: InputSpec, longitude: float | None,
                 rules: BaselineRules) -> WindowStats | None:
    """A window's stats (None for a skipped window), from its absolute image (``spec`` must be absolute) and, when
    it was predicted, its score."""
    if outcome.image is None:
        return None
    span = spec.db_max - spec.db_min
    power_db = spec.db_min + outcome.image[:3].astype(np.float64) * span  # (3, H, W)
    row_db = np.median(power_db, axis=2)
    band = emission_rows(spec, rules.band_hz)
    band_db = 10.0 * np.log10(np.mean(10.0 ** (power_db[:, band] / 10.0), axis=(1, 2)))
    coherency = None
    if spec.representation == "cross_spectral":
        coherency = np.median(2.0 * outcome.image[3:6].astype(np.float64) - 1.0, axis=2)
    return WindowStats(outcome.window.start, local_time_band(outcome.window.start, spec.window_s, longitude,
                                                             rules.local_time_bands),
                       band_db, row_db, coherency,
                       None if outcome.prediction is None else float(outcome.prediction.precursor_probability))


# ---------------------------------------------------------------------------- the baseline
@dataclass(frozen=True)
class SourceFile:
    name: str
    sha256: str
    bytes: int
    start: str
    end: str

    @classmethod
    def of(cls, name: str, data: bytes, start: datetime, end: datetime) -> SourceFile:
        return cls(name, hashlib.sha256(data).hexdigest(), len(data), _iso(start), _iso(end))


def _iso(t: datetime) -> str:
    return t.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


@dataclass
class StationBaseline:
    """One station's baseline (JSON-able; see the module docstring). ``version`` and ``sha256`` are set by the
    store when it is written."""

    station: str
    latitude: float | None
    longitude: float | None
    created_at: str
    sources: list[dict[str, Any]]
    days: list[str]
    rules: dict[str, Any]
    windows: dict[str, Any]  # total, used, dropped: {reason: count}
    models: dict[str, dict[str, Any]]  # ref -> fingerprint, n, scores (sorted), quantiles, alarm_threshold
    spectra: dict[str, dict[str, Any]]  # input fingerprint -> row medians and MADs per local-time band
    version: str | None = None
    sha256: str | None = None
    format_version: int = FORMAT_VERSION
    _sorted: dict[str, np.ndarray] = field(default_factory=dict, repr=False, compare=False)

    # -------------------------------------------------------------- p-values and alarms
    def has_model(self, ref: str) -> bool:
        return ref in self.models

    def p_value(self, ref: str, score: float) -> float | None:
        """The conformal p-value of ``score`` among the baseline's scores of model ``ref`` (None without them)."""
        if ref not in self.models:
            return None
        if ref not in self._sorted:
            self._sorted[ref] = np.asarray(self.models[ref]["scores"], dtype=np.float64)
        return float(conformal_p_values(self._sorted[ref], score))

    @property
    def false_alarm_rate(self) -> float:
        return float(self.rules["false_alarm_rate"])

    def alarm(self, p_value: float) -> bool:
        return p_value <= self.false_alarm_rate

    # -------------------------------------------------------------- JSON
    def to_dict(self) -> dict[str, Any]:
        return {
            "format_version": self.format_version, "station": self.station, "latitude": self.latitude,
            "longitude": self.longitude, "created_at": self.created_at, "sources": self.sources, "days": self.days,
            "rules": self.rules, "windows": self.windows, "models": self.models, "spectra": self.spectra,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], version: str | None = None, sha256: str | None = None) -> StationBaseline:
        if data.get("format_version") != FORMAT_VERSION:
            raise BaselineError(f"baseline format {data.get('format_version')!r} is not {FORMAT_VERSION}")
        keys = ("station", "latitude", "longitude", "created_at", "sources", "days", "rules", "windows", "models",
                "spectra")
        missing = [k for k in keys if k not in data]
        if missing:
            raise BaselineError(f"baseline lacks {', '.join(missing)}")
        return cls(**{k: data[k] for k in keys}, version=version, sha256=sha256)

    def summary(self) -> dict[str, Any]:
        """What a client is shown: everything but the scores and spectra themselves."""
        return {
            "station": self.station, "version": self.version, "created_at": self.created_at, "sha256": self.sha256,
            "latitude": self.latitude, "longitude": self.longitude, "days": self.days,
            "first_day": self.days[0] if self.days else None, "last_day": self.days[-1] if self.days else None,
            "sources": self.sources, "windows": self.windows, "rules": self.rules,
            "models": {ref: {k: v for k, v in m.items() if k != "scores"} for ref, m in self.models.items()},
        }


def _robust(values: np.ndarray, axis: int = 0) -> tuple[np.ndarray, np.ndarray]:
    median = np.median(values, axis=axis)
    mad = MAD_SCALE * np.median(np.abs(values - np.expand_dims(median, axis)), axis=axis)
    return median, mad


MIN_SPREAD_DB = 1.0  # the outlier rule's smallest spread: windows that agree to a fraction of a dB are all alike


def conformal_p_values(sorted_scores: np.ndarray, scores: float | np.ndarray) -> float | np.ndarray:
    """Conformal p-value(s) of ``scores`` among a baseline's ``sorted_scores`` (ascending):
    (1 + #{baseline >= s}) / (n + 1)."""
    at_least = len(sorted_scores) - np.searchsorted(sorted_scores, scores, side="left")
    return (1 + at_least) / (len(sorted_scores) + 1)


def ordinary_windows(band_db: np.ndarray, local_band: np.ndarray, usable: np.ndarray, rules: BaselineRules
                     ) -> tuple[np.ndarray, dict[str, int]]:
    """Which of a station's windows a baseline keeps (a boolean mask) and how many were dropped, by reason.

    ``usable``: the window was predicted (not skipped for missing samples); ``band_db`` (n, 3): each window's
    emission-band power per power channel (:attr:`WindowStats.band_db`; rows of unusable windows are not read);
    ``local_band`` (n,): its local-time band. Unusable windows are dropped; of three or more usable ones, those
    whose band power is an outlier among the station's windows at that time of day (:func:`_outliers`)."""
    usable = np.asarray(usable, dtype=bool)
    keep = usable.copy()
    dropped = {DROPPED_MISSING: int((~usable).sum())} if (~usable).any() else {}
    idx = np.flatnonzero(usable)
    if len(idx) >= 3:
        out = _outliers(np.asarray(band_db, dtype=np.float64)[idx], np.asarray(local_band)[idx], rules.outlier_mad)
        if out.any():
            dropped[DROPPED_OUTLIER] = int(out.sum())
            keep[idx[out]] = False
    return keep, dropped


def _outliers(band_db: np.ndarray, local_band: np.ndarray, k: float) -> np.ndarray:
    """Windows (rows) whose band power in any channel lies beyond ``k`` scaled MADs of the median of the other
    windows of their local-time band (the background follows the time of day; in a band with fewer than three
    windows, of every other window), the MAD pooled over all windows' residuals."""
    residual = np.empty_like(band_db)
    for i in range(len(band_db)):
        same = (local_band == local_band[i]) if (local_band == local_band[i]).sum() >= 3 else np.ones(len(band_db), bool)
        same[i] = False
        residual[i] = band_db[i] - np.median(band_db[same], axis=0)
    spread = np.maximum(MAD_SCALE * np.median(np.abs(residual), axis=0), MIN_SPREAD_DB)
    return (np.abs(residual) > k * spread).any(axis=1)


def alarm_threshold(scores: np.ndarray, false_alarm_rate: float) -> float | None:
    """The smallest score whose p-value is at most ``false_alarm_rate`` (a score above every baseline score
    when the baseline is too small for that rate to be reached otherwise), None if no score can reach it."""
    n = len(scores)
    # p(s) = (1 + #{>= s}) / (n + 1) <= a  <=>  #{>= s} <= a (n + 1) - 1
    allowed = math.floor(false_alarm_rate * (n + 1) - 1 + 1e-9)
    if allowed < 0:
        return None
    ordered = np.sort(scores)
    return float(np.nextafter(ordered[n - 1 - allowed], np.inf)) if allowed < n else float(ordered[0])


def select_windows(first: list[WindowStats | None], station: str, rules: BaselineRules
                   ) -> tuple[set[datetime], dict[str, int], int]:
    """Which of a station's windows a baseline uses (by start), what was dropped and why, and how many there
    were; a BaselineError when too few are left."""
    total = len(first)
    mask, dropped = ordinary_windows(
        np.stack([np.full(3, np.nan) if s is None else s.band_db for s in first]) if first else np.zeros((0, 3)),
        np.array([-1 if s is None else s.local_band for s in first]), np.array([s is not None for s in first]), rules)
    keep = [first[i] for i in np.flatnonzero(mask)]
    if len(keep) < rules.min_windows:
        why = "; ".join(f"{n} {reason}" for reason, n in dropped.items()) or "none dropped"
        raise BaselineError(
            f"too few usable windows for a baseline of station {station}: {len(keep)} of {total} "
            f"(dropped: {why}); at least {rules.min_windows} are needed, about {math.ceil(rules.min_windows / 4)} "
            "days of 6-hour windows (7-14 days recommended)")
    return {s.start for s in keep}, dropped, total


def _model_scores(spec: InputSpec, scores: np.ndarray, rules: BaselineRules) -> dict[str, Any]:
    scores = np.sort(scores)
    return {
        "fingerprint": spec.fingerprint, "windows": len(scores), "scores": [round(float(v), 6) for v in scores],
        "quantiles": {f"p{round(q * 100)}": round(float(np.quantile(scores, q)), 6) for q in QUANTILES},
        "alarm_threshold": alarm_threshold(scores, rules.false_alarm_rate), "false_alarm_rate": rules.false_alarm_rate,
    }


def _baseline(station: str, latitude: float | None, longitude: float | None, kept: set[datetime],
              dropped: dict[str, int], total: int, models: dict[str, dict[str, Any]],
              spectra: dict[str, dict[str, Any]], sources: list[SourceFile], rules: BaselineRules,
              now: datetime | None) -> StationBaseline:
    return StationBaseline(
        station=station, latitude=latitude, longitude=longitude,
        created_at=_iso(now or datetime.now(timezone.utc)), sources=[vars(s) for s in sources],
        days=sorted({t.date().isoformat() for t in kept}), rules=rules.to_dict(),
        windows={"total": total, "used": len(kept), "dropped": dropped}, models=models, spectra=spectra)


def build_baseline(station: str, latitude: float | None, longitude: float | None,
                   stats: dict[str, tuple[InputSpec, list[WindowStats | None]]], sources: list[SourceFile],
                   rules: BaselineRules, now: datetime | None = None) -> StationBaseline:
    """A station's baseline from its windows as each model saw them (``stats``: model ref -> its (absolute)
    input description and every window's stats in order, with its score, None for a skipped window; the first
    model's windows decide which windows are dropped, and the same windows are dropped for every model).
    :func:`make_baseline` makes one from records, station-relative models included."""
    if not stats:
        raise BaselineError("no model to make the baseline for")
    _, first = next(iter(stats.values()))
    kept, dropped, total = select_windows(first, station, rules)
    models: dict[str, dict[str, Any]] = {}
    spectra: dict[str, dict[str, Any]] = {}
    for ref, (spec, windows) in stats.items():
        used = [s for s in windows if s is not None and s.start in kept]
        models[ref] = _model_scores(spec, np.array([s.score for s in used]), rules)
        if spec.fingerprint not in spectra:
            spectra[spec.fingerprint] = _spectra(spec, used, rules.local_time_bands)
    return _baseline(station, latitude, longitude, kept, dropped, total, models, spectra, sources, rules, now)


def _spectra(spec: InputSpec, used: list[WindowStats], bands: int) -> dict[str, Any]:
    """Row medians and scaled MADs of the station's used windows, per local-time band (all windows for a band
    with fewer than two)."""
    rows_all = np.stack([s.row_db for s in used])
    out: dict[str, Any] = {"representation": spec.representation, "local_time_bands": bands,
                           "windows_per_band": [], "row_db_median": [], "row_db_mad": []}
    coherent = used[0].row_coherency is not None
    if coherent:
        out["row_coherency_median"] = []
        coh_all = np.stack([s.row_coherency for s in used])
    for b in range(bands):
        idx = [k for k, s in enumerate(used) if s.local_band == b]
        take = idx if len(idx) >= 2 else list(range(len(used)))
        median, mad = _robust(rows_all[take])
        out["windows_per_band"].append(len(idx))
        out["row_db_median"].append(np.round(median, 2).tolist())
        out["row_db_mad"].append(np.round(mad, 2).tolist())
        if coherent:
            out["row_coherency_median"].append(np.round(np.median(coh_all[take], axis=0), 3).tolist())
    return out


COORDINATE_TOLERANCE_DEG = 0.05  # files of one station agree on its position to about 5 km


def station_position(code: str, records: list[tuple[SourceFile, StationSeries]],
                     known: tuple[float, float] | None = None) -> tuple[float | None, float | None]:
    """The station's coordinates: ``known`` (a station table's), else the files'. A file naming another station,
    or placing it elsewhere, is a BaselineError that names the file."""
    position = known
    for source, series in records:
        if series.station and series.station.strip().upper() != code:
            raise BaselineError(f"{source.name} is a record of station {series.station.strip().upper()}, not {code}")
        if series.latitude is None or series.longitude is None:
            continue
        if position is None:
            position = (series.latitude, series.longitude)
        elif (abs(series.latitude - position[0]) > COORDINATE_TOLERANCE_DEG
              or abs(series.longitude - position[1]) > COORDINATE_TOLERANCE_DEG):
            raise BaselineError(
                f"{source.name} places station {code} at {series.latitude:.4f}, {series.longitude:.4f}, not at "
                f"{position[0]:.4f}, {position[1]:.4f}: a file of another station?")
    return position if position is not None else (None, None)


def _measure(ordered: list[tuple[SourceFile, StationSeries]], spec: InputSpec, predict: Predict | None,
             longitude: float | None, rules: BaselineRules, background: Background | None = None
             ) -> list[WindowStats | None]:
    """Every window of a station's records (in time order; a window two files share, once) through the window
    pipeline: its stats, with its score when ``predict`` is given."""
    windows: list[WindowStats | None] = []
    starts: set[datetime] = set()
    for source, series in ordered:
        try:
            outcomes = analyze_series(series, spec, predict, background=background)
        except RecordTooShortError as exc:
            raise BaselineError(f"{source.name}: {exc}") from exc
        for o in outcomes:
            if o.window.start not in starts:
                starts.add(o.window.start)
                windows.append(window_stats(o, spec, longitude, rules))
    return windows


def station_background(code: str, records: list[tuple[SourceFile, StationSeries]], spec: InputSpec,
                       rules: BaselineRules, longitude: float | None) -> Background:
    """A station's background for a station-relative input (``spec``), from days of its own record by the
    baseline's rules, without a model: what the dataset builder makes for each training station."""
    ordered = sorted(records, key=lambda r: r[1].start)
    windows = _measure(ordered, spec.absolute, None, longitude, rules)
    kept, _, _ = select_windows(windows, code, rules)
    spectra = _spectra(spec.absolute, [w for w in windows if w is not None and w.start in kept], rules.local_time_bands)
    return Background.from_spectra(spectra, spec, longitude, f"station {code}'s own other days")


def make_baseline(code: str, records: list[tuple[SourceFile, StationSeries]],
                  models: dict[str, tuple[InputSpec, Predict]], rules: BaselineRules,
                  known: tuple[float, float] | None = None, now: datetime | None = None) -> StationBaseline:
    """A baseline from a station's records (each with its source file), every window run through the window
    pipeline with each model (``models``: ref -> its input description and a predict function; the first
    decides which windows are dropped). The spectra are measured on each model's absolute input; a
    station-relative model's scores are made against the background this baseline measures."""
    seen: dict[str, str] = {}
    for source, _ in records:
        if source.sha256 in seen:
            raise BaselineError(f"{source.name} is the same file as {seen[source.sha256]}")
        seen[source.sha256] = source.name
    latitude, longitude = station_position(code, records, known)
    ordered = sorted(records, key=lambda r: r[1].start)

    def measure(spec: InputSpec, predict: Predict | None, background: Background | None = None
                ) -> list[WindowStats | None]:
        return _measure(ordered, spec, predict, longitude, rules, background)

    # the station's windows as each absolute input sees them (a station-relative model's: images only)
    measured: dict[str, tuple[InputSpec, list[WindowStats | None]]] = {}
    for ref, (spec, predict) in models.items():
        if spec.background == "absolute":
            measured[ref] = (spec, measure(spec, predict))
        elif spec.absolute.fingerprint not in {s.fingerprint for s, _ in measured.values()}:
            measured[f"absolute input of {ref}"] = (spec.absolute, measure(spec.absolute, None))
    if not measured:
        raise BaselineError("no model to make the baseline for")
    kept, dropped, total = select_windows(next(iter(measured.values()))[1], code, rules)
    spectra: dict[str, dict[str, Any]] = {}
    for spec, windows in measured.values():
        if spec.fingerprint not in spectra:
            spectra[spec.fingerprint] = _spectra(spec, [s for s in windows if s is not None and s.start in kept],
                                                 rules.local_time_bands)
    scores: dict[str, dict[str, Any]] = {}
    for ref, (spec, predict) in models.items():
        if spec.background == "absolute":
            windows = measured[ref][1]
        else:
            background = Background.from_spectra(spectra[spec.absolute.fingerprint], spec, longitude,
                                                 f"station {code}'s baseline")
            windows = measure(spec, predict, background)
        scores[ref] = _model_scores(spec, np.array([s.score for s in windows if s is not None and s.start in kept]),
                                    rules)
    return _baseline(code, latitude, longitude, kept, dropped, total, scores, spectra, [s for s, _ in ordered], rules,
                     now)


__all__ = ["BaselineError", "BaselineRules", "SourceFile", "StationBaseline", "WindowStats", "alarm_threshold",
           "build_baseline", "conformal_p_values", "local_time_band", "make_baseline", "ordinary_windows",
           "select_windows", "station_background", "station_position", "window_stats"]
