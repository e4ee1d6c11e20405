"""Result files: one JSON document per (task@version, model, framework, device class, seed,
profile), written atomically. The schema is documented in README.md ("Result files").
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

from bench.atomic import write_bytes_atomic
from bench.errors import UserError

SCHEMA_VERSION = 2
STATUSES = ("ok", "diverged", "failed", "timeout", "oom")
REQUIRED = ("schema_version", "task", "task_version", "model", "model_kind", "framework",
            "device", "device_class", "seed", "profile", "status", "metrics", "primary_metric",
            "higher_is_better", "n_params", "timing", "config", "provenance")


def _int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _maybe(test):  # null allowed: a non-finite number is stored as null, a figure may be absent
    return lambda v: v is None or test(v)


def _one_of(*values: Any):
    return lambda v: v in values


def _is(kind: type | tuple[type, ...]):
    return lambda v: isinstance(v, kind)


NUMBER, NUMBER_OR_NULL = (_number, "a number"), (_maybe(_number), "a number or null")
TEXT, TEXT_OR_NULL = (_is(str), "a string"), (_maybe(_is(str)), "a string or null")
MAPPING, MAPPING_OR_NULL = (_is(dict), "a mapping"), (_maybe(_is(dict)), "a mapping or null")
# What the harness, the leaderboard, the claims and bench.results.trust read from a result, and
# its type.
# ``*`` is every key of a mapping. Required fields are in REQUIRED (top level) or marked here.
FIELDS: tuple[tuple[str, tuple, bool], ...] = (
    ("task", TEXT, True), ("model", TEXT, True), ("framework", TEXT, True),
    ("device", TEXT, True), ("profile", TEXT, True),
    ("task_version", (lambda v: _int(v) and v >= 1, "an integer >= 1"), True),
    ("seed", (lambda v: _int(v) and v >= 0, "an integer >= 0"), True),
    ("model_kind", (_one_of("baseline", "submission"), "baseline or submission"), True),
    ("device_class", (_one_of("cpu", "gpu"), "cpu or gpu"), True),
    ("reason", TEXT_OR_NULL, False), ("variant", TEXT_OR_NULL, False),
    ("run_variant", TEXT, False), ("standard", (_is(bool), "true or false"), False),
    ("role", (_one_of("standard", "tuning", "tuned"), "standard, tuning or tuned"), False),
    ("ruleset", (_one_of("default", "tuned"), "default or tuned"), False),
    ("test_data", TEXT, False),  # secret, public, ...: only "secret" ranks a submission
    ("fingerprint", TEXT_OR_NULL, False), ("code_sha256", TEXT_OR_NULL, False),
    ("K", (_maybe(lambda v: _int(v) and v >= 1), "an integer >= 1 or null"), False),
    ("capacity", MAPPING_OR_NULL, False), ("tuning", MAPPING_OR_NULL, False),
    ("metrics", MAPPING, True), ("metrics.*", NUMBER_OR_NULL, False),
    ("primary_metric", TEXT, True),
    ("higher_is_better", MAPPING, True),
    ("higher_is_better.*", (_is(bool), "true or false"), False),
    ("n_params", (_maybe(lambda v: _int(v) and v >= 0), "an integer >= 0 or null"), True),
    ("timing", MAPPING, True),
    *((f"timing.{k}", NUMBER_OR_NULL, False)
      for k in ("train_total_s", "step_median_s", "step_iqr_s", "first_step_s", "compile_s",
                "eval_s", "eval_seqs_per_s")),
    ("timing.cells_beside", (_maybe(lambda v: _int(v) and v >= 0), "an integer >= 0"), False),
    ("timing.ensemble_members", (_maybe(lambda v: _int(v) and v >= 1), "an integer >= 1"),
     False),
    ("timing.threads", (_maybe(lambda v: _int(v) and v >= 1), "an integer >= 1"), False),
    ("timing.other_cpu_share", (_maybe(lambda v: _number(v) and 0 <= v <= 1),
                                "a number from 0 to 1 or null"), False),
    ("peak_memory", MAPPING_OR_NULL, False), ("peak_memory.*", NUMBER_OR_NULL, False),
    ("nfe", MAPPING_OR_NULL, False), ("nfe.*", NUMBER_OR_NULL, False),
    ("hold", MAPPING_OR_NULL, False), ("hold.write_error", NUMBER_OR_NULL, False),
    ("hold.memory_auc", NUMBER_OR_NULL, False), ("hold.coverage", MAPPING, False),
    ("hold.coverage.*", NUMBER_OR_NULL, False), ("hold.hold_error", MAPPING, False),
    ("hold.hold_error.*", NUMBER_OR_NULL, False),
    ("attractor", MAPPING_OR_NULL, False), ("attractor.status", TEXT, False),
    *((f"attractor.{k}", NUMBER_OR_NULL, False)
      for k in ("slow_set_coverage", "n_slow_points", "local_dim", "coverage")),
    ("attractor.portrait", TEXT_OR_NULL, False), ("attractor.gate", MAPPING_OR_NULL, False),
    ("attractor.gate.median", NUMBER_OR_NULL, False),
    ("attractor.gate.fraction_closed", NUMBER_OR_NULL, False),
    ("attractor.gate.histogram", (_is(list), "a list"), False),
    ("example", MAPPING_OR_NULL, False), ("curve", MAPPING_OR_NULL, False),
    ("curve.val_loss", (_is(list), "a list"), False),
    ("config", MAPPING, True), ("config.model", MAPPING, False),
    ("config.training", MAPPING, False),
    ("provenance", MAPPING, True), ("provenance.hardware", MAPPING, True),
    ("provenance.hardware.cpu", TEXT_OR_NULL, False),
    ("provenance.hardware.cores", (_maybe(_int), "an integer or null"), False),
    ("provenance.hardware.gpu", TEXT_OR_NULL, False),
    ("provenance.hardware.gpu_memory_gb", NUMBER_OR_NULL, False),
    ("provenance.git_commit", TEXT_OR_NULL, True),
    ("provenance.git_dirty", (_maybe(_is(bool)), "true, false or null"), True),
    ("provenance.started_at", TEXT, False), ("provenance.finished_at", TEXT, False),
    ("provenance.isolated", (_is(bool), "true or false"), False),
    ("provenance.requirements", (lambda v: isinstance(v, list)
                                 and all(isinstance(r, str) for r in v), "a list of text"), False),
    ("provenance.sandbox", MAPPING, False),
    ("provenance.sandbox.enforced", (_is(bool), "true or false"), False),
)


def cell_path(results_dir: Path, task: str, version: int, profile: str, device_class: str,
              model: str, framework: str, seed: int, size: int | None = None) -> Path:
    """Where a cell's result lives; the path encodes every part of the cell's identity.

    ``model`` carries the variant, if any (``gnode+solver=dopri5``); ``size`` is K on a
    capacity task.
    """
    k = "" if size is None else f"-K{size}"
    return (Path(results_dir) / f"{task}@v{version}" / profile / device_class
            / f"{model}-{framework}{k}-seed{seed}.json")


def plain(value: Any) -> Any:
    """``value`` as it reads back from a result file (non-finite numbers as null, tuples as
    lists), to compare a document in memory with one on disk."""
    return json.loads(json.dumps(_clean(value)))


def _clean(value: Any) -> Any:
    """JSON has no NaN or infinity: store them as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def _holds_mapping(value: Any) -> bool:
    if isinstance(value, dict):
        return True
    return isinstance(value, list | tuple) and any(_holds_mapping(v) for v in value)


