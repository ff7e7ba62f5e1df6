"""The window pipeline without the service: a real record, a real (tiny, untrained) model and its engine."""

from __future__ import annotations

import gzip
from dataclasses import replace
from datetime import timedelta

import numpy as np
import pytest

from model_store import read_series
from model_store.formats import frg604rc
from model_store.pipeline import (
    RecordTooShortError,
    TooManyWindowsError,
    analyze_series,
    make_chunk,
    plan_record,
    run_plan,
    window_image,
)

from .conftest import TINY_SPEC

SPEC = TINY_SPEC



def test_a_record_is_planned_before_anything_is_cut(lut_day):
    plan = plan_record(lut_day, SPEC, hop_s=3 * 3600)
    assert plan.n_windows == 7 and not plan.resampled and plan.hop_s == 3 * 3600
    with pytest.raises(TooManyWindowsError, match="7 windows at a 3 h hop exceed the limit of 6"):
        plan_record(lut_day, SPEC, hop_s=3 * 3600, max_windows=6)
    n = 6000  # 1.67 h
    short = replace(lut_day, h=lut_day.h[:n], d=lut_day.d[:n], z=lut_day.z[:n])
    with pytest.raises(RecordTooShortError, match=r"the record covers 1.67 h; the model needs windows of 6 h"):
        plan_record(short, SPEC)


def test_every_window_is_predicted_in_order_and_skipped_ones_say_why(lut_day_path, engine):
    raw = gzip.decompress(lut_day_path.read_bytes())
    gappy = read_series(raw[: 36 * frg604rc.BLOCK_BYTES] + raw[42 * frg604rc.BLOCK_BYTES :], format="frg604rc")
    outcomes = analyze_series(gappy, SPEC, engine.predict)
    assert [o.index for o in outcomes] == [0, 1, 2, 3]
    assert [o.window.start - gappy.start for o in outcomes] == [timedelta(hours=6 * k) for k in range(4)]
    assert outcomes[1].prediction is None and outcomes[1].image is None and "83.3%" in outcomes[1].window.skipped_reason
    for o in (outcomes[0], outcomes[2], outcomes[3]):
        total = sum(o.prediction.probabilities["magnitude"])
        assert o.window.skipped_reason is None and o.image.shape == (3, 32, 32) and total == pytest.approx(1.0)
        # the image is what its PNG holds: 8-bit levels
        assert np.array_equal(np.rint(o.image * 255) / 255, o.image.astype(np.float64))


def test_chunks_and_the_thread_that_makes_them_change_nothing(lut_day, engine):
    whole = analyze_series(lut_day, SPEC, engine.predict, hop_s=3 * 3600, chunk_size=16)
    made_here = []

    def submit(make):  # make each chunk in the calling thread
        from concurrent.futures import Future

        f: Future = Future()
        f.set_result(make())
        made_here.append(True)
        return f

    plan = plan_record(lut_day, SPEC, hop_s=3 * 3600)
    chunks = list(run_plan(plan, SPEC, engine.predict, chunk_size=2, submit=submit))
    assert [len(c) for c in chunks] == [2, 2, 2, 1] and len(made_here) == 4
    pairs = zip(whole, [o for c in chunks for o in c])
    for a, b in pairs:
        assert (a.index, a.window.start, a.window.valid_fraction) == (b.index, b.window.start, b.window.valid_fraction)
        assert np.array_equal(a.image, b.image)
        for task in ("magnitude", "azimuth"):
            assert np.allclose(a.prediction.probabilities[task], b.prediction.probabilities[task], atol=1e-6)


def test_a_chunk_releases_each_window_s_samples_once_its_image_is_made(lut_day):
    plan = plan_record(lut_day, SPEC)
    chunk = make_chunk(plan.windows, 3, SPEC)
    assert len(chunk.windows) == 3 and all(w.data is None for w in chunk.windows) and len(chunk.inputs) == 3
    rest = make_chunk(plan.windows, 3, SPEC)
    assert len(rest.windows) == 1 and make_chunk(plan.windows, 3, SPEC).windows == []
    window = next(plan_record(lut_day, SPEC).windows)
    assert np.array_equal(window_image(window, SPEC), chunk.images[0])
