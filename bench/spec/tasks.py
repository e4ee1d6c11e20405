"""Load, validate and materialise the declarative task files in ``tasks/``.

A task file names a generator module (``tasks/<generator>.py``), a version, data parameters,
splits with seeds, metrics and training defaults. ``include:`` merges a template first (the
task's own keys win, dictionaries merge key by key).

A *capacity* task (``capacity:`` instead of ``splits:``) asks how many targets a model can
learn: it is trained and scored on the same K targets, for growing K (``bench.run.capacity``).
"""

from __future__ import annotations

import fnmatch
import importlib
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from bench.errors import UserError, unknown

TASKS_DIR = Path(__file__).resolve().parents[2] / "tasks"
SPLITS = ("train", "validation", "test")
PROFILES = ("smoke", "quick", "paper")
# Task keys no cell's result depends on (``Task.identity``).
RECOMPUTABLE = ("tuning",)
# True in a process that runs model code (bench.run.model_process): the test split is refused there.
SEALED = False
REQUIRED = ("name", "version", "generator", "data", "splits", "metrics", "primary_metric",
            "higher_is_better", "training", "profiles")


@dataclass(frozen=True)
class Task:
    """A resolved task definition (after ``include:``)."""

    name: str
    version: int
    generator: str
    data: dict[str, Any]
    splits: dict[str, dict[str, int]]
    metrics: list[str]
    primary_metric: str
    higher_is_better: dict[str, bool]
    training: dict[str, Any]
    profiles: dict[str, dict[str, Any]]
    description: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.name}@v{self.version}"

    @property
    def capacity(self) -> dict[str, Any] | None:
        """The capacity block (sizes, threshold, metric, seed), or None for held-out tasks."""
        return self.extra.get("capacity")

    def identity(self, profile: str) -> dict[str, Any]:
        """The definition as a cell of ``profile`` depends on it (cells' fingerprints).

        Left out: the description, the other profiles, the tuning grids (a tuned cell's
        chosen setting enters its own training settings) and the hold probe, whose numbers
        ``python -m bench analyze`` recomputes from checkpoints and stores with its settings.
        """
        extra = {k: v for k, v in self.extra.items() if k not in RECOMPUTABLE}
        if isinstance(extra.get("memory"), dict):
            extra["memory"] = {k: v for k, v in extra["memory"].items() if k != "hold"}
        return {"name": self.name, "version": self.version, "generator": self.generator,
                "data": self.data, "splits": self.splits, "metrics": self.metrics,
                "primary_metric": self.primary_metric, "higher_is_better": self.higher_is_better,
                "training": self.training, "profile": self.profiles.get(profile), "extra": extra}

    def profile(self, profile: str) -> dict[str, Any]:
        if profile not in self.profiles:
            raise UserError(f"task {self.name} has no {profile!r} profile; it has "
                            f"{', '.join(self.profiles)}")
        return self.profiles[profile]

    def load_split(self, split: str, profile: str = "paper", size: int | None = None,
                   seed: int | None = None) -> dict[str, np.ndarray]:
        """The split's arrays: deterministic given the version and the split's seed (the task
        file's, or ``seed``: an official run's secret draw for its test split).

        Small profiles take a prefix (``max_<split>``) of the full split, never other data.
        A capacity task needs ``size`` (K); its three splits are the same K targets.
        """
        if SEALED and split == "test" and self.capacity is None:
            raise UserError("the test split is sealed in a model's process: the harness keeps "
                            "the test targets and computes every metric itself")
        spec = self.splits[split]
        if self.capacity is not None:
            if size is None:
                raise UserError(f"task {self.name} is a capacity task: it needs K, the number "
                                "of targets; run it with `python -m bench sweep expressivity`")
            spec = {**spec, "size": size}
        module = importlib.import_module(f"tasks.{self.generator}")
        try:
            arrays = module.generate(self.data, int(spec["size"]),
                                     int(spec["seed"]) if seed is None else int(seed), split)
        except (KeyError, ValueError, TypeError, IndexError) as e:
            raise UserError(f"task {self.name}: tasks/{self.generator}.py rejects its data "
                            f"parameters ({type(e).__name__}: {e}); fix the task file") from None
        limit = self.profiles.get(profile, {}).get(f"max_{split}")
        if limit:
            arrays = {k: v[: int(limit)] for k, v in arrays.items()}
        return arrays


