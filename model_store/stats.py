"""The one grouped (cluster) bootstrap of the project, for training's metrics and the skill scores.

Rows belong to groups (a catalogue event and all its windows, a station-day of Normal windows, ...);
a replicate draws as many whole groups as there are, with replacement, and recomputes a statistic on
the rows of the drawn groups. Resampling groups rather than rows keeps rows that are not independent
(the windows of one earthquake) together, so intervals are not too narrow.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np


def grouped_bootstrap(groups: Sequence[Any] | np.ndarray, stat: Callable[[np.ndarray], Any], n_boot: int = 1000,
                      seed: int = 0) -> np.ndarray | None:
    """Replicates of ``stat(idx)``, ``idx`` the row indices of whole groups drawn with replacement.

    ``groups`` gives each row's group label. The distinct labels are taken in sorted order and each
    replicate draws ``rng.integers(0, G, size=G)`` from ``numpy.random.default_rng(seed)`` (G groups);
    ``idx`` lists the rows of the drawn groups in the order drawn, each group's rows in their original
    order. ``stat`` may return a number or a sequence of k numbers; the result is an array of shape
    (n_boot,) or (n_boot, k). None when there are fewer than two groups (no interval can be had).
    """
    labels = np.asarray(groups)
    if labels.ndim != 1:
        raise ValueError("groups must be one label per row")
    names, codes = np.unique(labels, return_inverse=True)
    n_groups = len(names)
    if n_groups < 2:
        return None
    order = np.argsort(codes, kind="stable")
    counts = np.bincount(codes, minlength=n_groups)
    offsets = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rng = np.random.default_rng(seed)
    replicates = []
    for _ in range(n_boot):
        pick = rng.integers(0, n_groups, size=n_groups)
        lengths = counts[pick]
        before = np.cumsum(lengths) - lengths
        idx = order[np.repeat(offsets[pick] - before, lengths) + np.arange(int(lengths.sum()))]
        replicates.append(stat(idx))
    return np.asarray(replicates, dtype=float)


def percentile_interval(replicates: np.ndarray, alpha: float = 0.05) -> np.ndarray:
    """The ``(alpha/2, 1 - alpha/2)`` percentiles of the replicates, ignoring NaN (per column if 2-D)."""
    return np.nanpercentile(replicates, [100 * alpha / 2, 100 * (1 - alpha / 2)], axis=0)


def grouped_bootstrap_ci(groups: Sequence[Any] | np.ndarray, stat: Callable[[np.ndarray], float], n_boot: int = 1000,
                         seed: int = 0, alpha: float = 0.05) -> tuple[float, float] | None:
    """Percentile interval ``(low, high)`` of a scalar ``stat`` over :func:`grouped_bootstrap` replicates."""
    replicates = grouped_bootstrap(groups, stat, n_boot, seed)
    if replicates is None:
        return None
    lo, hi = percentile_interval(replicates, alpha)
    return float(lo), float(hi)


__all__ = ["grouped_bootstrap", "grouped_bootstrap_ci", "percentile_interval"]
