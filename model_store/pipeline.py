"""One station record through a model: read -> conform -> windows -> spectrograms -> predict -> results.

This is the chain every caller runs: ``POST /analyze``, the network endpoint, the archive runner, the
dataset builder (up to the images), the real-data and simulator checks, and the benchmarks. It is a library:
it predicts through a function it is given (an :class:`~model_store.inference.InferenceEngine`'s, or the
service's batcher), so it runs the same in a plain Python process and inside the service.

Cost stays bounded: the window count is known (and can be refused) before anything is cut; windows are cut,
made into spectrograms, predicted and turned into results a chunk at a time, and the next chunk's
spectrograms are made (by ``submit``, a thread by default) while the current chunk is predicted, so a record
holds at most two chunks of window data and images at once, never all of them.

Each window is predicted on the 8-bit image its PNG would hold (:func:`~model_store.spectrogram.quantize`),
so a window's spectrogram PNG posted to ``/predict`` gives the same answer. A station-relative input
(``InputSpec.background == "station"``) is made against a :class:`~model_store.background.Background` (the
station's baseline, or the model's reference), which the plan carries.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .background import Background
from .errors import ModelStoreError
from .input_spec import InputSpec
from .series import StationSeries
from .spectrogram import normalize, quantize, window_to_image
from .windows import Window, conform_sampling, iter_windows, window_count

if TYPE_CHECKING:  # the engine imports torch; the pipeline itself needs none (a reader-only process stays light)
    from .inference.engine import ExplainRequest, Prediction

#: predicts normalised inputs (C, H, W), with an optional Grad-CAM request each
Predict = Callable[[list[np.ndarray], list["ExplainRequest | None"]], list["Prediction"]]
#: runs a function (making a chunk) somewhere and gives its future
Submit = Callable[[Callable[[], "Chunk"]], "Future[Chunk]"]


class RecordTooShortError(ModelStoreError):
    """The record is shorter than one window of the model's input."""


class TooManyWindowsError(ModelStoreError):
    """The record would be cut into more windows than the caller allows."""


@dataclass
class RecordPlan:
    """A record at the model's sampling and how it will be cut (windows are cut lazily)."""

    series: StationSeries  # at the spec's sampling
    resampled: bool
    hop_s: float  # the hop in seconds, rounded to whole samples as windows are cut
    n_windows: int
    windows: Iterator[Window]
    background: Background | None = None  # what a station-relative input is made against


def plan_record(series: StationSeries, spec: InputSpec, hop_s: float | None = None,
                max_windows: int | None = None, background: Background | None = None) -> RecordPlan:
    """Conform ``series`` to the spec's sampling and count its windows at ``hop_s`` (default: the spec's);
    refuse a record shorter than a window, or one of more than ``max_windows`` windows, before cutting any.
    A station-relative input needs ``background``."""
    if spec.background == "station" and background is None:
        raise ValueError("a station-relative input needs a background (the station's baseline or the model's)")
    conformed = conform_sampling(series, spec)
    span_s = conformed.n_samples * spec.sample_interval_s
    if span_s < spec.window_s:
        raise RecordTooShortError(
            f"the record covers {span_s / 3600:.2f} h; the model needs windows of {spec.window_s / 3600:g} h")
    hop = spec.hop_s if hop_s is None else hop_s
    n_windows = window_count(conformed.n_samples, spec, hop)
    if max_windows is not None and n_windows > max_windows:
        raise TooManyWindowsError(
            f"{n_windows} windows at a {hop / 3600:g} h hop exceed the limit of {max_windows}; "
            "use a larger hop or a shorter record")
    return RecordPlan(conformed, conformed is not series, hop, n_windows, iter_windows(conformed, spec, hop), background)


def window_image(window: Window, spec: InputSpec, background: Background | None = None) -> np.ndarray | None:
    """A window's image as its PNG holds it (8-bit levels, in [0, 1]); None for a skipped window."""
    if window.data is None:
        return None
    rows = background.rows_for(window.start) if spec.background == "station" else None
    return quantize(window_to_image(window.data, spec, rows))


@dataclass
class Chunk:
    windows: list[Window]  # their samples released once the images are made
    images: list[np.ndarray | None]  # quantised image in [0, 1], None for a skipped window
    inputs: list[np.ndarray]  # model inputs of the windows with an image, in order


def make_chunk(windows: Iterator[Window], size: int, spec: InputSpec, background: Background | None = None) -> Chunk:
    """Up to ``size`` more windows with their images and model inputs."""
    chunk = Chunk([], [], [])
    for w in windows:
        image = window_image(w, spec, background)
        w.data = None  # the samples are not needed once the image is made
        chunk.windows.append(w)
        chunk.images.append(image)
        if image is not None:
            chunk.inputs.append(normalize(image, spec))
        if len(chunk.windows) == size:
            break
    return chunk


@dataclass
class WindowOutcome:
    """One window of a record: where it is, its image (None if skipped) and the model's answer."""

    index: int
    window: Window
    image: np.ndarray | None
    prediction: Prediction | None


def _outcomes(chunk: Chunk, first: int, predictions: list[Prediction] | None) -> list[WindowOutcome]:
    predicted = iter(predictions or ())
    return [WindowOutcome(first + k, w, image, None if image is None or predictions is None else next(predicted))
            for k, (w, image) in enumerate(zip(chunk.windows, chunk.images))]


def run_plan(plan: RecordPlan, spec: InputSpec, predict: Predict | None, *, chunk_size: int = 16,
             explain: ExplainRequest | None = None, submit: Submit | None = None) -> Iterator[list[WindowOutcome]]:
    """Every window of ``plan``, predicted (``predict`` None: images only), a chunk of at most ``chunk_size`` at
    a time (in order).

    The next chunk is made by ``submit`` (default: a thread of its own) while the current one is predicted.
    """
    own = ThreadPoolExecutor(1, thread_name_prefix="chunks") if submit is None else None
    submit = submit or own.submit  # type: ignore[union-attr]
    making: Future[Chunk] | None = submit(lambda: make_chunk(plan.windows, chunk_size, spec, plan.background))
    done = 0
    try:
        while making is not None:
            chunk = making.result()
            if not chunk.windows:
                break
            first, done = done, done + len(chunk.windows)
            making = (submit(lambda: make_chunk(plan.windows, chunk_size, spec, plan.background))
                      if done < plan.n_windows else None)
            predictions = None if predict is None else (
                predict(chunk.inputs, [explain] * len(chunk.inputs)) if chunk.inputs else [])
            yield _outcomes(chunk, first, predictions)
    finally:
        if making is not None:
            making.cancel()  # an error or a refusal ended the loop early
        if own is not None:
            own.shutdown(wait=False)


def analyze_series(series: StationSeries, spec: InputSpec, predict: Predict | None, *, hop_s: float | None = None,
                   max_windows: int | None = None, chunk_size: int = 16, explain: ExplainRequest | None = None,
                   background: Background | None = None) -> list[WindowOutcome]:
    """Every window of a record, predicted: :func:`plan_record` then :func:`run_plan`."""
    plan = plan_record(series, spec, hop_s, max_windows, background)
    return [o for chunk in run_plan(plan, spec, predict, chunk_size=chunk_size, explain=explain) for o in chunk]


__all__ = ["Chunk", "Predict", "RecordPlan", "RecordTooShortError", "Submit", "TooManyWindowsError", "WindowOutcome",
           "analyze_series", "make_chunk", "plan_record", "run_plan", "window_image"]
