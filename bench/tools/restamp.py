"""``python -m bench restamp``: bring a result's ``code_sha256`` up to the present definition
when, and only when, the present code provably computes what the recorded code computed.

``code_sha256`` once hashed a model's own folder only; it now covers the suite modules that
folder imports (``bench.spec.imports``). A result whose own folder is unchanged but whose hash
differs under the new definition is *stale* until one of two checks passes (a model's own
files must be unchanged too: the same hash, or the same code by the git check):

1. **git** (``bench.tools.same_code``): every imported suite module computes at the commit
   the result records what it computes now: byte-identical, or differing only in docstrings,
   comments, functions no older code could call, the place of modules git sees moved, and a
   declared rename (``same_code.RENAMES``);
2. **outputs**: rebuilt from its checkpoint by the present code (in the sandbox, like any model
   code), the model reproduces the outputs the result recorded on its example trial (held-out
   tasks) or its first generated trajectories (capacity tasks), to the recorded rounding; a
   classifier, which records no outputs, reproduces its test metrics on the test split it was
   scored on (the task file's, or the one its recorded seed gives).

A result that diverged, timed out or ran out of memory has no outputs to reproduce: only the
git check can restamp it (the same code trains the same way).

A restamped result says so in ``provenance.restamped``: by which commit, which check, and the
largest difference; a config key a declared rename added to the metadata with the value the
code took without it is written into its config (``config_added``). A file in an older schema
is rewritten in the present one. Everything else stays stale, and ``make bench`` reruns it.
Only results the suite wrote (ledger) are touched, through the ledger.
"""

from __future__ import annotations

import datetime
import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from bench import results
from bench.data import sequences
from bench.errors import UserError
from bench.results import environment, ledger
from bench.run import isolation, wire
from bench.spec import imports, metrics
from bench.spec.cells import Cell, fingerprint_of
from bench.spec.registry import ModelSpec
from bench.tools import same_code
from bench.train import checkpoints

TOLERANCE = 2e-3  # outputs are recorded rounded to 3 or 4 decimals
LIMITS = isolation.Limits(3600, 16)


def _suite_files(model: ModelSpec, framework: str) -> list[str]:
    from bench.results import trust

    own = trust.own_files(model, framework)
    return [f.relative_to(imports.ROOT).as_posix() for f in imports.first_party_closure(own)]


def _own_files(model: ModelSpec, framework: str) -> list[str]:
    from bench.results import trust

    try:
        return [f.relative_to(imports.ROOT).as_posix() for f in trust.own_files(model, framework)]
    except ValueError:  # a model folder outside the repository: git knows nothing of it
        return ["<outside the repository>"]


def _probe(doc: dict[str, Any], task: Any, model: ModelSpec
           ) -> tuple[dict, Callable[[np.ndarray], float | None]] | None:
    """(inputs and dt to predict on, a function of the predictions giving the largest
    difference from what the result recorded), or None without a record to compare with."""
    if task.capacity is not None:  # the first generated trajectories
        recorded = (doc.get("trajectories") or {}).get("outputs")
        if recorded is None or doc.get("K") is None:
            return None
        split = task.load_split("train", doc["profile"], int(doc["K"]))
        n = len(recorded)
        return ({"inputs": split["inputs"][:n], "dt": split["dt"][:n]},
                lambda pred: _difference(pred, np.asarray(recorded)))
    if sequences.is_classification(task):  # the recorded test metrics, recomputed
        seed = (doc.get("data_seeds") or {}).get("test")  # None: the public split it used
        test = task.load_split("test", doc["profile"], seed=seed)
        seen = (sequences.with_elapsed_time(test, float(task.data["dt"]))
                if sequences.gets_elapsed_time(task, model) else test)

        def metric_difference(pred: np.ndarray) -> float | None:
            now = metrics.compute(list(doc["metrics"]), pred, test["targets"],
                                  test.get("lengths"))
            if not now or set(now) != set(doc["metrics"]):
                return None
            return max(abs(now[k] - doc["metrics"][k]) for k in now)

        return {"inputs": seen["inputs"], "dt": seen["dt"]}, metric_difference
    recorded = (doc.get("example") or {}).get("outputs")
    trial = sequences.example_trial(task, doc["profile"])
    if recorded is None or trial is None:
        return None
    if sequences.gets_elapsed_time(task, model):
        trial = sequences.with_elapsed_time(trial, float(task.data["dt"]))
    return ({"inputs": trial["inputs"], "dt": trial["dt"]},
            lambda pred: _difference(pred, np.asarray(recorded)[None]))


