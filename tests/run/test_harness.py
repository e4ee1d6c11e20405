"""The harness (``bench.run.harness``) on the smoke profile: result files, what the trainer is
(not) given, devices and overrides, isolation. Resuming is in ``test_resume.py``, models that
misbehave in ``test_misbehaving_models.py``."""

from __future__ import annotations

import datetime as dt
import importlib.metadata as md
import itertools
import json
import os
import platform
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import ROOT, SMOKE_CELLS, SMOKE_TASK

from bench import results
from bench.errors import UserError
from bench.run import harness
from bench.spec.cells import Cell, device_class, resolve_training, variant
from bench.spec.tasks import get_task
from bench.train.training import Outcome
from tasks.flipflop import generate

pytestmark = pytest.mark.slow  # trains and runs cells


def smoke_test_split(name=SMOKE_TASK, seed=None):
    """The smoke test split as the task files define it (or from ``seed``, a result's
    recorded secret seed), generated directly (not via the harness or ``Task.load_split``)."""
    tmpl = yaml.safe_load((ROOT / "tasks" / "_flipflop.yaml").read_text())
    own = yaml.safe_load((ROOT / "tasks" / f"{name}.yaml").read_text())
    data = {**tmpl["data"], **own["data"]}
    spec = {**tmpl["splits"], **(own.get("splits") or {})}["test"]
    limit = tmpl["profiles"]["smoke"]["max_test"]
    full = generate(data, spec["size"], spec["seed"] if seed is None else seed)
    return {k: v[:limit] for k, v in full.items()}


def n_params_by_hand(model, config, n_in, n_out):
    N = config["N"]
    if model == "gru":
        return 3 * N * (n_in + N) + 6 * N + N * n_out + n_out
    w = config["widths"]
    n = N * w[0] + w[0] + n_in * w[0] + sum(a * b + b for a, b in itertools.pairwise(w))
    n += w[-1] * N + N + N * n_out + n_out + N  # F.out, readout, h0
    if model == "gnode":
        n += N * N + N + n_in * N
    return n


def raw_metadata(model):
    return yaml.safe_load((ROOT / "baselines" / model / "metadata.yaml").read_text())


# -- one smoke run, three cells --------------------------------------------------------------

def test_smoke_run_report_and_files(smoke_run):
    out, report, _ = smoke_run
    assert len(report.done) == len(SMOKE_CELLS)
    assert report.skipped == [] and report.problems == []
    version = yaml.safe_load((ROOT / "tasks" / f"{SMOKE_TASK}.yaml").read_text())["version"]
    found = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    # per cell: the result, the checkpoint, the slow points and the phase portrait
    suffix = {"torch": ".pt", "jax": ".eqx"}
    # and the folder's ledger of the results the suite wrote, and its lock; the example trial
    # the results share, once for the task (bench.results.store)
    shared = f"{SMOKE_TASK}@v{version}/example.json"
    assert found == sorted([".lock", "LEDGER.sha256", shared] + [
        f"{SMOKE_TASK}@v{version}/smoke/cpu/{m}-{fw}-seed0{ext}" for m, fw in SMOKE_CELLS
        for ext in (".json", suffix[fw], ".slowpoints.json", ".png")])


@pytest.mark.parametrize("cell", SMOKE_CELLS, ids=lambda c: f"{c[0]}-{c[1]}")
def test_result_document_fields(smoke_run, cell):
    doc = smoke_run[2][cell]
    model, fw = cell
    task_yaml = yaml.safe_load((ROOT / "tasks" / f"{SMOKE_TASK}.yaml").read_text())
    assert doc["schema_version"] == 2
    assert (doc["task"], doc["task_version"]) == (SMOKE_TASK, task_yaml["version"])
    assert (doc["model"], doc["framework"], doc["seed"], doc["profile"]) == (model, fw, 0, "smoke")
    assert (doc["device"], doc["device_class"]) == ("cpu", "cpu")
    assert doc["status"] == "ok" and doc["reason"] is None
    assert doc["model_kind"] == "baseline"
    assert doc["variant"] == ""
    assert set(doc["metrics"]) == {"mse", "r2", "long_delay_mse", "long_delay_r2", "drift"}
    assert doc["primary_metric"] == "mse"
    assert doc["higher_is_better"] == {"mse": False, "r2": True, "long_delay_mse": False,
                                       "long_delay_r2": True, "drift": False}
    assert doc["standard"] is True
    assert doc["attractor"]["status"] == "ok"
    assert doc["checkpoint"]["n_inputs"] == doc["checkpoint"]["n_outputs"] == 2


