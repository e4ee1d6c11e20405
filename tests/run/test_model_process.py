"""``bench.run.model_process`` through the harness: a model's every way of failing becomes a
recorded status and reason, the other cells go on, and a model cannot reach the test targets or
write results behind the harness. Real child processes throughout."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from bench import results
from bench.report import leaderboard
from bench.results import ledger
from bench.run import harness
from bench.run.model_process import Limits
from bench.spec.cells import Cell
from bench.spec.tasks import get_task
from bench.tools.checker import load_folder

pytestmark = pytest.mark.slow  # real processes: the harness, its children, Ray

FIXTURE = Path(__file__).parents[1] / "fixtures" / "hostile"
TASK = "flipflop-2bit-ring"


def _run(tmp_path: Path, behaviour: str, limits: Limits | None = None,
         test_data: str | None = None, **config) -> dict:
    spec = load_folder(FIXTURE)
    cells = [Cell(spec, "torch", get_task(TASK), seed=0)]
    out = tmp_path / "results"
    harness.run(cells, "smoke", "cpu", out, echo=lambda s: None, limits=limits or Limits(120, 8),
                overrides={"config": {"behaviour": behaviour, **config}}, test_data=test_data)
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
    # the sandbox refuses the write itself; the harness's snapshot check stays as a second line
    assert doc["status"] == "failed" and "PermissionError" in doc["reason"]
    assert not forged.exists()
    own = results.result_files(tmp_path / "results")
    assert len(own) == 1 and own[0].name.startswith("hostile+behaviour=write_result")
    assert ledger.verified(tmp_path / "results", own[0])


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


def test_a_lookup_of_the_public_test_split_scores_only_in_an_open_run(tmp_path):
    """The model regenerates the test split from the task file's seed and answers by lookup:
    perfect on public test data, no better than its untrained self on secret test data."""
    open_run = _run(tmp_path / "open", "lookup", test_data="public")
    assert open_run["test_data"] == "public" and open_run["metrics"]["mse"] < 1e-8
    official = _run(tmp_path / "official", "lookup")
    # the untrained model's error on flip-flop targets (an honest run scores about 1.9)
    assert official["test_data"] == "secret" and official["metrics"]["mse"] > 0.5
    task = get_task(TASK)
    assert official["data_seeds"]["test"] != task.splits["test"]["seed"]
    # the recorded seed regenerates what it was scored on
    again = task.load_split("test", "smoke", seed=official["data_seeds"]["test"])
    assert again["inputs"].shape[0] == task.profile("smoke")["max_test"]


def test_a_pickled_report_is_never_unpickled_by_the_harness(tmp_path):
    marker = tmp_path / "payload-ran"
    doc = _run(tmp_path, "pickle_report", target=str(marker))
    assert doc["status"] == "failed" and "not JSON" in doc["reason"]
    assert not marker.exists()


def test_a_detached_process_cannot_rewrite_the_cells_result(tmp_path):
    out = tmp_path / "results"
    doc = _run(tmp_path, "detached", target=str(out))
    [written] = [p for p in results.result_files(out)]
    before = written.read_bytes()
    time.sleep(4)  # past the detached process's delay, had it survived
    assert written.read_bytes() == before and ledger.verified(out, written)
    assert doc["status"] == "ok"
    assert not any(b"ctrnn-bench-detached-test" in p.read_bytes()
                   for p in Path("/proc").glob("[0-9]*/cmdline") if p.exists())