def predict_main(job: dict[str, Any]) -> list[Any]:
    """The sandboxed child's target: each item's model, rebuilt from its checkpoint copy, on
    its inputs (None where that fails)."""
    from bench.run import analyze

    out: list[Any] = []
    for item in job["items"]:
        try:
            spec: ModelSpec = item["model"]
            fw = item["framework"]
            model = checkpoints.load(spec.load(fw), fw, item["config"], item["n_inputs"],
                                     item["n_outputs"], Path(item["checkpoint"]), "cpu")
            out.append(analyze.predict(model, fw, item["inputs"], item["dt"], "cpu"))
        except Exception:  # a model that no longer loads is simply not reproduced
            out.append(None)
    return out


def _reproduce(items: list[dict[str, Any]], results_dir: Path) -> list[np.ndarray | None]:
    with isolation.scratch_folder() as scratch:
        for i, item in enumerate(items):
            copy = scratch / f"{i}-{Path(item['checkpoint']).name}"
            copy.write_bytes(Path(item["checkpoint"]).read_bytes())
            item["checkpoint"] = str(copy)
        out = isolation.run("bench.tools.restamp:predict_main", {"items": items}, scratch, LIMITS,
                            wire.ListOf((wire.Array("f"), type(None))), [results_dir])
    if not out.returned:
        raise UserError(f"restamp: the prediction process failed: "
                        f"{isolation.ended(out, LIMITS)[1]}")
    return out.value


def _read(path: Path) -> tuple[dict[str, Any] | None, bool]:
    """(the result in the present schema, whether it was written in an older one); (None,
    False) for a file that is not a valid result."""
    try:
        raw = json.loads(path.read_text())
        doc = results.validate(results.upgraded(raw), path)
    except (UserError, ValueError, OSError):
        return None, False
    return doc, raw.get("schema_version") != doc["schema_version"]


def restamp(results_dir: Path, echo: Callable[[str], None] = print) -> dict[str, int]:
    """Restamp every result that passes a check; return counts per outcome."""
    from bench.results import trust
    from bench.spec.registry import discover

    models, tasks = discover(), dict[str, Any]()
    git_cache: dict[str, Any] = {}
    counts = {"current": 0, "git": 0, "outputs": 0, "stale": 0, "skipped": 0, "upgraded": 0}
    table = ledger.entries(results_dir)
    Compare = Callable[[np.ndarray], float | None]  # predictions -> their difference
    pending: dict[tuple[str, str], list[tuple[Path, dict, dict, Compare, str | None, dict]]] = {}
    for path in results.result_files(results_dir):
        doc, upgraded = _read(path)
        if doc is None:
            counts["skipped"] += 1
            continue
        model = models.get(str(doc.get("model")))
        fw, config = doc.get("framework"), (doc.get("config") or {}).get("model") or {}
        # a failed cell is rerun anyway; diverged, timeout and oom results are outcomes too
        if (doc["status"] == "failed" or model is None or fw not in model.frameworks
                or not ledger.verified(results_dir, path, table)):
            counts["skipped"] += 1
            continue
        if not all(same_code.applicable(r, config) for r in same_code.RENAMES):
            counts["stale"] += 1  # it set a key the present code no longer reads
            continue
        if doc["task"] not in tasks:
            tasks[doc["task"]] = _task(doc["task"])
        task = tasks[doc["task"]]
        added = _added_defaults(doc, model, task)
        now_config = {**config, **added}
        new = trust.code_sha256(model, fw, now_config)
        commit = (doc.get("provenance") or {}).get("git_commit")
        fingerprint = _fingerprint(doc, model, task, commit, added)
        if fingerprint is None:  # the task or the config changed, not only the model's code
            counts["stale"] += 1
            continue
        if doc.get("code_sha256") == new and doc.get("fingerprint") == fingerprint:
            if upgraded:
                ledger.write_result(results_dir, path, doc)
                counts["upgraded"] += 1
            counts["current"] += 1
            continue
        recorded = doc.get("code_sha256")
        if (recorded is not None
                and recorded != trust.code_sha256(model, fw, config, shared=False)
                and not same_code.same_code(commit, _own_files(model, fw), git_cache, config)):
            counts["stale"] += 1  # its own folder changed: a real change
            continue
        same = same_code.same_code(commit, _suite_files(model, fw), git_cache, config)
        if same:
            how = {"check": "git", "since": commit}
            if isinstance(same, same_code.Rename):
                how["rename"] = same.name
            _write(results_dir, path, doc, new, fingerprint, how, added)
            counts["git"] += 1
            continue
        if doc["status"] != "ok" or task is None:  # no trained model, nothing to reproduce
            counts["stale"] += 1
            continue
        ckpt = checkpoints.path_for(path, fw)
        try:
            probe = _probe(doc, task, model) if task.version == doc["task_version"] else None
        except UserError as e:  # e.g. a real data set not in this machine's data cache
            echo(f"restamp: {path}: cannot regenerate its trial ({e}); stays stale")
            probe = None
        if probe is None or not ckpt.is_file() or doc.get("checkpoint") is None:
            counts["stale"] += 1
            continue
        item = {"model": model, "framework": fw, "config": now_config,
                "n_inputs": doc["checkpoint"]["n_inputs"],
                "n_outputs": doc["checkpoint"]["n_outputs"], "checkpoint": str(ckpt),
                "inputs": probe[0]["inputs"], "dt": probe[0]["dt"]}
        pending.setdefault((model.name, fw), []).append(
            (path, doc, item, probe[1], fingerprint, added))
    for (name, fw), group in sorted(pending.items()):
        echo(f"restamp: {name}/{fw}: reproducing {len(group)} result(s) from checkpoints")
        outputs = _reproduce([entry[2] for entry in group], results_dir)
        for (path, doc, item, compare, fingerprint, added), pred in zip(group, outputs,
                                                                        strict=True):
            new = trust.code_sha256(models[name], fw, item["config"])
            diff = None if pred is None else compare(pred)
            if diff is not None and diff <= TOLERANCE:
                _write(results_dir, path, doc, new, fingerprint,
                       {"check": "outputs", "max_abs_diff": diff}, added)
                counts["outputs"] += 1
            else:
                echo(f"restamp: {path}: not reproduced (max |diff| {diff}); stays stale")
                counts["stale"] += 1
    return counts