def _layout(value: Any, depth: int) -> str:
    pad = " " * (depth + 1)
    if isinstance(value, dict) and value:
        items = [f"{pad}{json.dumps(k)}: {_layout(value[k], depth + 1)}" for k in sorted(value)]
        return "{\n" + ",\n".join(items) + "\n" + " " * depth + "}"
    if isinstance(value, list | tuple) and _holds_mapping(value):
        items = [pad + _layout(v, depth + 1) for v in value]
        return "[\n" + ",\n".join(items) + "\n" + " " * depth + "]"
    return json.dumps(value, allow_nan=False, separators=(",", ":"))


def dumps(result: dict[str, Any]) -> str:
    """A result file's text: one key per line, sorted, and each list of numbers (a curve, a
    trajectory) on one line, which keeps a file about a third smaller than one number per line
    and its diff readable. NaN and infinity become null."""
    return _layout(_clean(result), 0) + "\n"


def write_atomic(path: Path, result: dict[str, Any]) -> None:
    """Write to a temporary file in the same folder, flush to disk, then rename over ``path``.

    A crash leaves either the old file or the new one, never half of one.
    """
    write_bytes_atomic(Path(path), dumps(result).encode())


def _values(doc: Any, path: str) -> list[tuple[str, Any]]:
    """(name, value) of every field at ``path`` (``a.b``, ``a.*``) that is present."""
    found: list[tuple[str, Any]] = [("", doc)]
    for key in path.split("."):
        step = []
        for name, node in found:
            if not isinstance(node, dict):
                continue  # its parent's own rule judges a parent of the wrong type
            keys = list(node) if key == "*" else [key] if key in node else []
            step += [(f"{name}.{k}" if name else str(k), node[k]) for k in keys]
        found = step
    return found