@pytest.mark.parametrize("cell", SMOKE_CELLS, ids=lambda c: f"{c[0]}-{c[1]}")
def test_metrics_agree_with_the_test_targets(smoke_run, cell):
    doc = smoke_run[2][cell]
    assert doc["test_data"] == "secret"  # scored on a split drawn from a seed made at run time
    assert doc["data_seeds"]["test"] != get_task(SMOKE_TASK).splits["test"]["seed"]
    test = smoke_test_split(seed=doc["data_seeds"]["test"])
    y = test["targets"].astype(np.float64)
    var = np.mean(np.var(y.reshape(-1, y.shape[-1]), axis=0))  # per-channel, averaged
    mse, r2 = doc["metrics"]["mse"], doc["metrics"]["r2"]
    assert r2 == pytest.approx(1 - mse / var, rel=1e-9, abs=1e-12)
    assert 0 < mse < 10 * var  # a barely trained model: finite and in the data's range
    # the example is the public test split's first trial, stored once for the task; the
    # result keeps the model's outputs on it
    assert set(doc["example"]) == {"trial", "trial_sha256", "outputs"}
    shared = json.loads((smoke_run[0] / f"{doc['task']}@v{doc['task_version']}"
                         / "example.json").read_text())
    public = smoke_test_split()  # the example comes from the public split, whatever was scored
    np.testing.assert_allclose(shared["targets"], public["targets"][0], atol=1e-4)
    np.testing.assert_allclose(shared["inputs"], public["inputs"][0], atol=1e-4)
    assert np.asarray(doc["example"]["outputs"]).shape == y[0].shape


@pytest.mark.parametrize("cell", SMOKE_CELLS, ids=lambda c: f"{c[0]}-{c[1]}")
def test_n_params_and_config(smoke_run, cell):
    doc = smoke_run[2][cell]
    model, fw = cell
    raw = raw_metadata(model)
    per_task = yaml.safe_load(
        (ROOT / "baselines" / model / "configs" / f"{SMOKE_TASK}.yaml").read_text())
    expected_config = {**raw["config"], **raw["profiles"]["smoke"]["config"],
                       **per_task["smoke"]["config"]}
    assert doc["config"]["model"] == expected_config
    if fw == "torch" or model != "gru":
        assert doc["n_params"] == n_params_by_hand(model, expected_config, 2, 2)
    tmpl = yaml.safe_load((ROOT / "tasks" / "_flipflop.yaml").read_text())
    training = doc["config"]["training"]
    assert training["epochs"] == tmpl["profiles"]["smoke"]["epochs"]
    # the model's own training overrides beat the task's defaults
    assert training["lr"] == (raw.get("training") or {}).get("lr", tmpl["training"]["lr"])
    assert training["batch_size"] == tmpl["training"]["batch_size"]
    assert doc["config"]["task"]["data"] == get_task(SMOKE_TASK).data


