"""Limits are checked while reading and memory stays bounded, gzip included."""

import gzip
import tracemalloc

import pytest

from model_store import CorruptFileError, read_series
from model_store.formats import _grid


def _peak_mb(fn):
    tracemalloc.start()
    try:
        fn()
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak / 2**20


def _header(path):
    text = gzip.decompress(path.read_bytes())
    return text[: text.index(b"\n", text.index(b"\nDATE") + 1) + 1]


def test_one_endless_line_is_refused_at_once_in_bounded_memory(wic_ehzf_path):
    bomb = gzip.compress(_header(wic_ehzf_path) + b"1 " * 20_000_000, compresslevel=1)  # 40 MB, one line
    def read():
        with pytest.raises(CorruptFileError, match="line 19 runs past 4096 bytes"):
            read_series(bomb)
    assert _peak_mb(read) < 8


def test_reading_a_day_costs_a_small_multiple_of_the_record(wic_ehzf_path):
    record_mb = 12 * 3600 * 3 * 8 / 2**20
    peak = _peak_mb(lambda: read_series(wic_ehzf_path))
    assert peak < 4 * record_mb + 8  # one block of text in flight, never the whole inflated file


def test_row_limit_is_hit_before_later_blocks_are_parsed(wic_ehzf_path, monkeypatch):
    text = gzip.decompress(wic_ehzf_path.read_bytes()).splitlines(keepends=True)
    text[-1000] = b"garbage in a later block\r\n"
    monkeypatch.setattr(_grid, "MAX_GRID_SAMPLES", 5_000)
    with pytest.raises(CorruptFileError, match="more than 5000 rows"):
        read_series(gzip.compress(b"".join(text)))


def test_span_limit_is_checked_while_reading(wic_ehzf_path):
    text = gzip.decompress(wic_ehzf_path.read_bytes()).splitlines(keepends=True)
    col = next(i for i, line in enumerate(text) if line.startswith(b"DATE"))
    text[col + 100 :] = [line.replace(b"2023-07-12", b"2023-09-12") for line in text[col + 100 :]]  # 62 days at 1 s
    text[-1000] = b"garbage in a later block\r\n"
    with pytest.raises(CorruptFileError, match=r"by line 14563 the rows span 53\d{5} samples of 1 s; at most 2678400"):
        read_series(b"".join(text))


def test_gzip_bomb_posing_as_a_binary_day_stops_at_one_day(lut_day_path):
    bomb = gzip.compress(gzip.decompress(lut_day_path.read_bytes()) * 40, compresslevel=1)
    with pytest.raises(CorruptFileError, match="gzip input expands beyond 1.41"):
        read_series(bomb, format="frg604rc")
    assert _peak_mb(lambda: pytest.raises(CorruptFileError, read_series, bomb, format="frg604rc")) < 10
