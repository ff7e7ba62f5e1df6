"""IAGA-2002: components come from the column names; 'Reported' is only a cross-check (real WIC and BOU files)."""

import gzip
import math

import numpy as np
import pytest

from model_store import CorruptFileError, UnsupportedComponentsError, read_series


def _lines(path):
    raw = path.read_bytes()
    text = (gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw).decode("ascii")
    lines = text.splitlines()
    return lines, next(i for i, line in enumerate(lines) if line.startswith("DATE"))


def _edit_header(lines, col, old, new):
    return [line.replace(old, new) if i < col else line for i, line in enumerate(lines)]


def test_wic_ehzf_second_file_maps_columns_by_name(wic_ehzf_path):
    s = read_series(wic_ehzf_path)
    assert (s.station, s.source_format, s.sampling_interval_s, s.n_samples) == ("WIC", "iaga2002", 1.0, 12 * 3600)
    # first row: WICE 444.85, WICH 21064.24, WICZ 44140.96, WICF 88888.00 (not recorded)
    assert (s.h[0], s.d[0], s.z[0]) == (21064.24, 444.85, 44140.96)
    assert np.nanmean(s.h) == pytest.approx(21064, abs=30)  # a swap would put H near 445 nT
    assert not s.missing_mask().any()
    assert s.latitude == pytest.approx(47.928, abs=1e-3) and s.longitude == pytest.approx(15.866, abs=1e-3)


def test_reported_field_disagreeing_with_column_names_is_refused(wic_ehzf_path):
    lines, col = _lines(wic_ehzf_path)
    assert "EHZF" in lines[7] and lines[col].split()[3:7] == ["WICE", "WICH", "WICZ", "WICF"]
    lying = _edit_header(lines, col, "EHZF", "HEZF")  # reports H first while the first column is E
    with pytest.raises(CorruptFileError, match=r"reports components 'HEZF' but the column names say 'EHZF'"):
        read_series("\n".join(lying).encode())


def test_scalar_letter_differences_are_not_a_disagreement(data_dir):
    lines, col = _lines(data_dir / "BOU20200101vsec.sec")
    edited = _edit_header(lines, col, "HEZF", "HEZ")
    edited[col] = edited[col].replace("BOUF", "BOUG")
    s = read_series("\n".join(edited).encode())
    assert s.h[0] == pytest.approx(20826.85)


def test_wic_xyzf_gives_h_from_x_and_y(wic_xyzf_path):
    s = read_series(wic_xyzf_path)
    assert s.d[0] == 1765.18 and s.h[0] == pytest.approx(math.hypot(20967.20, 1765.18))
    assert s.latitude is None and s.longitude is None  # the header holds projected metres, not degrees


@pytest.mark.parametrize("order", [(1, 0, 2, 3), (3, 0, 1, 2), (2, 3, 1, 0)])
def test_any_column_order_reads_the_same(data_dir, order):
    path = data_dir / "bou20141101vmin.min"
    ref = read_series(path)
    lines, col = _lines(path)
    names = lines[col].split()[3:7]
    reported = "".join(names[k][-1] for k in order)
    out = _edit_header(lines, col, "HDZF", reported)
    out[col] = "DATE       TIME         DOY   " + "".join(f"{names[k]:>10}" for k in order) + "   |"
    for i in range(col + 1, len(out)):
        p = out[i].split()
        out[i] = " ".join(p[:3]) + "".join(f"{p[3 + k]:>10}" for k in order)
    s = read_series("\n".join(out).encode())
    for c in "hdz":
        np.testing.assert_array_equal(getattr(s, c), getattr(ref, c))


def test_instrument_frame_is_refused_with_the_reason(data_dir):
    lines, col = _lines(data_dir / "BOU20200101vsec.sec")
    uvw = _edit_header(lines, col, "HEZF", "UVWF")
    uvw[col] = uvw[col].replace("BOUH", "BOUU").replace("BOUE", "BOUV").replace("BOUZ", "BOUW")
    with pytest.raises(UnsupportedComponentsError) as exc:
        read_series("\n".join(uvw).encode())
    msg = str(exc.value)
    assert "U, V, W" in msg and "instrument" in msg and "H, D (or E), Z" in msg and "X, Y, Z" in msg


def test_unknown_components_are_named(data_dir):
    lines, col = _lines(data_dir / "BOU20200101vsec.sec")
    odd = _edit_header(lines, col, "HEZF", "HQZF")
    odd[col] = odd[col].replace("BOUE", "BOUQ")
    with pytest.raises(UnsupportedComponentsError, match="components H, Q, Z, F"):
        read_series("\n".join(odd).encode())


def test_damaged_value_names_its_line(wic_ehzf_path):
    lines, col = _lines(wic_ehzf_path)
    k = col + 30_001  # in a later block than the first
    lines[k] = lines[k].replace("44", "4x", 1)
    with pytest.raises(CorruptFileError, match=rf"line {k + 1}: "):
        read_series("\n".join(lines).encode())


def test_short_line_names_its_line(data_dir):
    lines, col = _lines(data_dir / "BOU20200101vsec.sec")
    lines[col + 5] = lines[col + 5][:40]
    with pytest.raises(CorruptFileError, match=rf"line {col + 6} has 4 fields, expected 7"):
        read_series("\n".join(lines).encode())


def test_time_going_backwards_names_its_line(data_dir):
    lines, col = _lines(data_dir / "BOU20200101vsec.sec")
    lines[col + 10], lines[col + 11] = lines[col + 11], lines[col + 10]
    with pytest.raises(CorruptFileError, match=rf"line {col + 12}: time goes backwards"):
        read_series("\n".join(lines).encode())


def test_gzipped_and_plain_give_the_same_day(wic_ehzf_path):
    plain = gzip.decompress(wic_ehzf_path.read_bytes())
    a, b = read_series(plain), read_series(wic_ehzf_path)
    for c in "hdz":
        np.testing.assert_array_equal(getattr(a, c), getattr(b, c))
