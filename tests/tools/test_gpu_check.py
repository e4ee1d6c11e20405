"""``bench.tools.gpu_check``: on a machine without CUDA it fails in one line before running
anything; its steps cover every baseline in both frameworks on cuda, perf at the GPU sizes
without sweeps, and the tests marked gpu, all writing under the folder given."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from bench.tools import gpu_check

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")
def test_without_cuda_it_fails_in_one_line_and_runs_nothing(tmp_path):
    out = tmp_path / "check"
    r = subprocess.run([sys.executable, "-m", "bench", "gpu-check", "--out", str(out)],
                       cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in r.stderr
    assert lines[0].startswith("error: gpu-check: torch") and "no CUDA GPU" in lines[0]
    assert not out.exists()


def test_the_steps_cover_every_cuda_path_and_write_only_under_out(tmp_path):
    steps = {s.name: s for s in gpu_check.steps(tmp_path)}
    assert list(steps) == ["smoke", "perf", "tests", "leaderboard"]
    smoke = steps["smoke"].command
    assert smoke[smoke.index("--device") + 1] == "cuda"
    assert smoke[smoke.index("--framework") + 1] == "all"
    assert set(smoke[smoke.index("--model") + 1].split(",")) == {
        "gnode", "node", "gru", "lstm", "mgru", "rnn"}
    perf = steps["perf"].command
    assert "--no-sweeps" in perf and perf[perf.index("--device") + 1] == "cuda"
    assert steps["tests"].command[steps["tests"].command.index("-m", 3) + 1] == "gpu"
    for step in steps.values():  # every path it writes is under the folder given
        paths = [a.split("=", 1)[-1] for a in step.command if str(tmp_path) in a]
        assert paths or step.name == "tests"
        assert all(Path(p).is_relative_to(tmp_path) for p in paths)
    assert sum(s.limit_s for s in steps.values()) <= 8 * 60


def test_the_gpu_marker_selects_the_tests_that_need_a_gpu():
    r = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-m", "gpu",
                        "-p", "no:cacheprovider", "tests/train/test_cuda_graph.py",
                        "tests/models/test_gpu_parity.py"],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    selected = [line for line in r.stdout.splitlines() if "::" in line]
    assert any("test_cuda_graph" in s for s in selected)
    assert sum("test_gpu_parity" in s for s in selected) == 12