@pytest.mark.parametrize("cell", SMOKE_CELLS, ids=lambda c: f"{c[0]}-{c[1]}")
def test_timing_and_curve(smoke_run, cell):
    doc = smoke_run[2][cell]
    t = doc["timing"]
    tmpl = yaml.safe_load((ROOT / "tasks" / "_flipflop.yaml").read_text())
    epochs = tmpl["profiles"]["smoke"]["epochs"]
    batches = -(-tmpl["profiles"]["smoke"]["max_train"] // tmpl["training"]["batch_size"])
    assert t["epochs"] == epochs and t["steps"] == epochs * batches
    for key in ("train_total_s", "step_median_s", "eval_s", "eval_seqs_per_s", "first_step_s"):
        assert t[key] > 0, key
    assert t["step_median_s"] <= t["train_total_s"]
    assert 0 <= t["other_cpu_share"] <= 1  # measured in the sandboxed model process
    assert t["eval_seqs_per_s"] == pytest.approx(100 / t["eval_s"], rel=1e-6)
    if cell[1] == "jax":
        assert t["compile_s"] > 0
    else:
        assert t["compile_s"] is None
    curve = doc["curve"]
    assert len(curve["val_loss"]) == len(curve["train_loss"]) == epochs
    assert curve["best_epoch"] == int(np.argmin(curve["val_loss"])) + 1
    assert doc["peak_memory"]["peak_host_rss_mb"] > 0
    assert doc["nfe"] is None  # Euler: no adaptive solver to count


def test_provenance(smoke_run):
    prov = smoke_run[2][("gnode", "torch")]["provenance"]
    assert re.fullmatch(r"[0-9a-f]{40}", prov["git_commit"])
    known = subprocess.run(["git", "cat-file", "-t", prov["git_commit"]], cwd=ROOT,
                           capture_output=True, text=True)
    assert known.stdout.strip() == "commit"
    assert isinstance(prov["git_dirty"], bool)
    assert prov["python"] == platform.python_version()
    assert prov["impl"] == "fast"  # the default implementation
    for pkg in ("torch", "jax", "numpy", "diffrax", "equinox"):
        assert prov["packages"][pkg] == md.version(pkg)
    hw = prov["hardware"]
    assert hw["cpu"] and isinstance(hw["cpu"], str)
    assert hw["cores"] == len(os.sched_getaffinity(0))
    mem_kb = int(next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
                      if line.startswith("MemTotal")))
    assert hw["ram_gb"] == pytest.approx(mem_kb / 2**20, abs=0.1)
    assert hw["gpu"] is None
    start = dt.datetime.fromisoformat(prov["started_at"])
    end = dt.datetime.fromisoformat(prov["finished_at"])
    assert start <= end and start.tzinfo is not None


# -- what the trainer sees -------------------------------------------------------------------

def test_trainer_never_sees_test_targets_and_metrics_come_from_predictions(
        tmp_path, models, monkeypatch):
    import bench.train.train_torch

    seen = {}

    def spy(module, spec, train, validation, evaluate):
        test_inputs = evaluate["test"]
        seen.update(train=set(train), validation=set(validation), test=set(test_inputs),
                    test_x=test_inputs["inputs"], spec=spec, sets=set(evaluate),
                    probes={k: set(v) for k, v in evaluate.items()})
        preds = {k: np.zeros((*v["inputs"].shape[:2], spec.n_outputs), np.float32)
                 for k, v in evaluate.items()}
        return Outcome(predictions=preds, model=None, n_params=1,
                       timing={"train_total_s": 1.0, "step_median_s": 0.1}, peak_memory={},
                       nfe=None)

    monkeypatch.setattr(bench.train.train_torch, "fit_predict", spy)
    task = get_task(SMOKE_TASK)
    harness.run([Cell(models["gnode"], "torch", task, 3)], "smoke", "cpu", tmp_path,
                isolate=False,
                echo=lambda s: None)
    assert "targets" not in seen["test"]
    assert seen["test"] == {"inputs", "dt"}
    # the memory probes and the public example trial are inputs only, too
    assert seen["sets"] == {"test", "long_delay", "drift", "hold", "example"}
    assert all(keys == {"inputs", "dt"} for keys in seen["probes"].values())
    assert {"inputs", "targets", "dt"} <= seen["train"] and "targets" in seen["validation"]
    doc = json.loads(results.result_files(tmp_path)[0].read_text())
    test = smoke_test_split(seed=doc["data_seeds"]["test"])  # the secret draw, revealed
    np.testing.assert_array_equal(seen["test_x"], test["inputs"])
    assert (seen["spec"].seed, seen["spec"].n_inputs, seen["spec"].n_outputs) == (3, 2, 2)
    # all-zero predictions: mse is the mean square target, r2 = 1 - SS(y) / SS(y - mean)
    y = test["targets"].astype(np.float64)
    assert doc["metrics"]["mse"] == pytest.approx(np.mean(y**2), rel=1e-9)
    sst = np.sum((y - y.reshape(-1, 2).mean(axis=0)) ** 2)
    assert doc["metrics"]["r2"] == pytest.approx(1 - np.sum(y**2) / sst, rel=1e-9)


