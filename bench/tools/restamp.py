"""``python -m bench restamp``: bring a result's ``code_sha256`` up to the present definition
when, and only when, the present code provably computes what the recorded code computed.

``code_sha256`` once hashed a model's own folder only; it now covers the suite modules that
folder imports (``bench.spec.imports``). A result whose own folder is unchanged but whose hash
differs under the new definition is *stale* until one of two checks passes (a model's own
files must be unchanged too: the same hash, or the same code by the git check):

1. **git**: every imported suite module computes at the commit the result records what it
   computes now: byte-identical, or differing only in docstrings, comments, functions
   added under names the older module never used (which older code cannot call), and the
   place of modules git sees moved (``bench/x.py`` -> ``bench/models/x.py``, imported from
   there; a new package marker must be empty);
2. **outputs**: rebuilt from its checkpoint by the present code (in the sandbox, like any model
   code), the model reproduces the outputs the result recorded on its example trial (held-out
   tasks) or its first generated trajectories (capacity tasks), to the recorded rounding; a
   classifier, which records no outputs, reproduces its test metrics on the test split it was
   scored on (the task file's, or the one its recorded seed gives).

A result that diverged, timed out or ran out of memory has no outputs to reproduce: only the
git check can restamp it (the same code trains the same way).

A restamped result says so in ``provenance.restamped``: by which commit, which check, and the
largest difference. Everything else stays stale, and ``make bench`` reruns it. Only results
the suite wrote (ledger) are touched, through the ledger.
"""

from __future__ import annotations

import ast
import datetime
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


def _empty(source: str) -> bool:
    """Whether a module holds nothing but a docstring and ``from __future__`` imports."""
    try:
        body = ast.parse(source).body
    except SyntaxError:
        return False
    return all((isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant))
               or (isinstance(n, ast.ImportFrom) and n.module == "__future__") for n in body)


def _module(path: str) -> str:
    """``bench/models/ode.py`` -> ``bench.models.ode`` (a package's ``__init__.py``: itself)."""
    parts = path.removesuffix(".py").split("/")
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _moved_modules(commit: str, cache: dict) -> dict[str, str]:
    """Modules that git sees moved since ``commit``: {present name: name at ``commit``}."""
    key = ("moved", commit)
    if key not in cache:
        out = subprocess.run(["git", "diff", "-M", "--name-status", commit, "--", "."],
                             cwd=imports.ROOT, capture_output=True, text=True)
        moved = {}
        for line in out.stdout.splitlines() if out.returncode == 0 else []:
            status, *paths = line.split("\t")
            if status.startswith("R") and len(paths) == 2 and paths[1].endswith(".py"):
                moved[paths[1]] = paths[0]
        cache[key] = moved
    return cache[key]


class _FormerNames(ast.NodeTransformer):
    """``bench.models.x`` spelled out in code (after ``import bench.models.x``) -> ``bench.x``."""

    def __init__(self, modules: dict[str, str]) -> None:
        self.modules = modules

    def visit_Attribute(self, node: ast.Attribute) -> ast.AST:
        parts, inner = [node.attr], node.value
        while isinstance(inner, ast.Attribute):
            parts.append(inner.attr)
            inner = inner.value
        if isinstance(inner, ast.Name):
            dotted = ".".join([inner.id, *reversed(parts)])
            if dotted in self.modules:
                return ast.parse(self.modules[dotted], mode="eval").body
        self.generic_visit(node)
        return node


def _as_before(tree: ast.AST, modules: dict[str, str]) -> None:
    """Rewrite imports of moved modules to their former names, in place. Only moves that keep
    a module's own name are undone (``bench.x`` -> ``bench.models.x``); a renamed module stays
    a difference."""
    _FormerNames(modules).visit(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                alias.name = modules.get(alias.name, alias.name)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module in modules:
                node.module = modules[node.module]
                continue
            parents = {modules[f"{node.module}.{a.name}"].rpartition(".")[0]
                       for a in node.names if f"{node.module}.{a.name}" in modules
                       and modules[f"{node.module}.{a.name}"].endswith("." + a.name)}
            if len(parents) == 1:  # `from bench.models import ode` was `from bench import ode`
                node.module = parents.pop()


def _pruned(source: str, known: set[str], moved: dict[str, str] | None = None) -> str:
    """The module's AST without docstrings and without functions whose names ``known`` (the
    identifiers of the older source) never had: code the older code could not have called.
    ``moved`` ({present module: former module}): imports written as they were before."""
    tree = ast.parse(source)
    if moved:
        _as_before(tree, moved)

    def keep(node: ast.AST) -> bool:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            return node.name in known or node.name.startswith("__")
        return not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
                    and isinstance(node.value.value, str))  # a docstring

    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            node.body = [n for n in node.body if keep(n)] or [ast.Pass()]
    return ast.dump(tree, annotate_fields=False)


def _same_code(commit: str | None, files: list[str], cache: dict) -> bool:
    """Whether every file computes at ``commit`` what it computes now: byte-identical, or
    differing only in docstrings, comments, newly added functions (names the older file never
    used), which the older code cannot reach, and the names of modules git sees moved (a file
    moved into a package, imported from there)."""
    if not commit:
        return False
    key = ("ast", commit, tuple(files))
    if key in cache:
        return cache[key]
    renamed = _moved_modules(commit, cache)
    moved = {_module(new): _module(old) for new, old in renamed.items()}
    same = True
    for file in files:
        old = subprocess.run(["git", "show", f"{commit}:{renamed.get(file, file)}"],
                             cwd=imports.ROOT, capture_output=True, text=True)
        new = (imports.ROOT / file).read_text()
        if old.returncode != 0:  # new since: only an empty package marker changes nothing
            same = file.endswith("__init__.py") and _empty(new)
            if not same:
                break
            continue
        if old.stdout == new:
            continue
        try:
            nodes = list(ast.walk(ast.parse(old.stdout)))
            known = {n.id for n in nodes if isinstance(n, ast.Name)}
            known |= {n.attr for n in nodes if isinstance(n, ast.Attribute)}
            known |= {n.name for n in nodes
                      if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}
            if _pruned(old.stdout, known) != _pruned(new, known, moved):
                same = False
                break
        except SyntaxError:
            same = False
            break
    cache[key] = same
    return same


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


