"""What a task file may say: its required keys, splits and profiles, the type and range of
every number the code reads, and the checks of its capacity, tuning and memory blocks.

Each check returns what is wrong (for ``bench.spec.tasks`` to raise as one line) or None.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

SPLITS = ("train", "validation", "test")
PROFILES = ("smoke", "quick", "paper")
REQUIRED = ("name", "version", "generator", "data", "splits", "metrics", "primary_metric",
            "higher_is_better", "training", "profiles")


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    """A finite int or float (YAML reads ``yes`` as a bool and ``.inf`` as a float)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


Rule = tuple[Callable[[Any], bool], str]  # (accepts the value, what it must be)
INT_1: Rule = (lambda v: is_int(v) and v >= 1, "an integer >= 1")
INT_0: Rule = (lambda v: is_int(v) and v >= 0, "an integer >= 0")
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
    "n_classes": (lambda v: is_int(v) and v >= 2, "an integer >= 2"),  # uea
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


def number_problem(raw: dict) -> tuple[tuple[str, ...], str] | None:
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


def origin(path: Path, keys: tuple[str, ...]) -> Path:
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


def tuning_problem(tuning: Any) -> str | None:
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


def capacity_problem(raw: dict) -> str | None:
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
    if not is_int(cap.get("seed")) or cap["seed"] < 0:
        return "capacity.seed must be an integer >= 0"
    return None


def grid_problem(profile: str, grid: Any) -> str | None:
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


def memory_problem(raw: dict) -> str | None:
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
            is_int(spec.get(k)) and spec[k] >= 1 - (k in ("seed", "silent_bins"))
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