def merge(base: dict, over: dict) -> dict:
    """``over`` on top of ``base``, mapping by mapping: what ``include:`` does (task files and
    models' ``configs/<task>.yaml``)."""
    out = dict(base)
    for k, v in over.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _read(path: Path, seen: tuple[Path, ...] = ()) -> dict:
    path = path.resolve()
    if path in seen:
        raise UserError(f"task file {path.name}: include cycle through {path.name}")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        where = getattr(e, "problem_mark", None)
        line = f" (line {where.line + 1})" if where else ""
        raise UserError(f"task file {path}: not valid YAML{line}; fix the file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(f"task file {path}: cannot be read ({type(e).__name__}); fix the "
                        "file or its permissions") from None
    if not isinstance(raw, dict):
        raise UserError(f"task file {path}: expected a mapping of keys at the top; fix the file")
    inc = raw.pop("include", None)
    if inc is None:
        return raw
    if not isinstance(inc, str) or not (path.parent / inc).is_file():
        raise UserError(f"task file {path}: include {inc!r} is not a file beside it")
    return merge(_read(path.parent / inc, (*seen, path)), raw)


def _validate(raw: dict, path: Path) -> Task:
    def bad(msg: str) -> UserError:
        return UserError(f"task file {path}: {msg}; fix the file")

    if "capacity" in raw:
        if "splits" in raw:
            raise bad("a capacity task has no splits (it is trained and scored on the same "
                      "K targets); remove splits")
        problem = _capacity_problem(raw)
        if problem:
            raise bad(problem)
        cap = raw["capacity"]
        raw = {**raw, "splits": {s: {"size": max(cap["sizes"]), "seed": cap["seed"]}
                                 for s in SPLITS}}
    missing = [k for k in REQUIRED if k not in raw]
    if missing:
        raise bad(f"missing key(s) {', '.join(missing)}")
    if not isinstance(raw["name"], str) or raw["name"] != path.stem:
        raise bad(f"name {raw['name']!r} must match the file name {path.stem!r}")
    version = raw["version"]
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise bad("version must be a positive integer")
    gen = raw["generator"]
    if not isinstance(gen, str) or not (TASKS_DIR / f"{gen}.py").is_file():
        raise bad(f"generator {raw['generator']!r} is not a module in tasks/")
    splits = raw["splits"]
    if not isinstance(splits, dict) or set(splits) != set(SPLITS):
        raise bad(f"splits must be exactly {', '.join(SPLITS)}")
    for s, spec in splits.items():
        if not isinstance(spec, dict) or not all(
            _is_int(spec.get(k)) and spec[k] >= 0 for k in ("size", "seed")
        ) or spec["size"] < 1:
            raise bad(f"split {s} needs integer size >= 1 and seed >= 0")
    if "capacity" not in raw and len({spec["seed"] for spec in splits.values()}) != len(SPLITS):
        raise bad("the splits must have different seeds")
    for key in ("data", "training", "profiles"):
        if not isinstance(raw[key], dict):
            raise bad(f"{key} must be a mapping")
    wrong = _number_problem(raw)
    if wrong:  # before anything below reads a number (channels, sizes) and trips on it
        keys, what = wrong
        source = _origin(path, keys)
        where = (f"task file {source}" if source == path.resolve()
                 else f"task file {source} (included by {path.name})")
        raise UserError(f"{where}: {'.'.join(keys)} {what}; fix the file")
    metrics = raw["metrics"]
    if not isinstance(metrics, list) or not metrics or not all(isinstance(m, str) for m in metrics):
        raise bad("metrics must be a non-empty list of names")
    from bench.spec.metrics import MEMORY_METRICS, METRICS

    unknown_metrics = [m for m in metrics if m not in (*METRICS, *MEMORY_METRICS)]
    if unknown_metrics:
        raise bad(f"unknown metric(s) {', '.join(unknown_metrics)}; known: "
                  f"{', '.join((*METRICS, *MEMORY_METRICS))}")
    if any(m in MEMORY_METRICS for m in metrics):
        problem = _memory_problem(raw)
        if problem:
            raise bad(problem)
    if "capacity" in raw and raw["capacity"]["metric"] not in metrics:
        raise bad(f"capacity.metric {raw['capacity']['metric']!r} is not among metrics")
    if raw["primary_metric"] not in metrics:
        raise bad(f"primary_metric {raw['primary_metric']!r} is not among metrics")
    hib = raw["higher_is_better"]
    if not isinstance(hib, dict) or set(hib) != set(metrics) or not all(
        isinstance(v, bool) for v in hib.values()
    ):
        raise bad("higher_is_better must give true/false for every metric")
    if not all(isinstance(raw["profiles"].get(p), dict) for p in PROFILES):
        raise bad(f"profiles must define {', '.join(PROFILES)}")
    if not all(isinstance(p, dict) and _is_int(p.get("epochs")) and p["epochs"] >= 1
               for p in raw["profiles"].values()):
        raise bad("every profile needs an integer epochs >= 1")
    if "capacity" in raw:
        problem = next(filter(None, (_grid_problem(p, raw["profiles"][p].get("grid"))
                                     for p in PROFILES)), None)
        if problem:
            raise bad(problem)
    if "tuning" in raw:
        problem = _tuning_problem(raw["tuning"])
        if problem:
            raise bad(problem)
    known = set(REQUIRED) | {"description"}
    return Task(
        **{k: raw[k] for k in REQUIRED},
        description=str(raw.get("description", "")).strip(),
        extra={k: v for k, v in raw.items() if k not in known},
    )


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    """A finite int or float (YAML reads ``yes`` as a bool and ``.inf`` as a float)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


Rule = tuple[Callable[[Any], bool], str]  # (accepts the value, what it must be)
INT_1: Rule = (lambda v: _is_int(v) and v >= 1, "an integer >= 1")
INT_0: Rule = (lambda v: _is_int(v) and v >= 0, "an integer >= 0")
POSITIVE: Rule = (lambda v: _is_number(v) and v > 0, "a number > 0")
NON_NEGATIVE: Rule = (lambda v: _is_number(v) and v >= 0, "a number >= 0")
FRACTION: Rule = (lambda v: _is_number(v) and 0 <= v < 1, "a number in [0, 1)")
NUMBERS: Rule = (lambda v: isinstance(v, list) and bool(v) and all(_is_number(x) for x in v),
                 "a non-empty list of numbers")
# The numbers a generator or the harness reads from ``data`` (tasks/*.py), wherever present:
# a field's meaning is the same in every generator that uses it.
DATA_NUMBERS: dict[str, Rule] = {
    "n_bins": INT_1, "channels": INT_1, "pulse_width": INT_1, "pulse_rate": NON_NEGATIVE,
    "dt": POSITIVE, "initial": NUMBERS,  # flipflop
    "n_steps": INT_1, "dims": INT_1, "cue_dim": INT_1, "cue_steps": INT_0,
    "length_scale": POSITIVE,  # expressivity
    "validation_fraction": (lambda v: _is_number(v) and 0 < v < 1, "a number in (0, 1)"),
    "split_seed": INT_0, "drop": FRACTION,
    "n_classes": (lambda v: _is_int(v) and v >= 2, "an integer >= 2"),  # uea
    "rollouts": INT_1, "steps": INT_1, "seed": INT_0, "ou_theta": NON_NEGATIVE,
    "ou_sigma": NON_NEGATIVE,  # walker2d
}
# data.amplitude and memory_set: a box (low, high), a ring (radius) or an annulus
SHAPE_NUMBERS: dict[str, Rule] = {"low": NUMBERS, "high": NUMBERS, "radius": POSITIVE,
                                  "inner": NON_NEGATIVE, "outer": POSITIVE}
TRAINING_NUMBERS: dict[str, Rule] = {
    "lr": POSITIVE, "weight_decay": NON_NEGATIVE, "batch_size": INT_1,
    "betas": (lambda v: isinstance(v, list) and len(v) == 2
              and all(_is_number(x) and 0 <= x < 1 for x in v), "two numbers in [0, 1)"),
}
# A profile's prefixes of the splits and of the memory probes (Task.load_split,
# bench.analysis.memory).
LIMITS = tuple(f"max_{s}" for s in (*SPLITS, "long_delay", "drift"))


def _number_problem(raw: dict) -> tuple[tuple[str, ...], str] | None:
    """The first number the code reads that has the wrong type or range: (its keys, what is
    wrong); a limit no code reads (``max_tset``) is wrong too."""
    checks: list[tuple[tuple[str, ...], Any, Rule]] = []
    data = raw["data"]
    checks += [(("data", k), data[k], rule) for k, rule in DATA_NUMBERS.items() if k in data]
    for at in (("data", "amplitude"), ("memory_set",)):  # pulse values, the ideal set
        spec = data.get("amplitude") if at[0] == "data" else raw.get("memory_set")
        if isinstance(spec, dict):
            checks += [((*at, k), spec[k], rule) for k, rule in SHAPE_NUMBERS.items() if k in spec]
    checks += [(("training", k), raw["training"][k], rule)
               for k, rule in TRAINING_NUMBERS.items() if k in raw["training"]]
    for name, prof in raw["profiles"].items():
        if not isinstance(prof, dict):
            continue
        for k, v in prof.items():
            if k == "epochs" or k in LIMITS:
                checks.append((("profiles", str(name), k), v, INT_1))
            elif str(k).startswith("max_"):  # a typo would silently limit nothing
                return ("profiles", str(name), str(k)), (
                    f"is not a limit the suite reads; use {', '.join(LIMITS)}")
    for keys, value, (ok, wanted) in checks:
        if not ok(value):
            shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
            return keys, f"must be {wanted}, not {shown}"
    channels, initial = data.get("channels"), data.get("initial")
    if channels is not None and initial is not None and len(initial) != channels:
        return ("data", "initial"), f"must list {channels} numbers, one per channel"
    return None


def _origin(path: Path, keys: tuple[str, ...]) -> Path:
    """The file that sets ``keys``: the task file, or the include it takes them from."""
    file, seen = path.resolve(), set()
    while file not in seen:
        seen.add(file)
        try:
            raw = yaml.safe_load(file.read_text())
        except (OSError, yaml.YAMLError):
            break
        node = raw
        for k in keys:
            node = node.get(k, _ABSENT) if isinstance(node, dict) else _ABSENT
        if node is not _ABSENT:
            return file
        inc = raw.get("include") if isinstance(raw, dict) else None
        if not isinstance(inc, str):
            break
        file = (file.parent / inc).resolve()
    return path.resolve()


_ABSENT = object()


def _positive_ints(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(
        isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in value)


def _positive_number(value: Any) -> bool:
    return _is_number(value) and value > 0


TUNABLE = {"lr": "positive numbers", "weight_decay": "numbers >= 0",
           "batch_size": "integers >= 1"}


def _tuning_problem(tuning: Any) -> str | None:
    """A task's declared tuning grids: name -> {lr, weight_decay, batch_size: [values]}."""
    if not isinstance(tuning, dict) or not tuning:
        return "tuning must map grid names to grids (lr, weight_decay, batch_size lists)"
    for name, grid in tuning.items():
        if not isinstance(grid, dict) or not grid or set(grid) - set(TUNABLE):
            return f"tuning.{name} must map some of {', '.join(TUNABLE)} to lists of values"
        for key, values in grid.items():
            ok = isinstance(values, list) and bool(values) and (
                _positive_ints(values) if key == "batch_size" else all(
                    isinstance(v, int | float) and not isinstance(v, bool)
                    and (v > 0 if key == "lr" else v >= 0) for v in values))
            if not ok:
                return f"tuning.{name}.{key} must be a non-empty list of {TUNABLE[key]}"
    return None