def restamp(results_dir: Path, echo: Callable[[str], None] = print) -> dict[str, int]:
    """Restamp every result that passes a check; return counts per outcome."""
    from bench.results import trust
    from bench.spec.registry import discover

    models, tasks = discover(), dict[str, Any]()
    git_cache: dict[str, Any] = {}
    counts = {"current": 0, "git": 0, "outputs": 0, "stale": 0, "skipped": 0}
    table = ledger.entries(results_dir)
    Compare = Callable[[np.ndarray], float | None]  # predictions -> their difference
    pending: dict[tuple[str, str], list[tuple[Path, dict, dict, Compare, str | None]]] = {}
    for path in results.result_files(results_dir):
        try:
            doc = results.read(path)
        except UserError:
            counts["skipped"] += 1
            continue
        model = models.get(str(doc.get("model")))
        fw, config = doc.get("framework"), (doc.get("config") or {}).get("model") or {}
        # a failed cell is rerun anyway; diverged, timeout and oom results are outcomes too
        if (doc["status"] == "failed" or model is None or fw not in model.frameworks
                or not ledger.verified(results_dir, path, table)):
            counts["skipped"] += 1
            continue
        new = trust.code_sha256(model, fw, config)
        commit = (doc.get("provenance") or {}).get("git_commit")
        if doc["task"] not in tasks:
            tasks[doc["task"]] = _task(doc["task"])
        task = tasks[doc["task"]]
        fingerprint = _fingerprint(doc, model, task, commit)
        if fingerprint is None:  # the task or the config changed, not only the model's code
            counts["stale"] += 1
            continue
        if doc.get("code_sha256") == new and doc.get("fingerprint") == fingerprint:
            counts["current"] += 1
            continue
        recorded = doc.get("code_sha256")
        if (recorded is not None
                and recorded != trust.code_sha256(model, fw, config, shared=False)
                and not _same_code(commit, _own_files(model, fw), git_cache)):
            counts["stale"] += 1  # its own folder changed: a real change
            continue
        if _same_code(commit, _suite_files(model, fw), git_cache):
            _write(results_dir, path, doc, new, fingerprint, {"check": "git", "since": commit})
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
        item = {"model": model, "framework": fw, "config": config,
                "n_inputs": doc["checkpoint"]["n_inputs"],
                "n_outputs": doc["checkpoint"]["n_outputs"], "checkpoint": str(ckpt),
                "inputs": probe[0]["inputs"], "dt": probe[0]["dt"]}
        pending.setdefault((model.name, fw), []).append((path, doc, item, probe[1], fingerprint))
    for (name, fw), group in sorted(pending.items()):
        echo(f"restamp: {name}/{fw}: reproducing {len(group)} result(s) from checkpoints")
        outputs = _reproduce([item for _, _, item, _, _ in group], results_dir)
        for (path, doc, _, compare, fingerprint), pred in zip(group, outputs, strict=True):
            new = trust.code_sha256(models[name], fw, doc["config"]["model"])
            diff = None if pred is None else compare(pred)
            if diff is not None and diff <= TOLERANCE:
                _write(results_dir, path, doc, new, fingerprint,
                       {"check": "outputs", "max_abs_diff": diff})
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


def _fingerprint(doc: dict[str, Any], model: ModelSpec, task: Any, commit: str | None
                 ) -> str | None:
    """The fingerprint ``doc`` gets when restamped: its present one, when what it hashes
    besides the model's module (config, training settings, task) is as the result recorded;
    None when that changed (a real change: the cell must run again). A result of another task
    version keeps its fingerprint: it is judged against its own version's files."""
    if task is None or task.version != doc["task_version"]:
        return doc.get("fingerprint")
    config = (doc.get("config") or {}).get("model") or {}
    training = (doc.get("config") or {}).get("training") or {}
    cell = Cell(model, doc["framework"], task, doc["seed"], size=doc.get("K"))
    now = fingerprint_of(cell, doc["profile"], config, training)
    if doc.get("fingerprint") == now:
        return now
    try:  # the module as it was when the result was written
        rel = model.code_file(doc["framework"]).resolve().relative_to(imports.ROOT)
    except ValueError:
        return None
    old = subprocess.run(["git", "show", f"{commit}:{rel.as_posix()}"], cwd=imports.ROOT,
                         capture_output=True) if commit else None
    if old is None or old.returncode != 0:
        return None
    before = fingerprint_of(cell, doc["profile"], config, training, code=old.stdout)
    return now if before == doc.get("fingerprint") else None


def _write(results_dir: Path, path: Path, doc: dict[str, Any], new: str, fingerprint: str | None,
           how: dict[str, Any]) -> None:
    doc["code_sha256"] = new
    doc["fingerprint"] = fingerprint
    doc["provenance"]["restamped"] = {
        **how, "by": _commit(),
        "at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")}
    ledger.write_result(results_dir, path, doc)
