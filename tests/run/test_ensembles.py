"""Cells trained as one program through the harness (``bench.run.ensembles``,
``bench.run.harness.process_group``): which cells group, and that each member's result is its
solo cell's, with its own ledger line, its own failure and its own resume."""

from __future__ import annotations

import pytest

from bench import results
from bench.results import ledger
from bench.run import ensembles, harness, isolation
from bench.spec.cells import Cell
from bench.spec.tasks import get_task

RING = "flipflop-2bit-ring"


def cell(models, model="gru", framework="jax", seed=0, task=RING, **kw):
    return Cell(models[model], framework, get_task(task), seed, **kw)


def test_cells_that_differ_in_seed_and_optimiser_group_and_the_rest_stay_alone(models):
    same = [cell(models, seed=s) for s in range(3)]
    optimiser = [cell(models, seed=0, training={"lr": lr, "weight_decay": wd})
                 for lr, wd in ((1e-2, 0.1), (1e-3, 1e-3))]
    torch_cells = [cell(models, framework="torch", seed=s) for s in range(2)]
    other_size = cell(models, sweep={"N": 7})
    other_batch = cell(models, training={"batch_size": 10})
    capacity = cell(models, task="expressivity-smooth", size=2)
    tuning = cell(models, role="tuning")
    units = ensembles.grouped([same[0], torch_cells[0], *same[1:], *optimiser, torch_cells[1],
                               other_size, capacity, other_batch, tuning], "quick", {})
    assert units == [ensembles.Group((*same, *optimiser)), ensembles.Group(tuple(torch_cells)),
                     other_size, capacity, other_batch, tuning]
    # the command's own overrides apply to every cell, and keep them together
    assert ensembles.grouped(same, "quick", {"epochs": 3}) == [ensembles.Group(tuple(same))]
    # at most max_members a program; a remainder of one runs alone; 1 turns grouping off
    assert ensembles.grouped(same, "quick", {}, max_members=2) == [
        ensembles.Group(tuple(same[:2])), same[2]]
    assert ensembles.grouped(same, "quick", {}, max_members=1) == same


@pytest.mark.slow
def test_members_are_their_solo_cells_fail_alone_and_resume(models, tmp_path, monkeypatch):
    """Two seeds and a learning rate that blows up, on public test data (the same for every
    cell, so the solo run's metrics are comparable): the ensemble's results equal the solo
    cells' to float32 tolerance; the wild member is diverged alone; every result has its own
    ledger line; a rerun skips them all. The solo cells, each in a process of its own, find
    the programs the first of them compiled in the model's compile cache."""
    cells = [cell(models, seed=0), cell(models, seed=1),
             cell(models, seed=0, training={"lr": 1e30})]
    together, alone = tmp_path / "together", tmp_path / "alone"
    lines: list[str] = []
    report = harness.run(cells, "smoke", "cpu", together, test_data="public", echo=lines.append)
    assert len(report.done) == 2 and len(report.problems) == 1
    assert sum("one program of 3" in line for line in lines) == 2
    monkeypatch.setattr(isolation, "compile_cache_root", lambda: tmp_path / "jax-compile")
    solo = harness.run(cells, "smoke", "cpu", alone, test_data="public", ensemble=1,
                       echo=lambda s: None)
    assert len(solo.done) == 2
    first, second = (results.read(harness.locate(c, "smoke", "cpu", alone, {})[1])["timing"]
                     for c in cells[:2])
    assert first["compile_cache_hits"] == 0 and first["compile_cache_misses"] > 0
    assert second["compile_cache_hits"] > 0  # the same programs, compiled once
    files = sorted(results.result_files(together))
    assert len(files) == 3
    assert {p.name for p in files} == {p.name for p in results.result_files(alone)}
    for path in files:
        doc, ref = results.read(path), results.read(alone / path.relative_to(together))
        assert doc["status"] == ref["status"], path.name
        assert doc["fingerprint"] == ref["fingerprint"]
        if doc["status"] != "ok":
            assert doc["status"] == "diverged" and doc["reason"] == ref["reason"]
            continue
        assert doc["timing"]["ensemble_members"] == 3
        for name, value in ref["metrics"].items():
            assert doc["metrics"][name] == pytest.approx(value, rel=1e-4, abs=1e-6), name
        assert doc["hold"]["memory_auc"] == pytest.approx(ref["hold"]["memory_auc"], abs=1e-4)
        assert (path.with_name(doc["checkpoint"]["file"])).exists()
    assert {p.relative_to(together).as_posix() for p in files} <= set(ledger.entries(together))
    again = harness.run(cells, "smoke", "cpu", together, test_data="public", echo=lambda s: None)
    assert len(again.skipped) == 3 and not again.done  # a diverged result is an outcome too