def _capacity_problem(raw: dict) -> str | None:
    """What is wrong with a capacity block, if anything."""
    cap = raw["capacity"]
    if not isinstance(cap, dict):
        return "capacity must be a mapping (sizes, threshold, metric, seed)"
    sizes = cap.get("sizes")
    if not isinstance(sizes, list) or not _positive_ints(sizes) or sorted(set(sizes)) != sizes:
        return "capacity.sizes must be increasing integers >= 1"
    if not _is_number(cap.get("threshold")):
        return "capacity.threshold must be a number"
    if not isinstance(cap.get("metric"), str):
        return "capacity.metric must name one of the task's metrics"
    if not _is_int(cap.get("seed")) or cap["seed"] < 0:
        return "capacity.seed must be an integer >= 0"
    return None


def _grid_problem(profile: str, grid: Any) -> str | None:
    """A capacity task's model grid for one profile: N, L and width of F, and the models."""
    where = f"profiles.{profile}.grid"
    if not isinstance(grid, dict):
        return f"{where} must be a mapping (models, N, L, width)"
    if not isinstance(grid.get("models"), list) or not grid["models"] or not all(
            isinstance(m, str) for m in grid["models"]):
        return f"{where}.models must be a list of model names"
    for key in ("N", "L"):
        if not _positive_ints(grid.get(key)):
            return f"{where}.{key} must be a list of integers >= 1"
    if not _positive_ints([grid.get("width")]):
        return f"{where}.width must be an integer >= 1"
    return None