# -- devices, overrides ----------------------------------------------------------------------

def test_resolve_device(monkeypatch):
    assert harness.resolve_device("cpu", ["torch", "jax"]) == "cpu"
    with pytest.raises(UserError, match="unknown device"):
        harness.resolve_device("tpu", ["torch"])
    monkeypatch.setattr(harness, "cuda_available", lambda fw: fw == "torch")
    assert harness.resolve_device("auto", ["torch", "jax"]) == "cpu"
    assert harness.resolve_device("auto", ["torch"]) == "cuda"
    with pytest.raises(UserError) as e:
        harness.resolve_device("cuda", ["torch", "jax"])
    assert "but jax sees no CUDA GPU" in str(e.value)
    monkeypatch.setattr(harness, "cuda_available", lambda fw: True)
    assert harness.resolve_device("cuda", ["torch", "jax"]) == "cuda"
    assert device_class("cuda") == "gpu" and device_class("cpu") == "cpu"


def test_variant_names():
    assert variant({}) == ""
    assert variant({"lr": None, "epochs": None, "config": {}}) == ""
    assert variant({"lr": 0.01, "epochs": None,
                            "config": {"solver": "dopri5", "N": 16}}) == \
        "N=16,lr=0.01,solver=dopri5"


def test_resolve_training_precedence(models):
    task = get_task("flipflop-3bit")
    config, training = resolve_training(
        task, models["gru"], "quick", {"lr": 0.5, "epochs": None, "config": {"N": 3}})
    assert config["N"] == 3
    assert training["lr"] == 0.5
    assert training["epochs"] == task.profiles["quick"]["epochs"]
    assert training["weight_decay"] == task.training["weight_decay"]


def test_unsupported_optimizer_is_a_user_error(models):
    import dataclasses

    task = dataclasses.replace(get_task("flipflop-3bit"),
                               training={**get_task("flipflop-3bit").training, "optimizer": "sgd"})
    with pytest.raises(UserError, match="adamw"):
        resolve_training(task, models["gru"], "smoke", {})


# -- isolation ------------------------------------------------------------


def test_isolated_and_in_process_runs_agree(tmp_path, models):
    """The child process changes where a cell runs, not what it computes."""
    task = get_task(SMOKE_TASK)
    cells = [Cell(models["gru"], "torch", task, 5)]
    harness.run(cells, "smoke", "cpu", tmp_path / "a", echo=lambda s: None, isolate=True,
                test_data="public")
    harness.run(cells, "smoke", "cpu", tmp_path / "b", echo=lambda s: None, isolate=False,
                test_data="public")
    (a,), (b,) = (results.result_files(tmp_path / d) for d in "ab")
    da, db = json.loads(a.read_text()), json.loads(b.read_text())
    assert da["metrics"] == db["metrics"] and da["curve"] == db["curve"]
    assert da["provenance"]["isolated"] is True and db["provenance"]["isolated"] is False


def test_thinned_curve_keeps_every_kth_epoch_and_the_last():
    from bench.run.cell import thinned

    curve = {"train_loss": list(range(1000)), "val_loss": [2.0 * i for i in range(1000)],
             "best_epoch": 777}
    t = thinned(curve, points=200)
    assert t["every"] == 5 and t["best_epoch"] == 777
    assert t["train_loss"][:3] == [0, 5, 10] and t["train_loss"][-1] == 999
    assert len(t["val_loss"]) == len(t["train_loss"]) <= 201
    assert t["val_loss"] == [2.0 * i for i in t["train_loss"]]
    short = thinned({"train_loss": [1.0, 0.5], "val_loss": [1.0, 0.4]})
    assert short["every"] == 1 and short["train_loss"] == [1.0, 0.5]