def _difference(pred: np.ndarray | None, recorded: np.ndarray) -> float | None:
    if pred is None:
        return None
    pred = np.asarray(pred)
    if pred.shape != recorded.shape:
        return None
    return float(np.max(np.abs(pred - recorded)))


_COMMIT: list[str | None] = []


def _commit() -> str | None:
    if not _COMMIT:
        _COMMIT.append(environment.git_state().get("git_commit"))
    return _COMMIT[0]


def _task(name: str) -> Any:
    """The task's present definition; None when it is gone or no longer loads."""
    from bench.spec.tasks import get_task

    try:
        return get_task(name)
    except UserError:
        return None


def _added_defaults(doc: dict[str, Any], model: ModelSpec, task: Any) -> dict[str, Any]:
    """Config keys a declared rename added to the model's metadata with the value the code
    took without them (``same_code.Rename.config_defaults``), which ``doc``'s config lacks:
    restamping writes them into its config, as a run today would record them."""
    config = (doc.get("config") or {}).get("model") or {}
    if task is None:
        return {}
    present, _ = model.resolve(task.name, doc["profile"])
    return {k: v for rename in same_code.RENAMES if same_code.applicable(rename, config)
            for k, v in rename.config_defaults.items()
            if k not in config and k in present and present[k] == v}


def _fingerprint(doc: dict[str, Any], model: ModelSpec, task: Any, commit: str | None,
                 added: dict[str, Any] | None = None) -> str | None:
    """The fingerprint ``doc`` gets when restamped: its present one, when what it hashes
    besides the model's module (config, training settings, task) is as the result recorded
    (``added``: config keys restamping adds, see :func:`_added_defaults`); None when that
    changed (a real change: the cell must run again). A result of another task version keeps
    its fingerprint: it is judged against its own version's files."""
    if task is None or task.version != doc["task_version"]:
        return doc.get("fingerprint")
    config = (doc.get("config") or {}).get("model") or {}
    training = (doc.get("config") or {}).get("training") or {}
    cell = Cell(model, doc["framework"], task, doc["seed"], size=doc.get("K"))
    now = fingerprint_of(cell, doc["profile"], {**config, **(added or {})}, training)
    if doc.get("fingerprint") == now:
        return now
    try:  # the module as it was when the result was written, or last restamped
        rel = model.code_file(doc["framework"]).resolve().relative_to(imports.ROOT)
    except ValueError:
        return None
    provenance = doc.get("provenance") or {}
    for at in dict.fromkeys([commit, (provenance.get("restamped") or {}).get("by")]):
        old = subprocess.run(["git", "show", f"{at}:{rel.as_posix()}"], cwd=imports.ROOT,
                             capture_output=True) if at else None
        if old is not None and old.returncode == 0 and doc.get("fingerprint") == fingerprint_of(
                cell, doc["profile"], config, training, code=old.stdout):
            return now
    return None


def _write(results_dir: Path, path: Path, doc: dict[str, Any], new: str, fingerprint: str | None,
           how: dict[str, Any], added: dict[str, Any]) -> None:
    doc["code_sha256"] = new
    doc["fingerprint"] = fingerprint
    if added:
        doc["config"]["model"] = {**doc["config"]["model"], **added}
        how = {**how, "config_added": added}
    doc["provenance"]["restamped"] = {
        **how, "by": _commit(),
        "at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")}
    ledger.write_result(results_dir, path, doc)
