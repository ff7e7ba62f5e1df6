"""What ``analyze`` reads: a folder, a glob or an fsspec URL, and how an input is told from its earlier self
(the layout rule for archive is tests/test_layout.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import fsspec
import pytest

from archive.inputs import discover, input_key, read_bytes
from archive.runner import AnalyzeOptions, run_analyze

from .helpers import windows

ROOT = Path(__file__).resolve().parents[2]


def test_a_folder_a_glob_and_a_url_list_the_same_files(real_days, tmp_path):
    src = tmp_path / "in"
    shutil.copytree(real_days, src / "a")
    (src / "a" / ".partial.tmp").write_bytes(b"x")  # hidden and temporary files are left out
    (src / "_notes").mkdir()
    (src / "_notes" / "x.sec").write_bytes(b"x")
    (src / "b").mkdir()
    shutil.copy(real_days / "S230101.LUT.gz", src / "b" / "S230101.LUT")
    folder = discover(str(src))
    assert [Path(f.url).relative_to(src).as_posix() for f in folder] == [
        "a/S230101.LUT.gz", "a/wic20230712vsec_00-12h.sec.gz", "b/S230101.LUT"]
    assert [f.url for f in discover(str(src / "**" / "*LUT*"))] == [folder[0].url, folder[2].url]
    assert discover(f"file://{src}") == folder
    assert [f.url for f in discover(str(src), exclude=["*.gz"])] == [folder[2].url]
    lut = folder[0]
    assert lut.size == (real_days / "S230101.LUT.gz").stat().st_size and lut.modified.isdigit()
    assert lut.key == input_key(lut.url) and len(lut.key) == 24
    with pytest.raises(FileNotFoundError):
        discover(str(tmp_path / "missing"))


def test_an_fsspec_url_is_read_through_fsspec(real_days, tmp_path):
    fs = fsspec.filesystem("memory")
    fs.pipe("/archive-test/lut/S230101.LUT.gz", (real_days / "S230101.LUT.gz").read_bytes())
    try:
        found = discover("memory://archive-test/")
        assert [f.url for f in found] == ["memory:///archive-test/lut/S230101.LUT.gz"]
        assert read_bytes(found[0].url) == (real_days / "S230101.LUT.gz").read_bytes()
        # the in-process loop reaches the same memory filesystem (Dask workers would need a shared one)
        summary = run_analyze(AnalyzeOptions("memory://archive-test/", str(tmp_path / "out"), engine="loop",
                                             progress=False))
        assert summary["files"]["done_now"] == 1
        assert windows(tmp_path / "out")["source"].to_pylist() == [found[0].url] * 4
    finally:
        fs.rm("/archive-test", recursive=True)
