"""Grouped folds, and validation carved from the training side.

Schemes: ``loeo`` groups by catalogue event (every window of one earthquake, at every station, on the
same side; Normal windows grouped by station-day), ``loso`` by station, ``time`` by contiguous time
blocks with ``gap_blocks`` left out on each side of the test block. Early stopping and model selection
use a validation split of whole groups taken from the training side only.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

SCHEME_KEYS = {"loeo": "group_event", "loso": "group_station", "time": "group_time_block"}


def _groups(rows: list[dict[str, str]], key: str) -> np.ndarray:
    return np.array([r[key] for r in rows])


def make_folds(rows: list[dict[str, str]], scheme: str, k: int, seed: int = 0, gap_blocks: int = 1) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train, test) index pairs; every group lies wholly on one side, checked before returning."""
    if scheme not in SCHEME_KEYS:
        raise ValueError(f"unknown scheme {scheme!r}; choose from {', '.join(SCHEME_KEYS)}")
    if isinstance(k, bool) or not isinstance(k, int) or k < 2:  # one fold would train on nothing
        raise ValueError(f"cross-validation needs at least 2 folds (cv.folds / --folds), got {k!r}")
    groups = _groups(rows, SCHEME_KEYS[scheme])
    unique = sorted(set(groups))
    if len(unique) < 2:
        raise ValueError(f"{scheme}: need at least two groups, found {len(unique)}")
    k = min(k, len(unique))
    folds: list[tuple[np.ndarray, np.ndarray]] = []
    if scheme == "time":
        blocks = sorted(unique, key=int)
        chunks = np.array_split(np.arange(len(blocks)), k)
        for chunk in chunks:
            test_blocks = {blocks[i] for i in chunk}
            lo, hi = chunk[0] - gap_blocks, chunk[-1] + gap_blocks
            banned = {blocks[i] for i in range(max(0, lo), min(len(blocks), hi + 1))}
            test = np.flatnonzero(np.isin(groups, list(test_blocks)))
            train_idx = np.flatnonzero(~np.isin(groups, list(banned)))
            folds.append((train_idx, test))
    else:
        # balance fold sizes: largest groups first, each to the currently smallest fold
        sizes = Counter(groups)
        tiebreak = dict(zip(unique, np.random.default_rng(seed).permutation(len(unique))))
        order = sorted(unique, key=lambda g: (-sizes[g], tiebreak[g]))
        assign: dict[str, int] = {}
        load = [0] * k
        for g in order:
            f = int(np.argmin(load))
            assign[g] = f
            load[f] += sizes[g]
        fold_of = np.array([assign[g] for g in groups])
        folds = [(np.flatnonzero(fold_of != f), np.flatnonzero(fold_of == f)) for f in range(k)]
    for train_idx, test_idx in folds:
        shared = set(groups[train_idx]) & set(groups[test_idx])
        if shared:
            raise AssertionError(f"{scheme}: groups on both sides of a fold: {sorted(shared)[:5]}")
    return folds


def carve_validation(rows: list[dict[str, str]], train_idx: np.ndarray, key: str, fraction: float,
                     seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Split training indices into (fit, validation) by whole groups of ``key``."""
    groups = _groups(rows, key)[train_idx]
    unique = sorted(set(groups))
    rng = np.random.default_rng(seed)
    n_val = max(1, int(round(fraction * len(unique)))) if len(unique) > 1 else 0
    val_groups = set(rng.permutation(unique)[:n_val].tolist())
    is_val = np.isin(groups, list(val_groups))
    return train_idx[~is_val], train_idx[is_val]


__all__ = ["SCHEME_KEYS", "carve_validation", "make_folds"]
