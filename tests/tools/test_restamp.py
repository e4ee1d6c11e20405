"""``bench.tools.restamp``: a result's code hash is brought up to date only when the present code
provably reproduces it; a result whose recorded outputs the checkpoint does not reproduce
stays stale."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from bench import results
from bench.results import ledger, trust
from bench.spec.registry import discover
from bench.tools import restamp

pytestmark = pytest.mark.slow  # real processes: the harness, its children, Ray


def _strip(results_dir, path, shift: float = 0.0) -> dict:
    """Forget the result's code hash and commit (as results from before the hash existed);
    ``shift`` moves its recorded outputs, as if other code had produced them."""
    doc = results.read(path)
    doc.pop("code_sha256")
    doc["provenance"]["git_commit"] = None
    outputs = np.asarray(doc["example"]["outputs"]) + shift
    doc["example"]["outputs"] = outputs.round(4).tolist()
    ledger.write_result(results_dir, path, doc)
    return doc


def test_restamp_reproduces_outputs_or_leaves_the_result_stale(smoke_run, tmp_path):
    source, _, _ = smoke_run
    out = tmp_path / "results"
    shutil.copytree(source, out)
    faithful, = out.rglob("gnode-torch-seed0.json")
    shifted, = out.rglob("gru-torch-seed0.json")
    _strip(out, faithful)
    _strip(out, shifted, shift=0.05)
    models = discover()
    for path in (faithful, shifted):  # without a hash, a result is stale
        doc = results.read(path)
        assert "records no code hash" in trust.stale_reason(doc, models, {})
    counts = restamp.restamp(out, echo=lambda s: None)
    assert counts["outputs"] == 1 and counts["stale"] == 1
    doc = results.read(faithful)
    assert doc["code_sha256"] == trust.code_sha256(models["gnode"], "torch",
                                                   doc["config"]["model"])
    assert doc["provenance"]["restamped"]["check"] == "outputs"
    assert doc["provenance"]["restamped"]["max_abs_diff"] < restamp.TOLERANCE
    assert ledger.verified(out, faithful)
    assert "code_sha256" not in results.read(shifted)
    # run again: nothing left to do for the restamped one
    assert restamp.restamp(out, echo=lambda s: None)["outputs"] == 0


def test_a_result_is_stale_when_suite_code_it_imports_changes(smoke_run, monkeypatch):
    """Editing bench/models/ode_torch.py changes the gnODE's code hash, not the GRU's."""
    from bench.spec import imports

    models = discover()
    doc = smoke_run[2][("gnode", "torch")]
    config = doc["config"]["model"]
    assert trust.stale_reason(doc, models, {}) is None
    real = imports.first_party_closure
    shared = [f for f in real([models["gnode"].code_file("torch")]) if f.name == "ode_torch.py"]
    assert shared, "the gnODE imports bench/models/ode_torch.py"
    edited = {shared[0]: shared[0].read_bytes() + b"\n# an edit\n"}
    original = type(shared[0]).read_bytes
    monkeypatch.setattr(type(shared[0]), "read_bytes",
                        lambda self: edited.get(self) or original(self))
    assert trust.code_sha256(models["gnode"], "torch", config) != doc["code_sha256"]
    assert "suite code it imports" in trust.stale_reason(doc, models, {})
    gru = smoke_run[2][("gru", "torch")]
    assert trust.stale_reason(gru, models, {}) is None


def test_a_diverged_result_is_restamped_by_the_git_check_only(smoke_run, tmp_path,
                                                              monkeypatch):
    """No outputs to reproduce: unchanged code restamps it, changed code leaves it stale."""
    source, _, _ = smoke_run
    out = tmp_path / "results"
    shutil.copytree(source, out)
    path, = out.rglob("gnode-torch-seed0.json")
    models = discover()
    doc = results.read(path)
    doc.update(status="diverged", reason="training loss is nan in epoch 3", metrics={})
    # the former definition: the model's own folder only
    doc["code_sha256"] = trust.code_sha256(models["gnode"], "torch", doc["config"]["model"],
                                           shared=False)
    ledger.write_result(out, path, doc)
    for same, check in ((False, "stale"), (True, "git")):
        monkeypatch.setattr(restamp.same_code, "same_code", lambda *a, s=same: s)
        counts = restamp.restamp(out, echo=lambda s: None)
        assert counts[check] == 1 and counts["outputs"] == 0
    doc = results.read(path)
    assert doc["status"] == "diverged" and doc["provenance"]["restamped"]["check"] == "git"
    assert trust.stale_reason(doc, models, {}) is None and ledger.verified(out, path)


def test_a_fingerprint_follows_the_models_module_only_when_nothing_else_changed(
        smoke_run, monkeypatch):
    """The fingerprint hashes the model's module with the config, training and task. When only
    the module changed (its imports renamed), restamping gives the present fingerprint; when
    the training settings differ from the recorded ones, none."""
    from bench.spec.tasks import get_task

    models = discover()
    doc = smoke_run[2][("gnode", "torch")]
    model, task = models["gnode"], get_task(doc["task"])
    commit = doc["provenance"]["git_commit"]
    assert restamp._fingerprint(doc, model, task, commit) == doc["fingerprint"]
    module = model.code_file("torch")
    original = type(module).read_bytes
    edited = original(module).replace(b"from bench.models.", b"from bench.models .")
    assert edited != original(module)
    monkeypatch.setattr(type(module), "read_bytes",
                        lambda self: edited if self == module else original(self))
    assert "module or the task changed" in trust.stale_reason(
        {**doc, "code_sha256": trust.code_sha256(model, "torch", doc["config"]["model"])},
        models, {doc["task"]: task})
    now = restamp._fingerprint(doc, model, task, commit)
    assert now is not None and now != doc["fingerprint"]
    other = {**doc, "config": {**doc["config"],
                               "training": {**doc["config"]["training"], "lr": 0.5}}}
    assert restamp._fingerprint(other, model, task, commit) is None


def test_a_result_from_before_the_backprop_key_is_brought_up_to_date(smoke_run, tmp_path):
    """A result written in schema 1 (peak memory under ``memory``), before the ODE baselines
    declared ``backprop: full``, at a commit whose code is the present code: restamping adds
    the key its code defaulted to, renames the field and makes it current (by the git check);
    a GRU result, whose code and config did not change, is only upgraded."""
    from bench.spec.cells import Cell, fingerprint, fingerprint_of
    from bench.spec.tasks import get_task

    source, _, _ = smoke_run
    out = tmp_path / "results"
    shutil.copytree(source, out)
    models = discover()
    path, = out.rglob("gnode-torch-seed0.json")
    present = results.read(path)
    doc = json.loads(path.read_text())
    config = {k: v for k, v in doc["config"]["model"].items() if k != "backprop"}
    assert config != doc["config"]["model"], "the gnODE's metadata declares backprop: full"
    cell = Cell(models["gnode"], "torch", get_task(doc["task"]), 0)
    doc.update(schema_version=1, memory=doc.pop("peak_memory"),
               code_sha256=trust.code_sha256(models["gnode"], "torch", config),
               fingerprint=fingerprint_of(cell, doc["profile"], config,
                                          doc["config"]["training"]))
    doc["config"]["model"] = config
    results.write_atomic(path, doc)
    ledger.enter(out, path)
    gru, = out.rglob("gru-torch-seed0.json")
    gru_doc = json.loads(gru.read_text())
    gru_doc.update(schema_version=1, memory=gru_doc.pop("peak_memory"))
    results.write_atomic(gru, gru_doc)
    ledger.enter(out, gru)
    # the harness would run it again: its fingerprint is not the present cell's
    assert fingerprint(cell, doc["profile"], {}) != doc["fingerprint"]

    counts = restamp.restamp(out, echo=lambda s: None)
    assert counts["git"] == 1 and counts["upgraded"] >= 1 and counts["stale"] == 0
    now = json.loads(path.read_text())
    assert now["schema_version"] == 2 and "memory" not in now
    assert now["peak_memory"] == present["peak_memory"]
    assert now["config"]["model"] == present["config"]["model"]
    assert (now["fingerprint"], now["code_sha256"]) == (present["fingerprint"],
                                                        present["code_sha256"])
    assert now["provenance"]["restamped"]["config_added"] == {"backprop": "full"}
    assert fingerprint(cell, doc["profile"], {}) == now["fingerprint"]
    assert trust.stale_reason(now, models, {}) is None and ledger.verified(out, path)
    upgraded = json.loads(gru.read_text())
    assert upgraded["schema_version"] == 2 and upgraded["peak_memory"] == gru_doc["memory"]
    assert "restamped" not in upgraded["provenance"] and ledger.verified(out, gru)


def test_a_result_that_set_the_old_key_gets_no_default_and_stays_stale(smoke_run, tmp_path):
    """A run with --set memory=checkpoint trained with checkpointing; the present code reads no
    memory key, and a forward pass cannot tell the modes apart: it is never restamped."""
    from bench.spec.tasks import get_task

    source, _, _ = smoke_run
    out = tmp_path / "results"
    shutil.copytree(source, out)
    path, = out.rglob("gnode-torch-seed0.json")
    doc = json.loads(path.read_text())
    doc["config"]["model"] = {k: v for k, v in doc["config"]["model"].items()
                              if k != "backprop"} | {"memory": "checkpoint"}
    models = discover()
    assert restamp._added_defaults(doc, models["gnode"], get_task(doc["task"])) == {}
    results.write_atomic(path, doc)
    ledger.enter(out, path)
    counts = restamp.restamp(out, echo=lambda s: None)
    assert counts["stale"] == 1 and json.loads(path.read_text()) == doc
