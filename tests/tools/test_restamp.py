"""``bench.tools.restamp``: a result's code hash is brought up to date only when the present code
provably reproduces it; a result whose recorded outputs the checkpoint does not reproduce
stays stale."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

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


def test_added_functions_and_docstrings_do_not_count_as_a_change():
    old = 'def f(x):\n    """Old words."""\n    return x + 1\n'
    added = ('def f(x):\n    """New words."""\n    # a comment\n    return x + 1\n\n\n'
             'def g(x):\n    return f(x) * 2\n')
    changed = 'def f(x):\n    return x + 2\n'
    shadowing = old + '\n\ndef f(x):\n    return x\n'  # redefines a name the old code used
    known = {"f", "x"}
    assert restamp._pruned(old, known) == restamp._pruned(added, known)
    assert restamp._pruned(old, known) != restamp._pruned(changed, known)
    assert restamp._pruned(old, known) != restamp._pruned(shadowing, known)


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
        monkeypatch.setattr(restamp, "_same_code", lambda *a, s=same: s)
        counts = restamp.restamp(out, echo=lambda s: None)
        assert counts[check] == 1 and counts["outputs"] == 0
    doc = results.read(path)
    assert doc["status"] == "diverged" and doc["provenance"]["restamped"]["check"] == "git"
    assert trust.stale_reason(doc, models, {}) is None and ledger.verified(out, path)


def _git(repo: Path, *args: str) -> str:
    out = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True,
                         env={**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
                              "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"})
    return out.stdout.strip()


def test_a_module_moved_into_a_package_is_the_same_code(tmp_path, monkeypatch):
    """A pure move (git mv, imports and dotted names rewritten to the new place) leaves the
    code the same; a change inside the moved module, or a package marker that runs code, does
    not."""
    from bench.spec import imports

    repo = tmp_path / "repo"
    (repo / "bench").mkdir(parents=True)
    (repo / "model").mkdir()
    (repo / "bench" / "__init__.py").write_text('"""The suite."""\n')
    (repo / "bench" / "ode.py").write_text("def f(x):\n    return x + 1\n")
    (repo / "model" / "torch_model.py").write_text(
        "from bench import ode\nimport bench.ode\n\n\ndef build():\n"
        "    return ode.f, bench.ode.f\n")
    _git(repo, "init", "-q")
    _git(repo, "add", ".")
    _git(repo, "commit", "-qm", "before")
    before = _git(repo, "rev-parse", "HEAD")
    (repo / "bench" / "models").mkdir()
    (repo / "bench" / "models" / "__init__.py").write_text('"""The models."""\n')
    _git(repo, "mv", "bench/ode.py", "bench/models/ode.py")
    model = repo / "model" / "torch_model.py"
    model.write_text(model.read_text()
                     .replace("from bench import ode", "from bench.models import ode")
                     .replace("import bench.ode\n", "import bench.models.ode\n")
                     .replace("bench.ode.f", "bench.models.ode.f"))
    _git(repo, "add", ".")
    _git(repo, "commit", "-qm", "moved")
    monkeypatch.setattr(imports, "ROOT", repo)
    files = ["model/torch_model.py", "bench/models/ode.py", "bench/models/__init__.py"]
    assert restamp._same_code(before, files, {})
    # but not when the moved module computes something else ...
    ode = repo / "bench" / "models" / "ode.py"
    ode.write_text("def f(x):\n    return x + 2\n")
    assert not restamp._same_code(before, files, {})
    ode.write_text("def f(x):\n    return x + 1\n")
    # ... or the package marker does something
    (repo / "bench" / "models" / "__init__.py").write_text("import os\n")
    assert not restamp._same_code(before, files, {})


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
