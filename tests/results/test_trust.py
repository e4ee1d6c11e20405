"""``bench.results.trust``: stale results, results the suite did not write and unsandboxed
submissions' results are shown but not ranked (marked †, with the reason). Through the
leaderboard, as a user sees them, and :func:`bench.results.trust.rank_blocker` alone."""

from __future__ import annotations

import pytest
from helpers import write_docs

from bench import results
from bench.report import leaderboard
from bench.results import trust
from bench.spec.registry import discover


def _page(tmp_path, docs) -> str:
    write_docs(tmp_path / "results", docs)
    leaderboard.build(tmp_path / "results", tmp_path / "lb")
    return (tmp_path / "lb" / "README.md").read_text()


def test_current_results_rank_and_a_changed_model_makes_them_stale(tmp_path, make_doc):
    docs = [make_doc(model="gnode", task_version=2, mse=0.1, seed=s) for s in (0, 1)]
    docs += [make_doc(model="gru", task_version=2, mse=0.2)]
    page = _page(tmp_path, docs)
    assert "| 1      | gnode " in page and "| 2      | gru " in page
    changed = make_doc(model="gru", task_version=2, mse=0.01)
    changed["code_sha256"] = "0" * 64  # as if gru's code had changed since the run
    write_docs(tmp_path / "results", [changed])
    leaderboard.build(tmp_path / "results", tmp_path / "lb")
    page = (tmp_path / "lb" / "README.md").read_text()
    assert "| 1      | gnode " in page  # the stale gru, better on paper, is not ranked
    assert "| —      | gru " in page and "0/1 (stale)" in page


def test_the_fingerprint_covers_the_task_and_module(make_doc):
    models = discover()
    from bench.spec.tasks import get_task

    tasks = {"flipflop-2bit-ring": get_task("flipflop-2bit-ring")}
    doc = make_doc(model="node", task_version=2)
    assert trust.stale_reason(doc, models, tasks) is None
    doc["fingerprint"] = "f" * 64
    assert "module or the task changed" in trust.stale_reason(doc, models, tasks)
    old_version = make_doc(model="node", task_version=1)
    old_version["fingerprint"] = "f" * 64  # an old task version is judged by its own table
    assert trust.stale_reason(old_version, models, tasks) is None


def test_an_edited_config_file_makes_its_results_stale(make_doc):
    """The code hash and fingerprint cover the config a run recorded; only comparing it with
    what the config files resolve to now catches an edit to ``configs/<task>.yaml``."""
    import dataclasses

    from bench.spec.tasks import get_task

    models = discover()
    tasks = {"flipflop-2bit-ring": get_task("flipflop-2bit-ring")}
    doc = make_doc(model="gru", task_version=2)
    n = doc["config"]["model"]["N"]  # gru's size on this task, as the run recorded it
    assert trust.stale_reason(doc, models, tasks) is None

    def edited(change):  # configs/flipflop-2bit-ring.yaml with one setting changed
        now = models["gru"].task_config("flipflop-2bit-ring").get("smoke") or {}
        layer = {part: {**(now.get(part) or {}), **change.get(part, {})}
                 for part in ("config", "training")}
        meta = {**models["gru"].metadata,
                "_task_configs": {"flipflop-2bit-ring": {"smoke": layer}}}
        return {**models, "gru": dataclasses.replace(models["gru"], metadata=meta)}

    why = trust.stale_reason(doc, edited({"config": {"N": n + 1}}), tasks)
    assert why == f"the model's config for this task changed since it ran (N: {n} → {n + 1})"
    lr = doc["config"]["training"]["lr"]
    why = trust.stale_reason(doc, edited({"training": {"lr": lr / 2}}), tasks)
    assert why is not None and f"(lr: {lr} → {lr / 2})" in why
    # a setting the run chose itself is not the config file's: a sweep's N, a tuned lr
    assert trust.stale_reason({**doc, "variant": f"N={n}"}, edited({"config": {"N": n + 1}}),
                              tasks) is None
    tuned = {**doc, "tuning": {"selected": {"lr": lr}}}
    assert trust.stale_reason(tuned, edited({"training": {"lr": lr / 2}}), tasks) is None


def test_code_hash_covers_the_models_files_and_config(tmp_path):
    import shutil

    from bench.spec.registry import ModelSpec

    folder = tmp_path / "m"
    shutil.copytree(discover()["example-ctrnn"].path, folder)
    spec = ModelSpec("m", "submission", folder, {"framework": "torch"})
    first = trust.code_sha256(spec, "torch", {"N": 4})
    assert trust.code_sha256(spec, "torch", {"N": 5}) != first
    (folder / "helpers.py").write_text("X = 1\n")  # a new code file of the model
    second = trust.code_sha256(spec, "torch", {"N": 4})
    assert second != first
    (folder / "jax_model.py").write_text("# the other framework's module\n")
    assert trust.code_sha256(spec, "torch", {"N": 4}) == second


def test_results_added_by_hand_are_marked_and_kept_apart(tmp_path, make_doc):
    own = make_doc(model="gnode", task_version=2, mse=0.3)
    page = _page(tmp_path, [own])
    assert "| gnode " in page and "gnode †" not in page
    hand = make_doc(model="gnode", task_version=2, mse=0.001, seed=1)
    path = results.cell_path(tmp_path / "results", hand["task"], 2, "smoke", "cpu", "gnode",
                             "torch", 1)
    results.write_atomic(path, hand)  # not through the harness: no ledger line
    leaderboard.build(tmp_path / "results", tmp_path / "lb")
    page = (tmp_path / "lb" / "README.md").read_text()
    # better on paper, but not ranked: below the suite's own run, with the reason
    assert "| 1      | gnode " in page and "| —      | gnode † " in page
    assert page.index("| 1      | gnode ") < page.index("| —      | gnode † ")
    forged = next(line for line in page.splitlines() if "| gnode † " in line)
    assert forged.rstrip(" |").endswith("not written by the harness")


SANDBOXED = {"enforced": True, "mechanism": "landlock"}


@pytest.mark.parametrize("changes, why", [
    ({}, None),
    ({"verified": False}, "not written by the harness"),
    ({"status": "stale", "reason": "the model's code changed since it ran; rerun it"},
     "stale: the model's code changed since it ran"),
    ({"model_kind": "submission"}, "a submission's result from an unsandboxed run"),
    ({"model_kind": "submission", "sandbox": {"enforced": False}},
     "a submission's result from an unsandboxed run"),
    ({"model_kind": "submission", "sandbox": SANDBOXED},
     "a submission's result from a run with public test data"),
    ({"model_kind": "submission", "sandbox": SANDBOXED, "test_data": "public"},
     "a submission's result from a run with public test data"),
    ({"model_kind": "submission", "sandbox": SANDBOXED, "test_data": "secret"}, None),
    ({"model_kind": "submission", "sandbox": SANDBOXED, "test_data": "secret",
      "verified": False}, "not written by the harness"),
    ({"status": "diverged"}, None),  # an outcome of the entry, counted in its seeds
])
def test_rank_blocker(changes, why):
    doc = {"model_kind": "baseline", "status": "ok", "verified": True,
           "provenance": {"hardware": {}}}
    sandbox = changes.pop("sandbox", None)
    doc.update(changes)
    if sandbox is not None:
        doc["provenance"]["sandbox"] = sandbox
    assert trust.rank_blocker(doc) == why
