"""Which results count, as the leaderboard and the claims see them.

A result is *verified* when its bytes match the ledger line the harness wrote beside it
(``bench.results.ledger``; a record for review, not a signature). Otherwise it was added or
edited by hand: it is listed but never ranked, and it never pools with verified runs.

A result is *stale* when the code that produced it has changed since:

- the SHA-256 of the model's code files, the suite modules they import, and its config
  (``code_sha256``: :func:`code_sha256`) no longer matches, or was never recorded
  (``python -m bench restamp`` updates it where the present code provably reproduces the
  result);
- or the cell's fingerprint no longer matches: the model's module, or the task's definition
  at the same version;
- or the model's config for the task (``metadata.yaml``, ``configs/<task>.yaml``) now resolves
  to another value of a setting the run did not override (:func:`config_change`). The code
  hash and fingerprint cover the config the run *recorded*, so only this catches an edited
  config file.

A stale result is shown and counted, but never ranked, until it is rerun. ``make bench`` reruns
it. So is a result whose task file does not load: nothing tells whether it is current.

:func:`rank_blocker` is the one rule for what may be ranked (and enter the claims): a verified,
current result of a first-party baseline, or of a submission that ran in the enforced sandbox
on the secret test data.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.errors import UserError
from bench.results import ledger
from bench.spec import imports
from bench.spec.cells import Cell, fingerprint_of
from bench.spec.registry import MODULE_FILE, ModelSpec


def own_files(model: ModelSpec, framework: str) -> list[Path]:
    """The model's code files for ``framework``: every ``.py`` in its folder but the other
    framework's module."""
    other = {name for fw, name in MODULE_FILE.items() if fw != framework}
    return [f for f in sorted(model.path.rglob("*.py"))
            if f.relative_to(model.path).as_posix() not in other and "__pycache__" not in f.parts]


def code_sha256(model: ModelSpec, framework: str, config: dict[str, Any],
                shared: bool = True) -> str:
    """SHA-256 of the model's code files (:func:`own_files`), of every first-party module they
    import (``bench.spec.imports``; ``shared=False``: the former hash, without them), and of its
    resolved config."""
    h = hashlib.sha256()
    own = own_files(model, framework)
    for file in own:
        h.update(file.relative_to(model.path).as_posix().encode() + b"\0" + file.read_bytes()
                 + b"\0")
    for file in imports.first_party_closure(own) if shared else []:  # bench/ode_*.py, ...
        h.update(file.relative_to(imports.ROOT).as_posix().encode() + b"\0"
                 + file.read_bytes() + b"\0")
    h.update(json.dumps(config, sort_keys=True, default=str).encode())
    return h.hexdigest()


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)  # a YAML tuple equals its JSON list


def config_change(doc: dict[str, Any], model: ModelSpec, task: Any) -> str | None:
    """The first setting whose present resolution differs from what ``doc`` ran with, as
    ``"key: old → new"`` (None: none). Settings the run overrode (its ``variant``: a sweep's N;
    a tuned cell's selected setting) are the run's own, not the config file's, and are
    skipped."""
    overridden = set(re.findall(r"(?:^|,)([A-Za-z_]\w*)=", doc.get("variant") or ""))
    tuning = doc.get("tuning")
    if isinstance(tuning, dict) and isinstance(tuning.get("selected"), dict):
        overridden |= set(tuning["selected"])
    if doc.get("profile") not in task.profiles:
        return None  # a profile the task no longer has: nothing to resolve against
    config, model_training = model.resolve(task.name, doc["profile"])
    training = {**task.training, **model_training,
                "epochs": task.profile(doc["profile"])["epochs"]}
    recorded = doc.get("config") or {}
    for section, now in (("model", config), ("training", training)):
        then = recorded.get(section) or {}
        for key in sorted(set(now) | set(then)):
            if key in overridden or _canonical(now.get(key)) == _canonical(then.get(key)):
                continue
            return f"{key}: {_canonical(then.get(key))} → {_canonical(now.get(key))}"
    return None


