"""The spectrogram pipeline: windows, fixed scaling, PNG round trip, sampling rules."""

from dataclasses import replace
from datetime import timedelta

import numpy as np
import pytest

from model_store import InputSpec, InvalidImageError, LayoutMismatchError, StationSeries, UnsupportedSamplingError
from model_store.png import image_to_png, png_to_image
from model_store.spectrogram import spectrogram_db, window_to_image
from model_store.windows import conform_sampling, cut_windows, window_count

SPEC = InputSpec()


def _series(lut_day, **changes):
    fields = dict(
        station="X", start=lut_day.start, sampling_interval_s=1.0, h=lut_day.h, d=lut_day.d, z=lut_day.z,
        source_format="test",
    )
    fields.update(changes)
    return StationSeries(**fields)


def test_default_spec_follows_the_reference_recipe():
    assert (SPEC.window_s, SPEC.nperseg, SPEC.noverlap, SPEC.fmax_hz) == (21600, 256, 128, 0.5)
    assert SPEC.image_size == (224, 224) and SPEC.channels == ("H", "D", "Z")
    assert InputSpec.from_dict(SPEC.to_dict()) == SPEC


def test_real_day_cuts_four_windows_and_reports_the_gap(lut_day):
    windows = cut_windows(conform_sampling(lut_day, SPEC), SPEC)
    assert [w.start - lut_day.start for w in windows] == [timedelta(hours=h) for h in (0, 6, 12, 18)]
    assert [w.valid_fraction for w in windows[:3]] == [1.0, 1.0, 1.0]
    assert windows[3].valid_fraction == pytest.approx(1 - 60 / 21600)
    assert windows[3].longest_gap_s == 60
    assert all(w.skipped_reason is None and not np.isnan(w.data).any() for w in windows)


@pytest.mark.parametrize("hop_s", [600.0, 600.4, 599.6, 3600.5, 21599.5, 21600.4, 43200.0])
def test_the_window_count_is_what_is_cut_at_the_hop_rounded_to_whole_samples(lut_day, hop_s):
    series = _series(lut_day, h=lut_day.h[:30_000], d=lut_day.d[:30_000], z=lut_day.z[:30_000])
    starts = [w.start - series.start for w in cut_windows(series, SPEC, hop_s=hop_s)]
    step = timedelta(seconds=round(hop_s))
    assert starts == [k * step for k in range(len(starts))]
    assert window_count(series.n_samples, SPEC, hop_s) == len(starts)


def test_windows_with_too_many_gaps_are_reported_not_filled(lut_day):
    h = lut_day.h.copy()
    h[6 * 3600 : 6 * 3600 + 1200] = np.nan  # a 20-minute gap in the second window
    h[12 * 3600 : 18 * 3600 : 5] = np.nan  # 20% scattered loss in the third
    windows = cut_windows(_series(lut_day, h=h), SPEC)
    assert windows[0].skipped_reason is None
    assert "gap of 1200 s" in windows[1].skipped_reason and windows[1].data is None
    assert "80.0% of samples" in windows[2].skipped_reason


def test_our_linear_detrend_matches_scipys(lut_day):
    from scipy import signal

    w = cut_windows(lut_day, SPEC)[0].data
    _, _, p = signal.spectrogram(w, fs=1.0, window="hann", nperseg=256, noverlap=128, detrend="linear",
                                 scaling="density", axis=-1)
    np.testing.assert_allclose(spectrogram_db(w, SPEC), 10 * np.log10(p + 1e-12), atol=1e-4)


def test_fixed_db_scale_keeps_absolute_amplitude(lut_day):
    w = cut_windows(lut_day, SPEC)[0].data
    quiet = window_to_image(w, SPEC)
    loud = window_to_image(w * 10.0, SPEC)  # 10x amplitude = +20 dB
    assert loud.mean() > quiet.mean() + 0.1
    # a per-image min-max scaling would make these nearly identical
    db_q, db_l = spectrogram_db(w, SPEC), spectrogram_db(w * 10.0, SPEC)
    assert np.median(db_l - db_q) == pytest.approx(20.0, abs=0.5)


def test_injected_tone_lands_at_its_frequency_row(lut_day):
    t = np.arange(SPEC.samples_per_window)
    data = cut_windows(lut_day, SPEC)[0].data.copy()
    data[2] += 5.0 * np.sin(2 * np.pi * 0.05 * t)  # 0.05 Hz in Z
    img = window_to_image(data, SPEC)
    row_profile = img[2].mean(axis=1)  # low frequency at the bottom
    expected_row = round((1 - 0.05 / 0.5) * (SPEC.image_height - 1))
    assert abs(int(np.argmax(row_profile)) - expected_row) <= 2
    assert np.argmax(img[0].mean(axis=1)) != np.argmax(row_profile)  # H untouched


def test_png_route_equals_array_route_up_to_quantisation(lut_day):
    img = window_to_image(cut_windows(lut_day, SPEC)[0].data, SPEC)
    decoded = png_to_image(image_to_png(img), SPEC)
    assert not decoded.resized and decoded.original_size == (224, 224)
    assert np.abs(decoded.image - img).max() <= 0.5 / 255 + 1e-6


def test_png_of_another_size_is_resized_if_its_aspect_ratio_fits(lut_day):
    img = window_to_image(cut_windows(lut_day, SPEC)[0].data, replace(SPEC, image_height=150, image_width=150))
    decoded = png_to_image(image_to_png(img), SPEC)
    assert decoded.resized and decoded.original_size == (150, 150)
    assert decoded.image.shape == (3, 224, 224)
    wide = window_to_image(cut_windows(lut_day, SPEC)[0].data, replace(SPEC, image_height=100, image_width=150))
    with pytest.raises(LayoutMismatchError, match="PNG is 150x100; this model expects a 224x224 RGB power"):
        png_to_image(image_to_png(wide), SPEC)


@pytest.mark.parametrize("data", [b"", b"GIF89a....", b"\x89PNG\r\n\x1a\n" + b"\x00" * 40])
def test_bad_png_is_refused(data):
    with pytest.raises(InvalidImageError):
        png_to_image(data, SPEC)


def test_png_decompression_bomb_is_refused():
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("L", (5000, 5000)).save(buf, format="PNG")
    with pytest.raises(InvalidImageError, match="pixels"):
        png_to_image(buf.getvalue(), SPEC)


def test_minute_data_is_refused_for_a_one_hertz_spec(data_dir):
    from model_store import read_series

    with pytest.raises(UnsupportedSamplingError, match="every 60 s"):
        conform_sampling(read_series(data_dir / "bou20141101vmin.min"), SPEC)


def test_ten_hertz_data_is_decimated_with_anti_aliasing(lut_day):
    t = np.arange(6 * 3600 * 10) / 10.0
    signal_in_band = np.sin(2 * np.pi * 0.05 * t)
    alias_prone = np.sin(2 * np.pi * 1.98 * t)  # would alias to 0.02 Hz without a filter
    x = signal_in_band + alias_prone
    x[1000:1010] = np.nan
    s = _series(lut_day, sampling_interval_s=0.1, h=x, d=x.copy(), z=x.copy())
    out = conform_sampling(s, SPEC)
    assert out.sampling_interval_s == 1.0 and out.n_samples == 21600
    assert np.isnan(out.h[100]) and not np.isnan(out.h[200])
    core = slice(1000, -1000)
    np.testing.assert_allclose(out.h[core], signal_in_band[::10][core], atol=0.02)