@pytest.mark.slow
def test_a_torch_model_vmap_cannot_run_falls_back_to_one_cell_at_a_time(models, tmp_path):
    """PyTorch cells group too. The mGRU's two seeds train as one program; ``torch.nn.GRU`` has
    no ``vmap`` batching rule, so the GRU's program refuses itself, says why, and its cells
    train one by one; the GRU's next group (other epochs) does not try again."""
    cells = [cell(models, model=m, framework="torch", seed=s, training={"epochs": e})
             for m, e in (("mgru", 2), ("gru", 2), ("gru", 1)) for s in (0, 1)]
    lines: list[str] = []
    report = harness.run(cells, "smoke", "cpu", tmp_path, test_data="public", echo=lines.append)
    assert len(report.done) == 6 and not report.problems
    assert sum("one program of 2" in line for line in lines) == 2  # the mGRU's
    fallback = [line for line in lines if "one by one" in line]
    assert len(fallback) == 1 and "gru/torch" in fallback[0]
    assert "vmap cannot run this model" in fallback[0]
    again = [line for line in lines if "failed earlier in this run" in line]
    assert len(again) == 1 and "gru/torch" in again[0]
    for c in cells:
        doc = results.read(harness.locate(c, "smoke", "cpu", tmp_path, {})[1])
        assert doc["status"] == "ok"
        assert doc["timing"].get("ensemble_members", 1) == (2 if c.model.name == "mgru" else 1)


@pytest.mark.parametrize("status,remembered", [("failed", True), ("oom", False)])
def test_a_program_that_fails_as_a_whole_reruns_its_cells_and_a_refusal_is_remembered(
        models, tmp_path, monkeypatch, status, remembered):
    """Every member failed alike, or out of memory: each cell runs alone. A refusal (failed) is
    remembered for the model's later groups in the run, and said once; out of memory is not
    (other data may fit)."""
    calls: list[tuple[str, ...]] = []

    def together(todo, *args, **kwargs):
        calls.append(tuple(f"s{c.seed}" for c, *_ in todo))
        return [{"status": status, "reason": "the same reason", "metrics": {}} for _ in todo]

    def alone(cell, settings, report, echo):
        calls.append((f"alone s{cell.seed}",))

    monkeypatch.setattr(harness, "run_cells_together", together)
    monkeypatch.setattr(harness, "process", alone)
    monkeypatch.setattr(harness, "_REFUSED", {})
    monkeypatch.setattr(harness, "_TOLD", set())
    lines: list[str] = []
    settings = harness.Settings("smoke", "cpu", tmp_path, False, {}, False, None)
    for epochs in (3, 2, 1):  # three groups of one model
        group = ensembles.Group(tuple(cell(models, seed=s, training={"epochs": epochs})
                                      for s in (0, 1)))
        harness.process_group(group, settings, harness.RunReport(), lines.append)
    every_time = [("s0", "s1"), ("alone s0",), ("alone s1",)] * 3
    once = [("s0", "s1")] + [("alone s0",), ("alone s1",)] * 3
    assert calls == (once if remembered else every_time)
    assert sum("running its 2 cells one by one" in line for line in lines) == (
        1 if remembered else 3)
    assert sum("failed earlier in this run" in line for line in lines) == (
        1 if remembered else 0)
