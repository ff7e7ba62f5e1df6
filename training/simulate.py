"""Physics-informed simulator of a magnetometer network (by default BMKG's) with known ground truth.

Every effect and its parameter range is listed in ``docs/simulator.md``. The world is deterministic
for a seed: the catalogue, storms and Kp come from ``seed``; each event's emission source from
``(seed, event)``; each station-day draws from its own stream ``(seed, day, station code)``, so any
station-day can be simulated alone, in any order.

Each event that can emit has one source (one band, onset, growth, Z/H ratio, waveform and strength);
every station within reach sees that same waveform, scaled by the r^-3 distance law and polarised
along its own bearing to the epicentre (``SimConfig.received_nt``, ``World.emission``).

Units: nT, seconds, Hz. H is taken along magnetic north and D (east component, nT) along east.
"""

from __future__ import annotations

import csv
import math
import re
import zlib
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import datetime, timedelta, timezone
from functools import cached_property
from importlib import resources
from typing import Any

import numpy as np

from model_store import StationSeries
from model_store.catalog import Event
from model_store.config import DictConfig
from model_store.geodesy import distance_km, initial_bearing_deg
from model_store.skill import detection_range_km as _detection_range_km
from model_store.stations import Station, load_stations, read_stations

from .catalog import KpSeries

SECONDS_PER_DAY = 86_400
FS_HZ = 1.0
KM_PER_DEGREE = 111.2
# station codes travel in the FRG-604RC block header (three capital letters, which its reader also uses
# to recognise the format) and the IAGA-2002 code field (three characters)
STATION_CODE = re.compile(r"^[A-Z]{3}$")
EPICENTRE_MODES = {"region": {"region"}, "fault": {"fault", "spread_km"}}


