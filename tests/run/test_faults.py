"""Faults lose nothing, with real processes: a run killed halfway (SIGKILL), a truncated result
file, and two runs writing the same results folder at once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench import results
from bench.results import ledger

pytestmark = pytest.mark.slow  # real processes: the harness, its children, Ray

ROOT = Path(__file__).resolve().parents[2]
# Two quick models, two seeds: four cells of a few seconds each.
RUN = ["-m", "bench", "run", "--model", "gru,rnn", "--framework", "torch", "--task",
       "flipflop-2bit-ring", "--profile", "smoke", "--seeds", "0-1"]


def _bench(results_dir: Path, *extra: str, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, *RUN, "--results-dir", str(results_dir), *extra],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True, **kw)


def _all_whole(results_dir: Path) -> list[Path]:
    """Every result file parses, passes the schema, and is the suite's own."""
    files = results.result_files(results_dir)
    for p in files:
        results.read(p)
        assert ledger.verified(results_dir, p), p
    return files


def test_a_killed_run_keeps_every_finished_cell_and_a_rerun_finishes_the_rest(tmp_path):
    proc = _bench(tmp_path)
    deadline = time.monotonic() + 300
    while len(results.result_files(tmp_path)) < 2:  # halfway, or so
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)  # the run, mid-cell (its children go with it)
    proc.wait()
    done = _all_whole(tmp_path)
    assert 2 <= len(done) < 4
    rerun = _bench(tmp_path)
    out, _ = rerun.communicate(timeout=600)
    assert rerun.returncode == 0, out
    assert f"{len(done)} already done" in out and f"{4 - len(done)} done" in out
    assert len(_all_whole(tmp_path)) == 4


def test_a_truncated_result_is_named_by_the_leaderboard_and_redone_by_a_rerun(tmp_path):
    first = _bench(tmp_path, "--seeds", "0")
    assert first.wait(timeout=600) == 0
    victim = results.result_files(tmp_path)[0]
    victim.write_text(victim.read_text()[:100])  # cut mid-document
    lb = subprocess.run([sys.executable, "-m", "bench", "leaderboard", "--results-dir",
                         str(tmp_path), "--out", str(tmp_path / "lb")], cwd=ROOT,
                        capture_output=True, text=True)
    assert lb.returncode == 1 and "Traceback" not in lb.stderr  # skipped; the rest written
    assert lb.stderr.strip().splitlines() == [
        f"error: {victim}: not valid JSON; delete it and rerun the cell (skipped)"]
    again = _bench(tmp_path, "--seeds", "0")
    out, _ = again.communicate(timeout=600)
    assert again.returncode == 0 and "its result file is unreadable" in out
    assert "1 done, 1 already done" in out
    assert json.loads(victim.read_text())["status"] == "ok"
    _all_whole(tmp_path)


def test_two_runs_on_one_results_folder_corrupt_nothing(tmp_path):
    runs = [_bench(tmp_path, "--seeds", "0"), _bench(tmp_path, "--seeds", "0")]
    outs = [r.communicate(timeout=900)[0] for r in runs]
    assert [r.returncode for r in runs] == [0, 0], outs
    files = _all_whole(tmp_path)
    assert len(files) == 2 and len(ledger.entries(tmp_path)) == 2
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")]