def _memory_problem(raw: dict) -> str | None:
    """What is wrong with a task's memory probes (``memory`` and ``memory_set``), if anything."""
    from bench.spec import memory_sets

    mem = raw.get("memory")
    if not isinstance(mem, dict):
        return "memory metrics need a memory block (long_delay, drift, coverage)"
    need = {"long_delay": ("size", "seed", "n_bins", "silent_bins"),
            "drift": ("points", "seed", "bins", "settle_bins"), "coverage": ()}
    for block, keys in need.items():
        spec = mem.get(block)
        if not isinstance(spec, dict) or not all(
            _is_int(spec.get(k)) and spec[k] >= 1 - (k in ("seed", "silent_bins"))
            for k in keys
        ):
            return f"memory.{block} needs integer {', '.join(keys) or 'settings'}"
    cov = mem["coverage"]
    if not all(_positive_number(cov.get(k)) for k in ("grid_step", "epsilon")):
        return "memory.coverage needs grid_step > 0 and epsilon > 0"
    hold = mem.get("hold")
    if hold is not None:
        horizons = hold.get("horizons") if isinstance(hold, dict) else None
        if not (isinstance(hold, dict) and _positive_number(hold.get("grid_step"))
                and _positive_number(hold.get("epsilon")) and _positive_ints(horizons)
                and sorted(set(horizons or [])) == horizons):
            return ("memory.hold needs grid_step > 0, epsilon > 0 and increasing integer "
                    "horizons >= 1")
    if mem["long_delay"]["seed"] in {s["seed"] for s in raw["splits"].values()}:
        return "memory.long_delay needs a seed different from the splits' seeds"
    return memory_sets.validate(raw.get("memory_set"), int(raw["data"].get("channels", 0)))


def load_task_file(path: Path) -> Task:
    """Read and validate one task file; every problem is a one-line :class:`UserError`."""
    return _validate(_read(path), path)


def task_files() -> dict[str, Path]:
    return {p.stem: p for p in sorted(TASKS_DIR.glob("*.yaml")) if not p.name.startswith("_")}


def get_task(name: str) -> Task:
    files = task_files()
    if name not in files:
        raise unknown("task", name, files, "See `python -m bench list`.")
    return load_task_file(files[name])


def select_tasks(spec: str) -> list[Task]:
    """Tasks from a comma-separated list of names or globs; ``all`` is every task."""
    files = task_files()
    names: list[str] = []
    for part in (p.strip() for p in spec.split(",") if p.strip()):
        matched = sorted(files) if part == "all" else fnmatch.filter(sorted(files), part)
        if not matched:
            raise unknown("task", part, files, "See `python -m bench list`.")
        names += [m for m in matched if m not in names]
    if not names:
        raise UserError("no task given; pass --task NAME (or all)")
    return [get_task(n) for n in names]