# ---------------------------------------------------------------------------- configuration
@dataclass(frozen=True)
class SimConfig(DictConfig):
    config_name = "simulator settings"

    """All knobs of the simulated world (see docs/simulator.md for ranges and sources)."""

    seed: int = 0
    station_seed: int = 0  # the stations' fixed traits (geology, sensor, neighbourhood); shared across worlds
    start: str = "2023-01-01"
    days: int = 30
    # the station layout: a CSV with columns code, name, latitude, longitude (empty = the packaged BMKG
    # table); a relative path in a YAML config is relative to that file (training.config.load_yaml)
    stations_file: str = ""
    stations: tuple[str, ...] = ()  # empty = every station of the layout

    # catalogue: Gutenberg-Richter magnitudes; epicentres (``epicentres``): {} = around real BMKG
    # epicentres with epicentre_jitter_km; {region: [lat_min, lat_max, lon_min, lon_max]} = uniform over
    # that box; {fault: [[lat, lon], ...], spread_km: s} = uniform along the trace, Gaussian across it
    events_per_day: float = 20.0
    b_value: float = 1.0
    magnitude_min: float = 4.0
    magnitude_max: float = 7.5
    epicentres: dict[str, Any] = field(default_factory=dict)
    epicentre_jitter_km: float = 30.0
    depth_km: tuple[float, float] = (5.0, 60.0)

    # precursors: one source per event, amplitude A(r) = min(max_amplitude_nt, S * (r0 / max(r, r_min))^3)
    # at epicentral distance r, with r0 = reference_distance_km; the median strength at magnitude M puts
    # amplitude_at_range_nt at the detection range R = (M - m0) * km_per_magnitude (0.025 R < M - 4.5);
    # log10 S scatters about that median (normal, sd source_strength_scatter_dex, truncated at
    # +-source_strength_truncation_sigma). A station sees the emission if A(r) >= emission_floor_nt and
    # r <= max_range_km.
    precursors: bool = True
    detection_m0: float = 4.5
    detection_km_per_magnitude: float = 40.0
    amplitude_at_range_nt: float = 0.1  # the median source's amplitude at the detection range
    emission_floor_nt: float = 0.1  # the weakest emission a station receives (0.1 nT: the median reach is R)
    reference_distance_km: float = 10.0  # r0: the strength S is the (uncapped) amplitude at this distance
    # sd of log10 S at one magnitude; truncated at 2.5 sd, its 5-95 % range spans 10^(2 * 1.59 * 0.3) = 9.0x
    # and its full range 10^(2 * 2.5 * 0.3) = 32x; the loudest source reaches 10^(2.5 * 0.3 / 3) = 1.78 R(M)
    source_strength_scatter_dex: float = 0.3
    source_strength_truncation_sigma: float = 2.5
    max_amplitude_nt: float = 1.5
    min_distance_km: float = 5.0
    max_range_km: float = 400.0  # an outer bound: the loudest M7.5 source of the shipped worlds reaches 311 km
    band_hz: tuple[float, float] = (0.01, 0.1)
    min_bandwidth_hz: float = 0.02
    lead_days: tuple[float, float] = (1.0, 4.0)
    growth_exponent: tuple[float, float] = (0.5, 2.0)
    zh_ratio: tuple[float, float] = (1.0, 2.0)
    night_zh_boost: float = 2.0

    # background
    sq_range_nt: tuple[float, float] = (30.0, 80.0)
    pc3_nt: tuple[float, float] = (0.015, 0.3)
    pc4_nt: tuple[float, float] = (0.015, 0.3)
    pc5_nt: tuple[float, float] = (0.015, 0.4)
    pi2_nt: tuple[float, float] = (0.1, 3.0)
    pi2_per_day: float = 3.0
    storms_per_day: float = 0.06
    storm_dst_nt: tuple[float, float] = (30.0, 150.0)
    sc_nt: tuple[float, float] = (10.0, 50.0)
    # nT^2/Hz at 1 Hz of the f^-slope background, calibrated on the real LUT day: there the field
    # falls below the fluxgate floor (~1.6e-4 nT^2/Hz) above 0.1 Hz; science.md's 3e-3..1e-2 would be
    # 30-40 dB louder than this low-latitude station records (see docs/simulator.md)
    background_psd_1hz_night: float = 1e-6
    background_psd_1hz_day: float = 3e-6
    background_slope: tuple[float, float] = (2.0, 3.0)
    sensor_noise_pt: tuple[float, float] = (5.0, 20.0)  # pT/sqrt(Hz), white
    manmade_nt: tuple[float, float] = (0.02, 0.3)
    manmade_fraction: float = 0.5  # share of stations with man-made noise
    manmade_zh: tuple[float, float] = (0.3, 1.5)  # |Z| / horizontal of man-made noise, per station
    # induction (coast) response of Z to external horizontal fields: an induction arrow of magnitude
    # |T0| at long periods along a random azimuth, falling as 1/sqrt(1 + (f/fc)^2); calibrated on the real
    # LUT day (|T| 1.0 at 0.001-0.01 Hz, 0.72 at 0.01-0.03 Hz, 0.44 at 0.03-0.1 Hz)
    coast_zh: tuple[float, float] = (0.1, 1.0)
    coast_corner_hz: tuple[float, float] = (0.01, 0.05)
    # Z background that induction does not explain (local sources, sensor tilt, ground): PSD at 1 Hz
    # (log-uniform per station) and slope; real LUT: about 1e-5 f^-2 nT^2/Hz (Z/H about 0 dB, Z-H
    # coherence 0.9 at 0.001-0.01 Hz falling to 0.6 at 0.03-0.1 Hz and below 0.3 above 0.1 Hz)
    z_noise_psd_1hz: tuple[float, float] = (3e-6, 3e-5)
    z_noise_slope: tuple[float, float] = (1.5, 2.5)
    d_pulsation_ratio: tuple[float, float] = (0.6, 1.0)  # D / H amplitude of pulsations (real LUT: D ~ H)
    spikes_per_day: float = 0.5
    steps_per_day: float = 0.1
    gaps_per_day: float = 0.3
    max_gap_s: float = 1800.0
    # traits measured on a station's real record replace the drawn ones (station code -> trait -> value)
    station_traits: dict[str, dict[str, float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("amplitude_at_range_nt", "emission_floor_nt", "reference_distance_km", "max_amplitude_nt",
                     "min_distance_km", "max_range_km", "source_strength_truncation_sigma"):
            if not getattr(self, name) > 0:
                raise ValueError(f"simulator {name} must be > 0, not {getattr(self, name)!r}")
        if self.source_strength_scatter_dex < 0:
            raise ValueError("simulator source_strength_scatter_dex must be >= 0")
        if self.emission_floor_nt > self.max_amplitude_nt:
            raise ValueError("simulator emission_floor_nt must not exceed max_amplitude_nt")
        _check_epicentres(self.epicentres)

    @property
    def start_time(self) -> datetime:
        return datetime.fromisoformat(self.start).replace(tzinfo=timezone.utc)

    def detection_range_km(self, magnitude: float) -> float:
        """R(M) = (M - m0) * km_per_magnitude: where the median source of magnitude M is received at
        ``amplitude_at_range_nt`` (the label radius of a consistent labelling rule)."""
        return _detection_range_km(magnitude, self.detection_m0, self.detection_km_per_magnitude)

    def median_strength_nt(self, magnitude: float) -> float:
        """Median source strength at magnitude M: S(M) = amplitude_at_range_nt * (R(M) / r0)^3 (0 if M <= m0)."""
        return self.amplitude_at_range_nt * (self.detection_range_km(magnitude) / self.reference_distance_km) ** 3

    def received_nt(self, strength_nt: float, distance_km: float) -> float:
        """Amplitude (nT) of a source of strength S at epicentral distance r, before the floor and range:
        min(max_amplitude_nt, S * (r0 / max(r, min_distance_km))^3)."""
        r = max(distance_km, self.min_distance_km)
        return min(self.max_amplitude_nt, strength_nt * (self.reference_distance_km / r) ** 3)

    def receives(self, strength_nt: float, distance_km: float) -> bool:
        """Whether a station at epicentral distance r sees a source of strength S."""
        return distance_km <= self.max_range_km and self.received_nt(strength_nt, distance_km) >= self.emission_floor_nt

    def reach_km(self, strength_nt: float) -> float:
        """The farthest epicentral distance at which a source of strength S is received (0 if nowhere)."""
        if strength_nt <= 0:
            return 0.0
        r = self.reference_distance_km * (strength_nt / self.emission_floor_nt) ** (1 / 3)
        return min(self.max_range_km, r) if r >= self.min_distance_km else 0.0

    def max_reach_km(self, magnitude: float) -> float:
        """The reach of the loudest source this world draws at magnitude M (strength at the truncation)."""
        loudest = self.median_strength_nt(magnitude) * 10 ** (
            self.source_strength_truncation_sigma * self.source_strength_scatter_dex)
        return self.reach_km(loudest)


def _check_epicentres(spec: dict[str, Any]) -> None:
    if not spec:
        return
    if not isinstance(spec, dict):
        raise ValueError("simulator epicentres must be a mapping")
    mode = next((m for m, keys in EPICENTRE_MODES.items() if m in spec), None)
    if mode is None or set(spec) - EPICENTRE_MODES[mode]:
        raise ValueError("simulator epicentres must be {} (around real BMKG epicentres), "
                         "{region: [lat_min, lat_max, lon_min, lon_max]} or {fault: [[lat, lon], ...], spread_km: s}; "
                         f"got keys {sorted(spec)}")
    if mode == "region":
        box = spec["region"]
        if (not isinstance(box, (list, tuple)) or len(box) != 4 or not -90 <= box[0] < box[1] <= 90
                or not box[2] < box[3]):
            raise ValueError(f"simulator epicentres region must be [lat_min, lat_max, lon_min, lon_max], not {box!r}")
    else:
        trace = spec["fault"]
        if not isinstance(trace, (list, tuple)) or len(trace) < 2 or any(len(p) != 2 for p in trace):
            raise ValueError("simulator epicentres fault must be a trace of two or more [lat, lon] points")
        if float(spec.get("spread_km", 0.0)) < 0:
            raise ValueError("simulator epicentres spread_km must be >= 0")


# ---------------------------------------------------------------------------- world objects
@dataclass(frozen=True)
class Storm:
    onset: datetime
    sc_nt: float
    dst_min_nt: float
    main_phase_h: float
    recovery_days: float


@dataclass(frozen=True)
class Source:
    """One event's emission at its source, drawn once: every station within reach sees this waveform."""

    event_id: str
    strength_nt: float  # S: the uncapped amplitude at reference_distance_km
    strength_deviation_dex: float  # log10(S / median strength at the event's magnitude)
    band_hz: tuple[float, float]
    start: datetime  # onset: origin time - lead
    end: datetime  # origin time
    growth_exponent: float
    zh_ratio: float
    seed: int  # the waveform's random stream (with the day)


@dataclass(frozen=True)
class Injection:
    """One event's emission as one station receives it (the source's fields, this station's geometry)."""

    event_id: str
    station: str
    distance_km: float  # epicentral
    bearing_deg: float  # station to epicentre, clockwise from north
    amplitude_nt: float  # the received amplitude (envelope peak)
    band_hz: tuple[float, float]
    start: datetime
    end: datetime
    growth_exponent: float
    zh_ratio: float
    seed: int
    capped: bool = False  # S * (r0 / r)^3 exceeded max_amplitude_nt


def _band_noise(rng: np.random.Generator, n: int, f1: float, f2: float) -> np.ndarray:
    """Unit-variance Gaussian noise confined to [f1, f2] Hz."""
    spec = rng.standard_normal(n // 2 + 1) + 1j * rng.standard_normal(n // 2 + 1)
    f = np.fft.rfftfreq(n, 1.0 / FS_HZ)
    spec[(f < f1) | (f > f2)] = 0
    x = np.fft.irfft(spec, n)
    return x / (x.std() + 1e-12)


def _power_law_noise(rng: np.random.Generator, n: int, psd_1hz: float, slope: float, f_corner: float = 2e-4) -> np.ndarray:
    """Noise whose one-sided PSD is psd_1hz * f^-slope (flattened below f_corner)."""
    f = np.fft.rfftfreq(n, 1.0 / FS_HZ)
    psd = psd_1hz * np.maximum(f, f_corner) ** (-slope)
    psd[0] = 0.0
    spec = (rng.standard_normal(len(f)) + 1j * rng.standard_normal(len(f))) * np.sqrt(psd * n * FS_HZ / 4)
    return np.fft.irfft(spec, n)


def _uniform(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    return float(rng.uniform(bounds[0], bounds[1]))


def _log_uniform(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    """Log-uniform draw: quiet values are as common per decade as loud ones."""
    lo, hi = max(bounds[0], 1e-6), max(bounds[1], 1e-6)
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def local_hours(t_s: np.ndarray, day: datetime, longitude: float) -> np.ndarray:
    return ((day.hour + t_s / 3600.0) + longitude / 15.0) % 24.0


def _dayside(lt: np.ndarray) -> np.ndarray:
    """0 at night, rising to 1 at local noon."""
    return np.clip(np.cos(np.pi * (lt - 12.0) / 12.0), 0, None) ** 1.5


@dataclass(frozen=True)
class _StationTraits:
    """Fixed per-station properties, drawn once from (seed, station)."""

    h0: float
    d0: float
    z0: float
    sq_scale: float
    polarisation_deg: float  # azimuth of the pulsations' major axis
    d_pulsation: float  # D / H amplitude ratio of pulsations
    coast_t0: float  # induction arrow magnitude at long periods
    coast_azimuth_deg: float  # direction of the horizontal field that couples into Z
    coast_corner_hz: float
    z_noise_psd: float  # Z background not explained by induction: PSD at 1 Hz (nT^2/Hz) ...
    z_noise_slope: float  # ... falling as f^-slope
    manmade_nt: float
    manmade_azimuth_deg: float
    manmade_zh: float  # signed: Z of the man-made source relative to its horizontal field
    sensor_psd: float
    background_slope: float

    def coast_gain(self, f: np.ndarray) -> np.ndarray:
        """|T(f)|: the induction arrow's magnitude at frequency f (Hz)."""
        return self.coast_t0 / np.sqrt(1.0 + (f / self.coast_corner_hz) ** 2)


def polarised(p: np.ndarray, bearing_deg: float, zh_ratio: float | np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """An emission waveform ``p`` as (H, D, Z): linearly polarised along ``bearing_deg`` (clockwise from
    north) with Z = zh_ratio * p in phase with the field along the bearing."""
    th = math.radians(bearing_deg)
    return p * math.cos(th), p * math.sin(th), p * zh_ratio


def emission_band(rng: np.random.Generator, config: SimConfig) -> tuple[float, float]:
    """A random sub-band of the emission band, at least ``min_bandwidth_hz`` wide."""
    width = _uniform(rng, (config.min_bandwidth_hz, config.band_hz[1] - config.band_hz[0]))
    f1 = _uniform(rng, (config.band_hz[0], config.band_hz[1] - width))
    return f1, f1 + width


def band_noise(rng: np.random.Generator, n: int, band_hz: tuple[float, float]) -> np.ndarray:
    """Unit-variance Gaussian noise confined to ``band_hz`` (1-Hz samples)."""
    return _band_noise(rng, n, *band_hz)


def source_waveform(source: Source | Injection, day: datetime) -> np.ndarray:
    """The emission's unit waveform over one UTC day (1-Hz samples): the growth envelope
    ((t - onset) / lead)^g, 0 outside [onset, origin], times unit-variance noise in the source's band.

    It depends only on the source (its seed, band, onset and growth) and the day, so every station, and
    every station-day simulated alone, sees the same waveform; a station receives it times its amplitude.
    """
    n = SECONDS_PER_DAY
    rng = np.random.default_rng([source.seed, day.toordinal()])
    lead_s = (source.end - source.start).total_seconds()
    since = (day - source.start).total_seconds() + np.arange(n, dtype=np.float64)
    active = (since >= 0) & (since <= lead_s)
    envelope = np.where(active, np.clip(since / lead_s, 0, 1) ** source.growth_exponent, 0.0)
    return envelope * _band_noise(rng, n, *source.band_hz)


def _night(lt: np.ndarray) -> np.ndarray:
    """0 at local noon, rising to 1 at 06 and 18 LT, 1 through the night."""
    return 1.0 - np.clip(np.cos(np.pi * (lt - 12.0) / 12.0), 0, None)


def _truncated_normal(rng: np.random.Generator, limit: float) -> float:
    while True:
        x = float(rng.standard_normal())
        if abs(x) <= limit:
            return x


def _induction_response(ext_h: np.ndarray, ext_d: np.ndarray, tr: _StationTraits) -> np.ndarray:
    """Z induced by the external horizontal field: the field along the induction arrow's azimuth,
    filtered by the arrow's frequency-dependent magnitude (zero phase)."""
    a = math.radians(tr.coast_azimuth_deg)
    u = ext_h * math.cos(a) + ext_d * math.sin(a)
    spectrum = np.fft.rfft(u)
    return np.fft.irfft(spectrum * tr.coast_gain(np.fft.rfftfreq(len(u), 1.0 / FS_HZ)), len(u))


class World:
    """A simulated world: stations, catalogue, storms, Kp, injections; station-days on demand."""

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        table = read_stations(config.stations_file) if config.stations_file else load_stations()
        bad = [c for c in table if not STATION_CODE.match(c)]
        if bad:
            raise ValueError(f"station codes {bad} in {config.stations_file or 'the packaged table'} must be three "
                             "letters (the FRG-604RC header holds three capital letters, the IAGA-2002 code three "
                             "characters)")
        codes = config.stations or tuple(table)
        missing = [c for c in codes if c.upper() not in table]
        if missing:
            raise ValueError(f"unknown stations {missing}; known: {', '.join(table)}")
        self.stations: dict[str, Station] = {c.upper(): table[c.upper()] for c in codes}
        rng = np.random.default_rng([config.seed, 1])
        self.events = self._draw_catalogue(rng)
        self.storms = self._draw_storms(np.random.default_rng([config.seed, 2]))
        self.kp = self._kp_series(np.random.default_rng([config.seed, 3]))
        # one source per event that can emit, drawn from (seed, event) whatever the stations
        self.sources: dict[str, Source] = self._draw_sources() if config.precursors else {}
        self.injections = self._injections()
        self._by_station: dict[str, list[Injection]] = {}
        for inj in self.injections:
            self._by_station.setdefault(inj.station, []).append(inj)
        # A station's geology, sensor and neighbourhood do not change with the period simulated: traits
        # come from (station_seed, station code), so worlds of different seeds share the same stations.
        self.traits = {
            code: self._draw_traits(np.random.default_rng([config.station_seed, 5, zlib.crc32(code.encode())]))
            for code in self.stations
        }
        known = {f.name for f in fields(_StationTraits)}
        for code, values in config.station_traits.items():
            unknown = set(values) - known
            if unknown:
                raise ValueError(f"unknown station traits for {code}: {sorted(unknown)}; known: {sorted(known)}")
            if code.upper() in self.traits:
                self.traits[code.upper()] = replace(self.traits[code.upper()], **values)

    # -------------------------------------------------------------- global draws
    @cached_property
    def days(self) -> list[datetime]:
        return [self.config.start_time + timedelta(days=k) for k in range(self.config.days)]

    def _draw_catalogue(self, rng: np.random.Generator) -> list[Event]:
        c = self.config
        text = resources.files("training").joinpath("data/bmkg_2022-11-01_2023-01-26.csv").read_text("utf-8")
        real = [(float(r["latitude"]), float(r["longitude"])) for r in csv.DictReader(text.splitlines())]
        n = rng.poisson(c.events_per_day * c.days)
        # truncated Gutenberg-Richter: inverse-CDF sampling of an exponential in magnitude
        beta = c.b_value * math.log(10)
        u = rng.uniform(size=n)
        span = 1 - math.exp(-beta * (c.magnitude_max - c.magnitude_min))
        mags = c.magnitude_min - np.log(1 - u * span) / beta
        times = np.sort(rng.uniform(0, c.days * SECONDS_PER_DAY, size=n))
        picks = rng.integers(0, len(real), size=n)
        events = []
        for k in range(n):
            if c.epicentres:
                lat, lon = _epicentre(rng, c.epicentres)
            else:  # around a real BMKG epicentre
                lat0, lon0 = real[picks[k]]
                r = c.epicentre_jitter_km * math.sqrt(rng.uniform())
                az = rng.uniform(0, 2 * math.pi)
                lat = lat0 + (r * math.cos(az)) / KM_PER_DEGREE
                lon = lon0 + (r * math.sin(az)) / (KM_PER_DEGREE * math.cos(math.radians(lat0)))
            t = c.start_time + timedelta(seconds=float(times[k]))
            events.append(Event(f"sim{c.seed}-{k:05d}", t, round(lat, 4), round(lon, 4),
                                round(_uniform(rng, c.depth_km), 1), round(float(mags[k]), 2), "simulated"))
        return events

    def _draw_storms(self, rng: np.random.Generator) -> list[Storm]:
        c = self.config
        n = rng.poisson(c.storms_per_day * (c.days + 5))
        onsets = np.sort(rng.uniform(-5 * SECONDS_PER_DAY, c.days * SECONDS_PER_DAY, size=n))
        return [
            Storm(c.start_time + timedelta(seconds=float(t)), _uniform(rng, c.sc_nt),
                  -_uniform(rng, c.storm_dst_nt) * (1 + rng.exponential(0.3)),
                  _uniform(rng, (3, 12)), _uniform(rng, (1, 5)))
            for t in onsets
        ]

    def storm_field(self, t_abs_s: np.ndarray) -> np.ndarray:
        """Dst-like disturbance (nT) at absolute times (s since the world start)."""
        out = np.zeros_like(t_abs_s, dtype=np.float64)
        t0 = self.config.start_time
        for s in self.storms:
            dt = t_abs_s - (s.onset - t0).total_seconds()
            active = dt > 0
            if not active.any():
                continue
            d = dt[active]
            sc = s.sc_nt * (1 - np.exp(-d / 120.0)) * np.exp(-d / 3600.0)  # sudden commencement, minutes
            main_s = s.main_phase_h * 3600
            main = np.where(d < main_s, s.dst_min_nt * d / main_s,
                            s.dst_min_nt * np.exp(-(d - main_s) / (s.recovery_days * SECONDS_PER_DAY)))
            out[active] += sc + main
        return out

    def _kp_series(self, rng: np.random.Generator) -> KpSeries:
        n = self.config.days * 8
        t_mid = (np.arange(n) + 0.5) * 3 * 3600.0
        dst = self.storm_field(t_mid)
        base = np.empty(n)
        level = 1.5
        for i in range(n):  # AR(1) quiet-time activity
            level = 1.5 + 0.8 * (level - 1.5) + rng.normal(0, 0.5)
            base[i] = level
        kp = np.clip(base + 6.0 * (1 - np.exp(dst / 80.0)), 0, 9)
        kp = np.round(kp * 3) / 3
        times = [self.config.start_time + timedelta(hours=3 * i) for i in range(n)]
        return KpSeries(times, [float(v) for v in kp])

    def _draw_sources(self) -> dict[str, Source]:
        """Event id -> its source, for every event above ``detection_m0`` (the others cannot emit).

        Each event's parameters come from its own stream (seed, 4, event index): they do not depend on
        the station layout, the stations simulated, or any other event.
        """
        c = self.config
        out = {}
        for k, e in enumerate(self.events):
            median = c.median_strength_nt(e.magnitude)
            if median <= 0:
                continue
            rng = np.random.default_rng([c.seed, 4, k])
            f1, f2 = emission_band(rng, c)
            lead = timedelta(days=_uniform(rng, c.lead_days))
            growth = round(_uniform(rng, c.growth_exponent), 3)
            zh = round(_uniform(rng, c.zh_ratio), 3)
            seed = int(rng.integers(0, 2**31))
            deviation = c.source_strength_scatter_dex * _truncated_normal(rng, c.source_strength_truncation_sigma)
            out[e.event_id] = Source(e.event_id, float(f"{median * 10**deviation:.6g}"), round(deviation, 4),
                                     (round(f1, 4), round(f2, 4)), e.time - lead, e.time, growth, zh, seed)
        return out

    def _injections(self) -> list[Injection]:
        """Every (event, station) pair where a station receives its event's source."""
        c = self.config
        out = []
        for e in self.events:
            src = self.sources.get(e.event_id)
            if src is None:
                continue
            for code, st in self.stations.items():
                r = distance_km(st.latitude, st.longitude, e.latitude, e.longitude)
                if not c.receives(src.strength_nt, r):
                    continue
                amp = c.received_nt(src.strength_nt, r)
                out.append(Injection(
                    e.event_id, code, round(r, 2), round(initial_bearing_deg(st.latitude, st.longitude, e.latitude, e.longitude), 2),
                    round(amp, 4), src.band_hz, src.start, src.end, src.growth_exponent, src.zh_ratio, src.seed,
                    capped=amp >= c.max_amplitude_nt,
                ))
        return out

    def stations_reached(self) -> dict[str, int]:
        """Event id -> how many of the world's stations receive its emission (0 for every other event)."""
        counts = {e.event_id: 0 for e in self.events}
        for inj in self.injections:
            counts[inj.event_id] += 1
        return counts

    def coverage(self) -> dict[str, Any]:
        """How many events are seen at 0, 1, 2 and 3+ stations: all events, and those that can emit."""
        reached = self.stations_reached()

        def bins(ids: list[str]) -> dict[str, int]:
            n = [reached[i] for i in ids]
            return {"0": n.count(0), "1": n.count(1), "2": n.count(2), "3+": sum(k >= 3 for k in n)}

        emitting = [e.event_id for e in self.events if self.config.median_strength_nt(e.magnitude) > 0]
        seen = [reached[i] for i in emitting if reached[i] > 0]
        return {"stations": len(self.stations), "days": self.config.days, "events": bins(list(reached)),
                "emitting_events": bins(emitting),
                "mean_stations_per_seen_event": round(float(np.mean(seen)), 3) if seen else 0.0}

    def _draw_traits(self, rng: np.random.Generator) -> _StationTraits:
        c = self.config
        return _StationTraits(
            h0=_uniform(rng, (37_000, 41_000)), d0=_uniform(rng, (-100, 100)), z0=_uniform(rng, (-30_000, -5_000)),
            sq_scale=_uniform(rng, c.sq_range_nt), polarisation_deg=_uniform(rng, (-30, 30)),
            d_pulsation=_uniform(rng, c.d_pulsation_ratio),
            coast_t0=_uniform(rng, c.coast_zh), coast_azimuth_deg=_uniform(rng, (0, 360)),
            coast_corner_hz=_log_uniform(rng, c.coast_corner_hz),
            z_noise_psd=_log_uniform(rng, c.z_noise_psd_1hz), z_noise_slope=_uniform(rng, c.z_noise_slope),
            manmade_nt=_log_uniform(rng, c.manmade_nt) if rng.uniform() < c.manmade_fraction else 0.0,
            manmade_azimuth_deg=_uniform(rng, (0, 360)),
            manmade_zh=_uniform(rng, c.manmade_zh) * float(rng.choice([-1, 1])),
            sensor_psd=(_uniform(rng, c.sensor_noise_pt) * 1e-3) ** 2, background_slope=_uniform(rng, c.background_slope),
        )

    # -------------------------------------------------------------- per-day signals
    def _global_day(self, day_index: int) -> dict[str, np.ndarray]:
        """Sources seen at every station at once (pulsations, Pi2 onsets, storm field)."""
        rng = np.random.default_rng([self.config.seed, 6, day_index])
        c, n = self.config, SECONDS_PER_DAY
        t_abs = day_index * SECONDS_PER_DAY + np.arange(n, dtype=np.float64)
        kp_day = np.mean(self.kp.values[day_index * 8 : day_index * 8 + 8]) if self.kp.values else 2.0
        activity = 1.0 + kp_day / 3.0
        slow = 0.5 + _band_noise(rng, n, 1 / 21600, 1 / 3600) * 0.25  # slowly varying envelope
        pi2 = np.zeros(n)
        for _ in range(rng.poisson(c.pi2_per_day * activity / 2)):
            t0, f = rng.integers(0, n - 1800), _uniform(rng, (1 / 150, 1 / 40))
            tt = np.arange(1800.0)
            pi2[t0 : t0 + 1800] += _log_uniform(rng, c.pi2_nt) * np.sin(2 * np.pi * f * tt) * np.exp(-tt / 400.0)
        levels = {"pc3": _log_uniform(rng, c.pc3_nt) * np.clip(slow, 0.1, None),
                  "pc4": _log_uniform(rng, c.pc4_nt) * np.clip(slow, 0.1, None),
                  "pc5": _log_uniform(rng, c.pc5_nt) * activity}
        bands = {"pc3": (0.022, 0.1), "pc4": (0.0067, 0.022), "pc5": (0.00167, 0.0067)}
        # each pulsation has a major-axis waveform and an independent minor-axis one (elliptical polarisation)
        return {
            **{k: levels[k] * _band_noise(rng, n, *bands[k]) for k in bands},
            **{f"{k}_minor": levels[k] * _band_noise(rng, n, *bands[k]) for k in bands},
            "pi2_utc": pi2,
            "storm": self.storm_field(t_abs),
        }

    def simulate_day(self, day_index: int, codes: list[str] | None = None) -> dict[str, StationSeries]:
        """Every (or the named) station's series for one UTC day."""
        glob = self._global_day(day_index)
        return {code: self._station_day(day_index, code, glob) for code in (codes or list(self.stations))}

    def _station_day(self, day_index: int, code: str, glob: dict[str, np.ndarray]) -> StationSeries:
        c, n = self.config, SECONDS_PER_DAY
        st, tr = self.stations[code], self.traits[code]
        # keyed by the station's code, not its place in the layout: a world of a subset of stations gives
        # each of them the same record
        rng = np.random.default_rng([c.seed, 7, day_index, zlib.crc32(code.encode())])
        day = self.days[day_index]
        t = np.arange(n, dtype=np.float64)
        lt = local_hours(t, day, st.longitude)
        sun = _dayside(lt)
        night = _night(lt)

        # Sq: daytime bulge in H, smaller D and Z, seasonal and day-to-day variability
        doy = day.timetuple().tm_yday
        season = 1 + 0.2 * math.cos(4 * math.pi * (doy - 80) / 365.25)
        sq = tr.sq_scale * season * _uniform(rng, (0.7, 1.3))
        h = sq * sun + 0.1 * sq * np.cos(2 * np.pi * (lt - 9) / 12)
        d = 0.15 * sq * np.sin(2 * np.pi * (lt - 12) / 24) * (0.3 + sun)
        z_sq = -0.2 * sq * sun

        # external fields shared by all stations: elliptically polarised pulsations, major axis at the
        # station's polarisation azimuth, plus the storm field in H
        phi = math.radians(tr.polarisation_deg)
        pc5_weight = 0.5 + 0.5 * np.abs(np.cos(np.pi * lt / 12))
        major = glob["pc3"] * (0.3 + sun) + glob["pc4"] + glob["pc5"] * pc5_weight + glob["pi2_utc"] * night
        minor = tr.d_pulsation * (glob["pc3_minor"] * (0.3 + sun) + glob["pc4_minor"] + glob["pc5_minor"] * pc5_weight)
        ext_h = major * math.cos(phi) - minor * math.sin(phi) + glob["storm"]
        ext_d = major * math.sin(phi) + minor * math.cos(phi)
        # natural background, stronger by day
        psd = c.background_psd_1hz_night + (c.background_psd_1hz_day - c.background_psd_1hz_night) * sun
        ext_h = ext_h + _power_law_noise(rng, n, 1.0, tr.background_slope) * np.sqrt(psd)
        ext_d = ext_d + _power_law_noise(rng, n, 1.0, tr.background_slope) * np.sqrt(psd)
        h = h + ext_h
        d = d + ext_d
        # Z: the induction (coast) response to the external horizontal field, plus Z background that
        # induction does not explain
        z = (z_sq + _induction_response(ext_h, ext_d, tr)
             + _power_law_noise(rng, n, tr.z_noise_psd, tr.z_noise_slope))

        # precursor emissions: each event's source waveform at this station's amplitude, polarised along
        # its bearing, Z in phase with the +bearing component
        dh, dd, dz = self.emission(day_index, code)
        h, d, z = h + dh, d + dd, z + dz

        # station-local disturbances
        if tr.manmade_nt > 0:
            schedule = np.clip(np.minimum(lt - 4.0, 25.0 - lt) / 2.0, 0, 1) * (lt >= 4)
            mm = tr.manmade_nt * schedule * _band_noise(rng, n, 0.01, 0.5)
            az = math.radians(tr.manmade_azimuth_deg)  # a fixed source near the station, linearly polarised
            h, d, z = h + mm * math.cos(az), d + mm * math.sin(az), z + tr.manmade_zh * mm
        sensor_sigma = math.sqrt(tr.sensor_psd * FS_HZ / 2)
        drift = _uniform(rng, (0.2, 1.5)) * np.sin(2 * np.pi * (lt - 14) / 24)  # temperature drift
        h = tr.h0 + h + drift + rng.normal(0, sensor_sigma, n)
        d = tr.d0 + d + 0.3 * drift + rng.normal(0, sensor_sigma, n)
        z = tr.z0 + z + 0.5 * drift + rng.normal(0, sensor_sigma, n)
        channels = [h, d, z]
        for _ in range(rng.poisson(c.steps_per_day)):
            channels[rng.integers(3)][rng.integers(n) :] += _uniform(rng, (1, 10)) * rng.choice([-1, 1])
        for _ in range(rng.poisson(c.spikes_per_day)):
            channels[rng.integers(3)][rng.integers(n)] += 10 ** _uniform(rng, (1, 4)) * rng.choice([-1, 1])
        for _ in range(rng.poisson(c.gaps_per_day)):
            length = int(min(c.max_gap_s, 10 ** _uniform(rng, (0, math.log10(c.max_gap_s)))))
            i0 = rng.integers(0, n - length)
            for ch in channels:
                ch[i0 : i0 + length] = np.nan
        h, d, z = (np.round(ch, 2) for ch in channels)  # the logger's 0.01 nT resolution
        return StationSeries(code, day, 1.0, h, d, z, "simulated", st.latitude, st.longitude)

    def emission(self, day_index: int, code: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(H, D, Z) in nT that the emissions add at station ``code`` over one UTC day (zeros if none).

        For each emission reaching the station: the source's waveform (``source_waveform``) times the
        received amplitude, linearly polarised along the station-to-epicentre bearing, with Z = k p,
        k = the source's Z/H ratio, raised by up to ``night_zh_boost`` at night by the station's local time.
        Propagation delay between stations is not modelled (the near-zone field is quasi-static).
        """
        c, n = self.config, SECONDS_PER_DAY
        st, day = self.stations[code], self.days[day_index]
        h, d, z = np.zeros(n), np.zeros(n), np.zeros(n)
        injections = self._injections_on(code, day)
        if not injections:
            return h, d, z
        night = _night(local_hours(np.arange(n, dtype=np.float64), day, st.longitude))
        for inj in injections:
            zh = inj.zh_ratio * (1 + (c.night_zh_boost - 1) * night)
            dh, dd, dz = polarised(inj.amplitude_nt * source_waveform(inj, day), inj.bearing_deg, zh)
            h, d, z = h + dh, d + dd, z + dz
        return h, d, z

    def injections_at(self, code: str, start: datetime, end: datetime) -> list[Injection]:
        """Emissions reaching station ``code`` at some time in [start, end)."""
        return [i for i in self._by_station.get(code, ()) if i.start < end and i.end > start]

    def _injections_on(self, code: str, day: datetime) -> list[Injection]:
        return self.injections_at(code, day, day + timedelta(days=1))

    @staticmethod
    def received_amplitude(inj: Injection, start: datetime, end: datetime, step_s: float = 60.0) -> float:
        """RMS amplitude (nT) of an emission's envelope over [start, end): 0 if it is not active then."""
        t = np.arange(start.timestamp(), end.timestamp(), step_s)
        elapsed = (t - inj.start.timestamp()) / (inj.end - inj.start).total_seconds()
        envelope = np.where((elapsed >= 0) & (elapsed <= 1), np.clip(elapsed, 0, 1) ** inj.growth_exponent, 0.0)
        return inj.amplitude_nt * float(np.sqrt(np.mean(envelope**2))) if len(t) else 0.0

    # -------------------------------------------------------------- ground truth
    def ground_truth(self) -> dict[str, Any]:
        """Everything drawn: the layout, every event with its source (null where it emits nothing: at or
        below ``detection_m0``, or with ``precursors: false``), every station's injection, storms."""
        reached = self.stations_reached()
        events = []
        for e in self.events:
            src = self.sources.get(e.event_id)
            events.append({
                "event_id": e.event_id, "time": e.time.isoformat(), "latitude": e.latitude, "longitude": e.longitude,
                "depth_km": e.depth_km, "magnitude": e.magnitude, "stations_reached": reached[e.event_id],
                "strength_nt": src.strength_nt if src else None,
                "strength_deviation_dex": src.strength_deviation_dex if src else None,
                "band_hz": list(src.band_hz) if src else None,
                "onset": src.start.isoformat() if src else None,
                "lead_days": round((src.end - src.start).total_seconds() / 86400, 4) if src else None,
                "growth_exponent": src.growth_exponent if src else None,
                "zh_ratio": src.zh_ratio if src else None,
                "seed": src.seed if src else None,
            })
        return {
            "config": self.config.to_dict(),
            "stations": {k: asdict(v) for k, v in self.stations.items()},
            "storms": [
                {**asdict(s), "onset": s.onset.isoformat()} for s in self.storms
            ],
            "events": events,
            "injections": [
                {**asdict(i), "start": i.start.isoformat(), "end": i.end.isoformat(), "band_hz": list(i.band_hz)}
                for i in self.injections
            ],
            "n_events": len(self.events),
            "coverage": self.coverage(),
        }


def _epicentre(rng: np.random.Generator, spec: dict[str, Any]) -> tuple[float, float]:
    """An epicentre drawn from a ``region`` box (uniform in area) or along a ``fault`` trace (uniform along
    its length on a local tangent plane, Gaussian across it with sd ``spread_km``)."""
    if "region" in spec:
        lat_min, lat_max, lon_min, lon_max = (float(v) for v in spec["region"])
        u = rng.uniform(math.sin(math.radians(lat_min)), math.sin(math.radians(lat_max)))
        return math.degrees(math.asin(u)), float(rng.uniform(lon_min, lon_max))
    trace = np.array(spec["fault"], dtype=np.float64)
    coslat = math.cos(math.radians(float(trace[:, 0].mean())))
    xy = np.stack([trace[:, 1] * KM_PER_DEGREE * coslat, trace[:, 0] * KM_PER_DEGREE], axis=1)  # east, north km
    seg = np.diff(xy, axis=0)
    lengths = np.hypot(seg[:, 0], seg[:, 1])
    s = rng.uniform(0, lengths.sum())
    i = min(int(np.searchsorted(np.cumsum(lengths), s)), len(lengths) - 1)
    along = seg[i] / lengths[i]
    p = xy[i] + along * (s - np.cumsum(lengths)[i] + lengths[i])
    p = p + np.array([along[1], -along[0]]) * rng.normal(0, float(spec.get("spread_km", 0.0)))
    return float(p[1] / KM_PER_DEGREE), float(p[0] / (KM_PER_DEGREE * coslat))


__all__ = ["SimConfig", "World", "Injection", "Source", "Storm", "band_noise", "emission_band", "polarised",
           "source_waveform"]
