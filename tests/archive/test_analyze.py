"""``python -m archive analyze`` with the in-process loop: the rows, resumption (a rerun writes nothing new; a
changed file is redone, and only it), failures as data, and the command line."""

from __future__ import annotations

import gzip
import json
import os
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from archive.__main__ import main
from archive.runner import AnalyzeOptions, run_analyze
from model_store.formats import frg604rc

from .helpers import windows


def _mtimes(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in root.rglob("*")
            if p.is_file() and p.name != "summary.json" and p.parent.name != "runs"}


def test_rows_carry_the_pipeline_s_windows_and_a_rerun_writes_nothing_new(real_days, tmp_path):
    out = tmp_path / "out"
    first = run_analyze(AnalyzeOptions(str(real_days), str(out), engine="loop", progress=False))
    assert first["files"]["done_now"] == 2 and first["files"]["failed_now"] == 0
    t = windows(out)
    assert t["station"].to_pylist() == ["LUT"] * 4 + ["WIC"] * 2 and set(t["year"].to_pylist()) == {2023}
    lut = [r for r in t.to_pylist() if r["station"] == "LUT"]
    assert [r["start"].hour for r in lut] == [0, 6, 12, 18] and lut[0]["model_name"] == "default"
    assert all(0 < r["precursor_probability"] < 1 and 0.02 < r["band_amplitude_nt"] < 1 for r in lut)
    assert lut[0]["latitude"] == pytest.approx(-8.21959)  # the packaged BMKG table (the FRG header has none)
    # one day of a station is no baseline yet: no p-value, no alarm, and the rows say so
    assert all(r["background_p_value"] is None and r["alarm"] is None and r["baseline_windows"] == 0 for r in lut)
    before = _mtimes(out)

    again = run_analyze(AnalyzeOptions(str(real_days), str(out), engine="loop", progress=False))
    assert again["files"]["analysed_now"] == 0 and again["files"]["already_done"] == 2
    assert again["engine"]["kind"].startswith("none") and again["rolling"]["judged_now"] == 0
    after = _mtimes(out)
    assert after == before  # nothing but the run's summary is written again


def test_a_changed_file_is_redone_alone_and_replaces_its_rows(sim_world, tmp_path):
    src = tmp_path / "in"
    for code in ("LUT", "KPY"):
        for name in sorted(os.listdir(sim_world / "raw" / code))[:4]:
            (src / code).mkdir(parents=True, exist_ok=True)
            shutil.copy(sim_world / "raw" / code / name, src / code / name)
    out = tmp_path / "out"
    run_analyze(AnalyzeOptions(str(src), str(out), engine="loop", progress=False))
    t0 = windows(out)
    assert t0.num_rows == 2 * 4 * 4
    # day 3 of KPY: an hour of its second window lost (a logger outage): the file changes, its rows change
    day = sorted((src / "KPY").iterdir())[2]
    raw = day.read_bytes()
    b = frg604rc.BLOCK_BYTES
    day.write_bytes(raw[: 42 * b] + raw[48 * b:])
    summary = run_analyze(AnalyzeOptions(str(src), str(out), engine="loop", progress=False))
    assert summary["files"]["analysed_now"] == 1 and summary["files"]["why"] == {"changed": 1}
    assert summary["rolling"]["judged_now"] == 1  # KPY only: LUT's rows are not touched
    t1 = windows(out)
    assert t1.num_rows == t0.num_rows  # replaced, not added
    keys = list(zip(t1["station"].to_pylist(), t1["start"].to_pylist()))
    assert len(keys) == len(set(keys))
    changed = [r for r in t1.to_pylist() if r["source"] == str(day.resolve())]
    assert [r["skipped_reason"] is not None for r in changed] == [False, True, False, False]
    # the rows of the files that did not change are the same rows
    same = lambda t: [r for r in t.to_pylist() if r["source"] != str(day.resolve()) and r["station"] == "LUT"]
    assert same(t1) == same(t0)
    manifest = pq.read_table(out / "manifest" / "manifest.parquet").to_pylist()
    assert len(manifest) == 8 and sum(e["url"] == str(day.resolve()) for e in manifest) == 1


def test_unreadable_files_land_in_the_failures_table_and_the_run_goes_on(real_days, tmp_path, data_dir):
    src = tmp_path / "in"
    shutil.copytree(real_days, src)
    (src / "notes.txt").write_text("not a station file\n")
    (src / "empty.sec").write_bytes(b"")
    raw = gzip.decompress((real_days / "S230101.LUT.gz").read_bytes())
    (src / "S230102.LUT.gz").write_bytes(gzip.compress(raw)[:50_000])  # a gzip stream cut short
    hour = gzip.decompress((data_dir / "wic20220810vsec_00-01h.sec.gz").read_bytes())
    (src / "wic_one_hour.sec").write_bytes(hour)  # readable, but shorter than one 6-hour window
    out = tmp_path / "out"
    summary = run_analyze(AnalyzeOptions(str(src), str(out), engine="loop", progress=False))
    assert summary["files"]["done_now"] == 2 and summary["files"]["failed_now"] == 4
    assert summary["files"]["failures_total"] == 4 and summary["failures_by_stage"] == {"read": 3, "plan": 1}
    failures = {Path(r["url"]).name: r for r in pq.read_table(out / "failures.parquet").to_pylist()}
    assert set(failures) == {"notes.txt", "empty.sec", "S230102.LUT.gz", "wic_one_hour.sec"}
    assert failures["notes.txt"]["error"] == "UnknownFormatError"
    assert "empty" in failures["empty.sec"]["reason"]
    assert failures["S230102.LUT.gz"]["error"] == "CorruptFileError" and "gzip" in failures["S230102.LUT.gz"]["reason"]
    assert failures["wic_one_hour.sec"]["stage"] == "plan" and "6 h" in failures["wic_one_hour.sec"]["reason"]
    assert all(len(f["checksum"]) == 64 for f in failures.values())
    assert windows(out).num_rows == 6
    # a failure is not retried by a plain rerun (the file has not changed), and is with --retry-failed
    assert run_analyze(AnalyzeOptions(str(src), str(out), engine="loop", progress=False))["files"]["analysed_now"] == 0
    retried = run_analyze(AnalyzeOptions(str(src), str(out), engine="loop", progress=False, retry_failed=True))
    assert retried["files"]["why"] == {"retrying a failure": 4} and retried["files"]["failures_total"] == 4


def test_the_command_line_analyses_a_glob_and_reports_a_rerun(real_days, tmp_path, capsys):
    out = tmp_path / "out"
    args = ["analyze", str(real_days / "*.LUT.gz"), "--out", str(out), "--engine", "loop", "--no-progress"]
    assert main(args) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["files"]["done_now"] == 1 and printed["windows"]["written_now"] == 4
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out)["files"]["analysed_now"] == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["files"]["already_done"] == 1 and (out / "runs").is_dir()
    assert main(["analyze", str(tmp_path / "nothing-here"), "--out", str(out), "--engine", "loop"]) == 2
