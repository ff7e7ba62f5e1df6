"""The archive on a 2-worker Dask LocalCluster: the same rows as the in-process loop, a worker killed in the
middle of a run loses nothing and writes nothing twice, and a file that kills every worker that reads it ends
up in the failures table while the run completes."""

from __future__ import annotations

import json
import os
import shutil
import signal
import threading
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from archive.__main__ import main
from archive.engines import local_cluster
from archive.runner import AnalyzeOptions, run_analyze

from .dask_hooks import ArchiveTestHooks
from .helpers import assert_same_rows, windows


@pytest.fixture(scope="module")
def client():
    """Two worker processes of one thread, as ``analyze`` starts on this machine; a task may kill one worker
    (``allowed-failures`` 1) before it comes back as KilledWorker. The test hooks are set up on every worker,
    restarted ones too."""
    from distributed import Client

    cluster = local_cluster(2, allowed_failures=1)
    c = Client(cluster)
    c.register_plugin(ArchiveTestHooks())
    yield c
    c.close()
    cluster.close()


def _inputs(tmp: Path, real_days: Path, sim_world: Path, days: int = 2) -> Path:
    src = tmp / "in"
    shutil.copytree(real_days, src / "real")
    for code in ("LUT", "KPY"):
        (src / "sim" / code).mkdir(parents=True)
        for name in sorted(os.listdir(sim_world / "raw" / code))[:days]:
            shutil.copy(sim_world / "raw" / code / name, src / "sim" / code / name)
    return src


def test_two_workers_write_the_rows_of_the_in_process_loop(client, real_days, sim_world, tmp_path, capsys):
    src = _inputs(tmp_path, real_days, sim_world)
    loop = run_analyze(AnalyzeOptions(str(src), str(tmp_path / "loop"), engine="loop", progress=False))
    # the command line attached to the running cluster, two files per task
    address = client.scheduler.address
    assert main(["analyze", str(src), "--out", str(tmp_path / "dask"), "--scheduler", address, "--batch", "2",
                 "--no-progress"]) == 0
    capsys.readouterr()
    dask = json.loads((tmp_path / "dask" / "summary.json").read_text())
    assert dask["engine"]["workers"] == 2 and dask["engine"]["scheduler"] == address
    assert dask["files"]["done_now"] == loop["files"]["done_now"] == 6
    assert_same_rows(windows(tmp_path / "loop"), windows(tmp_path / "dask"))
    # each worker loaded the model once, however many files it analysed
    from archive.task import loaded_engines

    assert set(client.run(loaded_engines).values()) == {1}


def test_a_worker_killed_mid_run_loses_no_row_and_writes_none_twice(client, real_days, sim_world, tmp_path):
    src = _inputs(tmp_path, real_days, sim_world, days=3)
    slow = src / "slow"  # every file takes a second longer to read on a worker: a kill lands mid-task
    shutil.move(str(src / "sim"), str(slow))
    reference = tmp_path / "reference"
    run_analyze(AnalyzeOptions(str(src), str(reference), engine="loop", progress=False))

    out = tmp_path / "killed"
    result: dict = {}
    run = threading.Thread(target=lambda: result.update(run_analyze(
        AnalyzeOptions(str(src), str(out), client=client, threads=1, progress=False))))
    pids = client.run(os.getpid)
    run.start()
    killed = None
    deadline = time.monotonic() + 60
    while killed is None and time.monotonic() < deadline:  # the first worker seen running a file's task
        for address, keys in client.processing().items():
            if address in pids and any(str(k).startswith("archive-analyze") for k in keys):
                os.kill(pids[address], signal.SIGKILL)
                killed = address
                break
        time.sleep(0.05)
    run.join(120)
    assert killed is not None and not run.is_alive()
    assert result["files"]["done_now"] == 8 and result["files"]["failed_now"] == 0
    assert_same_rows(windows(reference), windows(out))
    t = windows(out)
    keys = list(zip(t["station"].to_pylist(), t["start"].to_pylist()))
    assert len(keys) == len(set(keys))
    assert len(list((out / "scores").glob("*/*.parquet"))) == 8 and not list(out.rglob(".*.tmp"))
    assert pids[killed] not in client.run(os.getpid).values()  # the killed worker was replaced


def test_a_file_that_kills_its_workers_is_a_failure_and_the_run_completes(real_days, tmp_path):
    # the run's own embedded cluster (as `analyze` starts it), giving a task up at its first worker death
    # (--allowed-failures 0): the poisonous file kills one worker in the run and one more when tried alone
    src = tmp_path / "in"
    src.mkdir()
    shutil.copy(real_days / "S230101.LUT.gz", src / "S230101.LUT.gz")
    shutil.copy(real_days / "S230101.LUT.gz", src / "S230102.poison.gz")
    out = tmp_path / "out"
    from distributed import Client

    with local_cluster(2, allowed_failures=0) as cluster, Client(cluster) as c:
        c.register_plugin(ArchiveTestHooks())
        pids = set(c.run(os.getpid).values())
        summary = run_analyze(AnalyzeOptions(str(src), str(out), client=c, progress=False))
        assert len(pids - set(c.run(os.getpid).values())) >= 1  # workers died and were replaced
    assert summary["files"]["done_now"] == 1 and summary["files"]["failed_now"] == 1
    assert summary["failures_by_stage"] == {"worker": 1}
    failure, = pq.read_table(out / "failures.parquet").to_pylist()
    assert failure["url"].endswith("S230102.poison.gz") and failure["error"] == "KilledWorker"
    assert "died every time" in failure["reason"] and failure["attempts"] == 2
    assert windows(out).num_rows == 4
