"""The station store as a serving replica reads it: the latest baseline of each station asked about, read
again when it may have changed (at most every ``poll_s``), so a baseline made or deleted by another replica
is used within that interval without a restart."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from model_store.baseline_store import BaselineStore, normal_code
from model_store.baselines import BaselineError, StationBaseline
from model_store.checkpoint import Manifest
from model_store.inference import Prediction

logger = logging.getLogger(__name__)


@dataclass
class _Entry:
    checked_at: float
    version: str | None
    baseline: StationBaseline | None


class BaselineCache:
    def __init__(self, store: BaselineStore, poll_s: float) -> None:
        self.store = store
        self.poll_s = poll_s
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()

    def latest(self, code: str) -> StationBaseline | None:
        """The station's latest readable baseline (a damaged newer version is logged and passed over)."""
        code = normal_code(code)
        now = time.monotonic()
        with self._lock:
            entry = self._entries.get(code)
            if entry is not None and now - entry.checked_at < self.poll_s:
                return entry.baseline
        versions = self.store.versions(code)
        if entry is not None and (versions[-1] if versions else None) == entry.version:
            baseline = entry.baseline
        else:
            baseline = None
            for version in reversed(versions):
                try:
                    baseline = self.store.load(self.store.stored(code, version))
                    break
                except (BaselineError, OSError) as exc:
                    logger.error("station %s: baseline version %s is not used: %s", code, version, exc)
        with self._lock:
            self._entries[code] = _Entry(now, versions[-1] if versions else None, baseline)
        return baseline

    def forget(self, code: str) -> None:
        """Read the station again on its next use (after this replica wrote or deleted its baseline)."""
        with self._lock:
            self._entries.pop(normal_code(code), None)


@dataclass(frozen=True)
class Judgement:
    """How a record's windows are judged: by the station's baseline (a conformal p-value of P(event) among the
    station's ordinary windows, alarm at its false-alarm rate) or, without one for this model, by the model's
    own operating point; and what is known of the false-alarm rate, in plain words."""

    baseline: StationBaseline | None
    ref: str
    threshold: float | None
    rule: str
    false_alarm_rate: str

    @classmethod
    def of(cls, baseline: StationBaseline | None, manifest: Manifest) -> Judgement:
        ref = manifest.ref
        if baseline is not None and baseline.has_model(ref):
            model = baseline.models[ref]
            rate = baseline.false_alarm_rate
            return cls(baseline, ref, model["alarm_threshold"],
                       f"alarm when background_p_value <= {rate:g}: the window's P(event) among the "
                       f"{model['windows']} ordinary windows of station {baseline.station}'s baseline "
                       f"(version {baseline.version}, {len(baseline.days)} days)",
                       f"at most {rate:g} at this station when its baseline's days are representative of its quiet "
                       "background (conformal p-value)")
        unseen = unseen_station_false_alarm_rate(manifest)
        known = (f"on simulated stations never seen in training this model's false-alarm rate was {unseen:.3g} "
                 f"against the {manifest.calibration.alarm_target_false_alarm_rate or 0.05:g} it was calibrated for"
                 if unseen is not None else "this model's manifest records no false-alarm rate on stations never "
                 "seen in training")
        why = ("the station's baseline has no scores of this model (it was made before the model was served): make "
               "it again" if baseline is not None else "this station has no baseline")
        return cls(None, ref, manifest.calibration.alarm_threshold,
                   f"alarm when P(event) >= {manifest.calibration.alarm_threshold:g}, the model's operating point",
                   f"unknown at this station: {why} (PUT /v2/stations/{{code}}/baseline); {known}")

    def window(self, prediction: Prediction) -> tuple[float | None, bool]:
        """(background_p_value, alarm) of one predicted window."""
        if self.baseline is None:
            return None, prediction.alarm
        p = self.baseline.p_value(self.ref, prediction.precursor_probability)
        return round(p, 6), self.baseline.alarm(p)


def unseen_station_false_alarm_rate(manifest: Manifest) -> float | None:
    """The false-alarm rate the model's own evaluation measured on stations it never saw (None if not recorded)."""
    value = manifest.metrics.get("unseen_stations", {}).get("false_alarm_rate") if isinstance(
        manifest.metrics.get("unseen_stations"), dict) else None
    return float(value) if isinstance(value, (int, float)) else None
