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
    assert list(steps) == ["smoke", "perf", "ensembles", "tests", "leaderboard"]
    smoke = steps["smoke"].command
    assert smoke[smoke.index("--device") + 1] == "cuda"
    assert smoke[smoke.index("--framework") + 1] == "all"
    assert set(smoke[smoke.index("--model") + 1].split(",")) == {
        "gnode", "node", "gru", "lstm", "mgru", "rnn"}
    perf = steps["perf"].command
    assert "--no-sweeps" in perf and perf[perf.index("--device") + 1] == "cuda"
    together = steps["ensembles"].command
    assert together[together.index("--part") + 1] == "ensembles"
    assert together[together.index("--device") + 1] == "cuda"
    assert steps["tests"].command[steps["tests"].command.index("-m", 3) + 1] == "gpu"
    for step in steps.values():  # every path it writes is under the folder given
        paths = [a.split("=", 1)[-1] for a in step.command if str(tmp_path) in a]
        assert paths or step.name == "tests"
        assert all(Path(p).is_relative_to(tmp_path) for p in paths)
    assert sum(s.limit_s for s in steps.values()) <= 8 * 60


def test_the_gpu_marker_is_on_the_tests_that_need_a_gpu():
    """What ``pytest -m gpu`` selects: the CUDA-graph replay and the GPU parity tests."""
    from tests.models import test_gpu_parity
    from tests.train import test_cuda_graph

    def marks(test) -> set[str]:
        return {m.name for m in getattr(test, "pytestmark", [])}

    assert "gpu" in marks(test_cuda_graph.test_replayed_steps_train_like_eager_steps)
    for test in (test_gpu_parity.test_torch_on_cuda_matches_the_cpu,
                 test_gpu_parity.test_jax_on_the_gpu_matches_the_cpu):
        assert "gpu" in marks(test)
    cpu_test = test_cuda_graph.test_only_graph_safe_models_on_a_gpu_under_the_fast_path
    assert "gpu" not in marks(cpu_test)
