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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from bench.errors import UserError, unknown
from bench.spec import task_schema
from bench.spec.task_schema import PROFILES, REQUIRED, SPLITS

TASKS_DIR = Path(__file__).resolve().parents[2] / "tasks"
# Task keys no cell's result depends on (``Task.identity``).
RECOMPUTABLE = ("tuning",)
# True in a process that runs model code (bench.run.model_process): the test split is refused there.
SEALED = False


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
        problem = task_schema.capacity_problem(raw)
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
            task_schema.is_int(spec.get(k)) and spec[k] >= 0 for k in ("size", "seed")
        ) or spec["size"] < 1:
            raise bad(f"split {s} needs integer size >= 1 and seed >= 0")
    if "capacity" not in raw and len({spec["seed"] for spec in splits.values()}) != len(SPLITS):
        raise bad("the splits must have different seeds")
    for key in ("data", "training", "profiles"):
        if not isinstance(raw[key], dict):
            raise bad(f"{key} must be a mapping")
    wrong = task_schema.number_problem(raw)
    if wrong:  # before anything below reads a number (channels, sizes) and trips on it
        keys, what = wrong
        source = task_schema.origin(path, keys)
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
        problem = task_schema.memory_problem(raw)
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
    if not all(isinstance(p, dict) and task_schema.is_int(p.get("epochs")) and p["epochs"] >= 1
               for p in raw["profiles"].values()):
        raise bad("every profile needs an integer epochs >= 1")
    if "capacity" in raw:
        problem = next(filter(None, (task_schema.grid_problem(p, raw["profiles"][p].get("grid"))
                                     for p in PROFILES)), None)
        if problem:
            raise bad(problem)
    if "tuning" in raw:
        problem = task_schema.tuning_problem(raw["tuning"])
        if problem:
            raise bad(problem)
    known = set(REQUIRED) | {"description"}
    return Task(
        **{k: raw[k] for k in REQUIRED},
        description=str(raw.get("description", "")).strip(),
        extra={k: v for k, v in raw.items() if k not in known},
    )


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