def _from_v1(doc: dict[str, Any]) -> dict[str, Any]:
    """Schema 1 called the process's peak memory ``memory``, the memory probes' word."""
    out = {k: v for k, v in doc.items() if k != "memory"}
    if "memory" in doc:
        out["peak_memory"] = doc["memory"]
    return {**out, "schema_version": 2}


UPGRADES = {1: _from_v1}


def upgraded(doc: Any) -> Any:
    """``doc`` in the present schema, its older version's fields renamed, as read (the file
    keeps its bytes until the harness or ``bench restamp`` writes it again)."""
    while (isinstance(doc, dict) and type(doc.get("schema_version")) is int
           and doc["schema_version"] in UPGRADES):
        doc = UPGRADES[doc["schema_version"]](doc)
    return doc


def problem(result: Any) -> str | None:
    """Why ``result`` is not a valid result document (None: it is), naming the field."""
    if not isinstance(result, dict):
        return "not a result object; delete it and rerun the cell"
    missing = [k for k in REQUIRED if k not in result]
    if missing:
        return f"result file lacks {', '.join(missing)}; delete it and rerun the cell"
    if result["schema_version"] != SCHEMA_VERSION:
        return (f"schema_version {result['schema_version']!r} is not {SCHEMA_VERSION}; rerun the "
                "cell with this version of the suite")
    if result["status"] not in STATUSES:
        return f"unknown status {result['status']!r}; delete it and rerun the cell"
    for path, (ok, wanted), required in FIELDS:
        values = _values(result, path)
        parent = _values(result, path.rpartition(".")[0]) if "." in path else [("", result)]
        if required and not values and all(isinstance(v, dict) for _, v in parent):
            return f"{path} is missing; delete it and rerun the cell"
        for name, value in values:
            if not ok(value):
                shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
                return f"{name} must be {wanted}, not {shown}; delete it and rerun the cell"
    return None


def validate(result: Any, where: Path | str) -> dict[str, Any]:
    """``result`` if it is a valid result document; else a one-line :class:`UserError` that
    names ``where`` and the field."""
    why = problem(result)
    if why:
        raise UserError(f"{where}: {why}")
    return result


def _parse(path: Path) -> tuple[Any, str | None]:
    """(the file's JSON, None), or (None, why it cannot be read)."""
    try:
        return json.loads(Path(path).read_text()), None
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None, "not valid JSON; delete it and rerun the cell"
    except OSError as e:
        return None, f"cannot be read ({e.strerror or type(e).__name__}); check the file"


def read(path: Path) -> dict[str, Any]:
    """The result document in ``path``, in the present schema; a one-line UserError if it is
    not one."""
    doc, why = _parse(path)
    if why:
        raise UserError(f"{path}: {why}")
    return validate(upgraded(doc), path)


def result_files(results_dir: Path) -> list[Path]:
    """Every result file under ``results_dir``, in path order (temporary files, the
    analysis' ``.slowpoints.json`` files and the trials ``bench.results.store`` shares are not
    results)."""
    perf = Path(results_dir) / "perf"  # bench.perf.step_time's records, not cells
    return [p for p in sorted(Path(results_dir).rglob("*.json"))
            if not p.name.startswith(".") and not p.name.endswith(".slowpoints.json")
            and not SHARED_TRIAL.fullmatch(p.name) and perf not in p.parents]


SHARED_TRIAL = re.compile(r"example\.json|trajectories-K\d+\.json")  # bench.results.store's files


def load_all(results_dir: Path) -> list[dict[str, Any]]:
    """Every result under ``results_dir``, in path order; the first bad file raises."""
    return [read(p) for p in result_files(results_dir)]


def load_each(results_dir: Path) -> tuple[list[tuple[Path, dict[str, Any]]],
                                          list[tuple[Path, str]]]:
    """Every readable, valid result under ``results_dir`` as (path, document), in path order,
    and every other result file as (path, why it was skipped): one bad file costs itself."""
    good, bad = [], []
    for p in result_files(results_dir):
        doc, why = _parse(p)
        doc = upgraded(doc)
        why = why or problem(doc)
        if why:
            bad.append((p, why))
        else:
            good.append((p, doc))
    return good, bad
