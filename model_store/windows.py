"""A station record cut into the windows a model reads: resampled to the spec's sampling, then full windows
of ``window_s`` every hop, each with its valid-sample fraction and longest gap, short gaps interpolated, and
windows with too much missing data reported (``skipped_reason``) instead of filled."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from fractions import Fraction

import numpy as np

from .errors import UnsupportedSamplingError
from .input_spec import InputSpec
from .series import StationSeries


# ---------------------------------------------------------------- sampling
def conform_sampling(series: StationSeries, spec: InputSpec) -> StationSeries:
    """Return ``series`` at the spec's sample interval, or refuse if it is sampled too slowly.

    Faster data is decimated with a zero-phase anti-alias FIR (polyphase); samples whose
    neighbourhood had missing data stay missing.
    """
    dt, target = series.sampling_interval_s, spec.sample_interval_s
    if math.isclose(dt, target, rel_tol=1e-6):
        return series
    if dt > target:
        raise UnsupportedSamplingError(
            f"data sampled every {dt:g} s (Nyquist {0.5 / dt:g} Hz) cannot support this model's input, "
            f"which needs samples every {target:g} s for frequencies up to {spec.fmax_hz:g} Hz"
        )
    ratio = Fraction(target / dt).limit_denominator(1000)
    up, down = ratio.denominator, ratio.numerator
    missing = series.missing_mask()
    channels = []
    from scipy.signal import (
        resample_poly,  # imported only to resample: it holds ~60 MB of a serving process
    )

    for x in series.stacked():
        y = resample_poly(_interpolate_gaps(x), up, down)
        channels.append(y)
    # A decimated sample is missing if any input sample in its span was missing.
    n_out = len(channels[0])
    span = np.minimum((np.arange(n_out + 1) * down) // up, len(missing))
    counts = np.add.reduceat(np.r_[missing, False].astype(np.int64), span[:-1]) if n_out else np.array([])
    bad = counts > 0
    for y in channels:
        y[bad] = np.nan
    return StationSeries(
        station=series.station,
        start=series.start,
        sampling_interval_s=target,
        h=channels[0],
        d=channels[1],
        z=channels[2],
        source_format=series.source_format,
        latitude=series.latitude,
        longitude=series.longitude,
    )


def _interpolate_gaps(x: np.ndarray) -> np.ndarray:
    """Linear interpolation over NaNs (edges held at the nearest valid value); all-NaN gives zeros."""
    bad = np.isnan(x)
    if not bad.any():
        return x.astype(np.float64, copy=True)
    if bad.all():
        return np.zeros_like(x, dtype=np.float64)
    idx = np.arange(len(x))
    out = x.astype(np.float64, copy=True)
    out[bad] = np.interp(idx[bad], idx[~bad], x[~bad])
    return out


def _longest_run(mask: np.ndarray) -> int:
    if not mask.any():
        return 0
    padded = np.r_[False, mask, False].astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return int((edges[1::2] - edges[::2]).max())


# ---------------------------------------------------------------- windows
@dataclass
class Window:
    """One analysis window. ``data`` is (3, n) with short gaps interpolated, or None if skipped."""

    start: datetime
    end: datetime
    valid_fraction: float
    longest_gap_s: float
    data: np.ndarray | None = field(default=None, repr=False)
    skipped_reason: str | None = None


def window_step(spec: InputSpec, hop_s: float | None = None) -> int:
    """Samples between window starts: ``hop_s`` (default ``spec.hop_s``) rounded to whole samples, at least 1.

    Counting windows (:func:`window_count`) and cutting them use this same rounding, so a limit on the
    count holds for what is cut."""
    hop = spec.hop_s if hop_s is None else hop_s
    if not hop > 0:
        raise ValueError("hop must be positive")
    return max(1, int(round(hop / spec.sample_interval_s)))


def window_count(n_samples: int, spec: InputSpec, hop_s: float | None = None) -> int:
    """How many full windows :func:`cut_windows` cuts from ``n_samples`` samples at the spec's sampling."""
    n = spec.samples_per_window
    return 0 if n_samples < n else (n_samples - n) // window_step(spec, hop_s) + 1


def iter_windows(series: StationSeries, spec: InputSpec, hop_s: float | None = None) -> Iterator[Window]:
    """Full windows of ``spec.window_s`` every ``hop_s`` (default ``spec.hop_s``, rounded to whole samples)
    from the start, one at a time: a window's data is made only when it is reached.

    The series must already be at the spec's sampling (see :func:`conform_sampling`).
    """
    if not math.isclose(series.sampling_interval_s, spec.sample_interval_s, rel_tol=1e-6):
        raise UnsupportedSamplingError(
            f"series sampled every {series.sampling_interval_s:g} s; conform it to {spec.sample_interval_s:g} s first"
        )
    n = spec.samples_per_window
    step = window_step(spec, hop_s)
    stacked = series.stacked()
    missing = series.missing_mask()
    for i0 in range(0, series.n_samples - n + 1, step):
        miss = missing[i0 : i0 + n]
        valid = 1.0 - float(miss.mean())
        gap_s = _longest_run(miss) * spec.sample_interval_s
        start = series.start + timedelta(seconds=i0 * spec.sample_interval_s)
        w = Window(start, start + timedelta(seconds=spec.window_s), valid, gap_s)
        if valid < spec.min_valid_fraction:
            w.skipped_reason = (
                f"only {valid:.1%} of samples present; at least {spec.min_valid_fraction:.0%} needed"
            )
        elif gap_s > spec.max_gap_s:
            w.skipped_reason = f"gap of {gap_s:g} s exceeds the {spec.max_gap_s:g} s that may be interpolated"
        else:
            w.data = np.stack([_interpolate_gaps(c) for c in stacked[:, i0 : i0 + n]])
        yield w


def cut_windows(series: StationSeries, spec: InputSpec, hop_s: float | None = None) -> list[Window]:
    """Every window :func:`iter_windows` gives, with its data."""
    return list(iter_windows(series, spec, hop_s))
