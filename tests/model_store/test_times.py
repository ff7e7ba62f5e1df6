"""Times in text formats are validated and computed byte by byte: every accepted form gives numpy's value,
anything else is refused naming the line, and no input reaches numpy's datetime cast (which crashed the
process on a file of more than about 512 rows with one bad time)."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest

from model_store import read_series
from model_store.errors import CorruptFileError
from model_store.formats._times import _parse

ROOT = Path(__file__).resolve().parents[2]
CSV_HEADER = "time,H,D,Z\n"


def _csv(times: list[str]) -> bytes:
    return (CSV_HEADER + "".join(f"{t},1,2,3\n" for t in times)).encode()


def _iaga(data_dir: Path, edit) -> bytes:
    lines = (data_dir / "BOU20200101vsec.sec").read_text().splitlines(keepends=True)
    first = next(i for i, line in enumerate(lines) if line.startswith("DATE"))
    rows = lines[first + 1 :]
    return "".join(lines[: first + 1] + edit(rows)).encode()


def _read_in_a_subprocess(data: bytes, tmp_path: Path, name: str) -> tuple[int, str]:
    """read_series in a fresh process: (its exit status, what it printed): a crash fails the test, not the run."""
    path = tmp_path / name
    path.write_bytes(data)
    code = ("import sys\nfrom model_store import read_series\nfrom model_store.errors import ReadError\n"
            "try:\n    read_series(sys.argv[1]); print('read')\nexcept ReadError as exc:\n    print(exc)\n")
    done = subprocess.run([sys.executable, "-c", code, str(path)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    return done.returncode, done.stdout.strip()


SECOND = [str(np.datetime64("2020-01-01T00:00:00") + k) for k in range(600)]


@pytest.mark.parametrize("bad, why", [
    ("2020-13-01T00:09:59", "out of range"), ("2020-01-01T25:09:59", "out of range"),
    ("2020-01-01T00:0\xe0:59", "not an ISO-8601"), ("2020-01-01-01T00:09:59", "not an ISO-8601"),
])
def test_600_csv_rows_with_one_bad_time_are_refused_naming_it(tmp_path, bad, why):
    code, out = _read_in_a_subprocess(_csv(SECOND[:599] + [bad]), tmp_path, "bad.csv")
    assert code == 0, f"the reader died ({code})"
    assert out.startswith(f"{tmp_path / 'bad.csv'}: line 601: time ") and why in out, out


@pytest.mark.parametrize("edit, why", [
    (lambda rows: rows[:500] + [rows[500].replace("00:08:20.000", "0008:20.000")] + rows[501:], "not an ISO-8601"),
    (lambda rows: rows[:500] + [rows[500].replace("00:08:20.000", "00:08:20.0")] + rows[501:600] +
     [rows[600].replace("2020-01-01", "2020-02-30")], "out of range"),
    (lambda rows: [r.replace(".000 ", "    ", 1) for r in rows[:599]] + [rows[599].replace("2020-01-01", "2020-01-32")],
     "out of range"),
])
def test_iaga2002_rows_with_one_bad_time_are_refused_naming_it(tmp_path, data_dir, edit, why):
    code, out = _read_in_a_subprocess(_iaga(data_dir, edit), tmp_path, "bad.sec")
    assert code == 0, f"the reader died ({code})"
    assert "line " in out and why in out, out


def test_every_accepted_form_gives_numpys_value():
    rng = np.random.default_rng(0)
    texts = []
    for _ in range(2000):
        y, mo, d = rng.integers(1, 10000), rng.integers(1, 13), rng.integers(1, 29)
        h, mi, s, us = rng.integers(0, 24), rng.integers(0, 60), rng.integers(0, 60), rng.integers(0, 10**6)
        t, form = f"{y:04d}-{mo:02d}-{d:02d}", rng.integers(4)
        if form >= 1:
            t += str(rng.choice(["T", " ", "t"])) + f"{h:02d}:{mi:02d}"
        if form >= 2:
            t += f":{s:02d}"
        if form >= 3:
            t += "." + f"{us:06d}{rng.integers(0, 1000):03d}"[: rng.integers(1, 10)]
        texts.append(t)
    text = np.array([t.encode() for t in texts])
    m = text.view(np.uint8).reshape(len(texts), -1)
    # numpy's own parser, a few rows at a time (it is safe on short arrays); it does not take a lower-case t
    expected = np.concatenate([np.array([t.replace("t", "T") for t in texts[k : k + 100]]).astype("datetime64[us]")
                               for k in range(0, len(texts), 100)]).astype(np.int64)
    assert np.array_equal(_parse(m, np.arange(len(texts)), "x", "time"), expected)


@pytest.mark.parametrize("text", [
    "now", "today", "20200101", "2020-01", "2020", "2020-01-01T00", "2020-01-01T00:00:00.", "2020-1-1",
    "+2020-01-01", "0000-01-01", "2020-02-30", "2021-02-29", "2016-12-31T23:59:60", "2020-01-01T24:00:00",
    "2020-01-01T00:00:00.1234567890", "2020-01-01X00:00", "2020-01-01T00:00:0",
])
def test_anything_else_is_refused(text):
    m = np.array([text.encode()]).view(np.uint8).reshape(1, -1)
    with pytest.raises(CorruptFileError, match=re.escape(f"x: line 7: time '{text}' is ")):
        _parse(m, np.array([7]), "x", "time")


def test_leap_days_and_zones_in_a_csv():
    s = read_series(_csv(["2024-02-29T23:00:00+01:00", "2024-02-29T22:00:01Z", "2024-02-29 22:00:02"]))
    assert s.start == datetime(2024, 2, 29, 22, tzinfo=timezone.utc) and s.n_samples == 3