def stale_reason(doc: dict[str, Any], models: dict[str, ModelSpec], tasks: dict[str, Any],
                 hashes: Callable[[ModelSpec, str, dict[str, Any]], str] = code_sha256,
                 ) -> str | None:
    """Why ``doc`` no longer describes the current code (None: it does). ``hashes`` computes
    :func:`code_sha256` (the leaderboard passes a cached one)."""

    model, task = models.get(doc["model"]), tasks.get(doc["task"])
    if model is None or doc["framework"] not in model.frameworks:
        return None  # its code is gone: nothing to compare with, nothing to rerun
    recorded = doc.get("code_sha256")
    config = (doc.get("config") or {}).get("model") or {}
    if not recorded:
        return "it records no code hash (python -m bench restamp checks whether it is current)"
    if recorded != hashes(model, doc["framework"], config):
        return "the model's code, or suite code it imports, changed since it ran"
    if task is None or task.version != doc["task_version"]:
        return None  # an older task version: its own table, judged by its own files
    cell = Cell(model, doc["framework"], task, doc["seed"], size=doc.get("K"))
    training = (doc.get("config") or {}).get("training") or {}
    if fingerprint_of(cell, doc["profile"], config, training) != doc.get("fingerprint"):
        return "the model's module or the task changed since it ran"
    changed = config_change(doc, model, task)
    if changed:
        return f"the model's config for this task changed since it ran ({changed})"
    return None


def rank_blocker(doc: dict[str, Any]) -> str | None:
    """Why ``doc`` (after :func:`annotate`) may not be ranked or enter the claims; None: it
    may. First-party baselines are code reviewed in the repository; a submission's code is a
    stranger's, so its result counts only from the enforced sandbox with the test data
    secret."""
    if doc.get("verified") is False:
        return "not written by the harness"
    if doc.get("status") == "stale":
        return "stale: " + str(doc.get("reason") or "rerun it").split(";")[0]
    if doc.get("model_kind") != "baseline":
        sandbox = (doc.get("provenance") or {}).get("sandbox") or {}
        if not (isinstance(sandbox, dict) and sandbox.get("enforced") is True):
            return "a submission's result from an unsandboxed run"
        # "training": a capacity task is scored on the targets it trains on, nothing to hide
        if doc.get("test_data") not in ("secret", "training"):
            return "a submission's result from a run with public test data"
    return None


def annotate(results_dir: Path, paths: list[Path], docs: list[dict[str, Any]]) -> list[str]:
    """Mark each document in place: ``verified``, and a stale one's status ``stale``. Returns
    one line per problem found on the way (a task file that does not load, a broken ledger),
    which costs only the results that depend on it."""
    from bench.spec.registry import discover
    from bench.spec.tasks import get_task, task_files

    problems: list[str] = []
    models = discover()
    tasks: dict[str, Any] = {}
    broken: dict[str, str] = {}
    for name, file in task_files().items():
        try:
            tasks[name] = get_task(name)
        except UserError as e:  # its results cannot be checked against it: not ranked
            problems.append(str(e))
            broken[name] = file.name
    try:
        table = ledger.entries(results_dir)
    except UserError as e:  # nothing can be verified: every result is listed, none ranked
        problems.append(str(e))
        table = {}
    cache: dict[tuple[str, str, str], str] = {}

    def cached(model: ModelSpec, framework: str, config: dict[str, Any]) -> str:
        key = (model.name, framework, json.dumps(config, sort_keys=True, default=str))
        if key not in cache:  # many results share a model and config: read its files once
            cache[key] = code_sha256(model, framework, config)
        return cache[key]

    for path, doc in zip(paths, docs, strict=True):
        doc["verified"] = ledger.verified(results_dir, path, table)
        if doc["status"] == "ok" and doc["task"] in broken:
            doc.update(status="stale", reason=f"its task file tasks/{broken[doc['task']]} does "
                       "not load; fix it, then rerun what changed")
            continue
        why = stale_reason(doc, models, tasks, cached) if doc["status"] == "ok" else None
        if why:
            doc.update(status="stale", reason=f"{why}; rerun it (make bench reruns it)")
    return problems
