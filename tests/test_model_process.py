"""``bench.model_process`` through the harness: a model's every way of failing becomes a
recorded status and reason, the other cells go on, and a model cannot reach the test targets or
write results behind the harness. Real child processes throughout."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import harness, leaderboard, ledger, results
from bench.checker import load_folder
from bench.model_process import Limits
from bench.tasks import get_task

FIXTURE = Path(__file__).parent / "fixtures" / "hostile"
TASK = "flipflop-2bit-ring"


def _run(tmp_path: Path, behaviour: str, limits: Limits | None = None, **config) -> dict:
    spec = load_folder(FIXTURE)
    cells = [harness.Cell(spec, "torch", get_task(TASK), seed=0)]
    out = tmp_path / "results"
    harness.run(cells, "smoke", "cpu", out, echo=lambda s: None, limits=limits or Limits(120, 8),
                overrides={"config": {"behaviour": behaviour, **config}})
    [path] = [p for p in results.result_files(out) if "hostile" in p.name]
    return results.read(path)


@pytest.mark.parametrize("behaviour, status, reason", [
    ("raise", "failed", "RuntimeError: this model refuses"),
    ("segfault", "failed", "killed by SIGSEGV"),
    ("sleep", "timeout", "wall-clock limit of 5 s"),
    ("allocate", "oom", "past its limit of 1.5 GB"),
    ("read_targets", "failed", "the test split is sealed"),
])
def test_a_misbehaving_model_is_recorded_with_its_reason(tmp_path, behaviour, status, reason):
    doc = _run(tmp_path, behaviour, limits=Limits(5 if behaviour == "sleep" else 120, 1.5))
    assert doc["status"] == status and reason in doc["reason"]
    assert doc["metrics"] == {} and doc["provenance"]["isolated"] is True


def test_a_model_cannot_write_a_result_behind_the_harness(tmp_path):
    forged = tmp_path / "results" / f"{TASK}@v2" / "smoke" / "cpu" / "gru-torch-seed7.json"
    forged.parent.mkdir(parents=True)
    doc = _run(tmp_path, "write_result", target=str(forged))
    assert doc["status"] == "failed" and "a model may not write results" in doc["reason"]
    assert forged.name in doc["reason"]
    # the forged file is not the suite's: not in the ledger, so never verified
    assert not ledger.verified(tmp_path / "results", forged)
    own = results.result_files(tmp_path / "results")
    assert any(ledger.verified(tmp_path / "results", p) for p in own if "hostile" in p.name)


def test_a_well_behaved_run_of_the_same_model_is_ok_and_verified(tmp_path):
    doc = _run(tmp_path, "none")
    assert doc["status"] == "ok" and "mse" in doc["metrics"]
    assert len(doc["code_sha256"]) == 64


def test_the_leaderboard_shows_failed_cells(tmp_path):
    _run(tmp_path, "raise")
    leaderboard.build(tmp_path / "results", tmp_path / "lb")
    page = (tmp_path / "lb" / "README.md").read_text()
    assert "| hostile [behaviour=raise] (submission) | torch" in page
    assert "0/1 (failed)" in page
    assert "this model refuses" in (tmp_path / "lb" / "results.csv").read_text()
