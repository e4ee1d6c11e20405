"""What a cell is: its identity (model, framework, task, seed, and what a run varies), the
training settings it resolves to, and its fingerprint. Everything that says whether a result
still describes a cell reads these, without importing the machinery that runs cells."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

from bench.errors import UserError
from bench.spec.registry import ModelSpec
from bench.spec.tasks import Task

LOSSES = ("mse", "cross_entropy")
TEST_DATA = ("secret", "public")
# Model config keys renamed, old -> new: an override with the old key names the new one.
RENAMED_KEYS = {"memory": "backprop"}  # gradient storage; "memory" is the memory probes' word


@dataclass
class Cell:
    model: ModelSpec
    framework: str
    task: Task
    seed: int
    sweep: dict[str, Any] = field(default_factory=dict)  # config values from a declared sweep
    size: int | None = None  # K, the number of targets, on a capacity task (bench.run.capacity)
    # standard; tuning: one setting of a declared grid (only its validation loss is kept);
    # tuned: trained with the setting a tuning study selected (bench.run.tuning)
    role: str = "standard"
    # secret: the test split and memory probes come from seeds drawn when the cell runs, which
    # the model's process never sees (official runs); public: the task file's seeds (open runs)
    test_data: str = "secret"
    training: dict[str, Any] = field(default_factory=dict)  # lr, weight_decay, batch_size
    tuning: dict[str, Any] | None = None  # a tuned cell's study: grid, every loss, selection

    def overrides(self, run_overrides: dict[str, Any]) -> dict[str, Any]:
        """The run's overrides with this cell's sweep and grid values under them (the command
        wins)."""
        return {**self.training, **{k: v for k, v in run_overrides.items() if v is not None},
                "config": {**self.sweep, **(run_overrides.get("config") or {})}}

    def name(self, run_overrides: dict[str, Any]) -> str:
        """The variant part of the cell's name: a tuned cell is named after its grid, not
        after the setting it was given, so all its seeds are one entry."""
        if self.role != "tuned" or self.tuning is None:
            return variant(self.overrides(run_overrides))
        shown = {**{k: v for k, v in run_overrides.items() if k != "config"},
                 "config": {**self.sweep, **(run_overrides.get("config") or {})},
                 "tuned": self.tuning["grid"]}
        return variant(shown)


def device_class(device: str) -> str:
    return "gpu" if device == "cuda" else "cpu"


def variant(overrides: dict[str, Any]) -> str:
    """A name for command-line overrides (``lr=0.01,solver=dopri5``); empty when there are none.

    It is part of the result's file name and leaderboard row, so an overridden run never
    replaces or pools with the standard one.
    """
    flat = {**{k: v for k, v in overrides.items() if k != "config" and v is not None},
            **(overrides.get("config") or {})}
    text = ",".join(f"{k}={v}" for k, v in sorted(flat.items())).replace(" ", "")
    return re.sub(r"[^A-Za-z0-9._=,+\[\]-]", "_", text)  # it becomes part of a file name


def resolve_training(task: Task, model: ModelSpec, profile: str,
                     overrides: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(model config, training settings): task defaults < model < profile < command line."""
    config, model_training = model.resolve(task.name, profile)
    unknown_keys = sorted(set(overrides.get("config") or {}) - set(config))
    for old, new in RENAMED_KEYS.items():
        if old in unknown_keys and new in config:
            raise UserError(f"--set {old}: the model config key {old!r} is now {new!r}; write "
                            f"--set {new}={overrides['config'][old]}")
    if unknown_keys:
        raise UserError(f"--set {', '.join(unknown_keys)}: model {model.name} has no such config "
                        f"key; its keys are {', '.join(config)}")
    config.update(overrides.get("config") or {})
    training = {**task.training, **model_training}
    training["epochs"] = task.profile(profile)["epochs"]
    training.update({k: v for k, v in overrides.items() if k != "config" and v is not None})
    if training.get("optimizer", "adamw") != "adamw" or training.get("loss", "mse") not in LOSSES:
        raise UserError(f"only optimizer: adamw and loss: {' or '.join(LOSSES)} are supported; "
                        "fix the task")
    return config, training


def fingerprint(cell: Cell, profile: str, overrides: dict[str, Any]) -> str:
    """SHA-256 of what defines a cell's result besides the suite itself: the model's module,
    its resolved config, the training settings and the resolved task definition.

    The metadata file enters through the config it resolves to, so editing a description or
    a comment does not make results stale.
    """
    return fingerprint_of(cell, profile,
                          *resolve_training(cell.task, cell.model, profile, overrides))


def fingerprint_of(cell: Cell, profile: str, config: dict[str, Any],
                   training: dict[str, Any], code: bytes | None = None) -> str:
    """The fingerprint of a cell with this resolved config and training settings.

    The task enters as the cell's profile sees it (``Task.identity``): another profile's
    budget, a tuning grid or the hold probe's settings do not change this cell's result.
    ``code``: the model's module as it was (restamping); by default, as it is.
    """
    if code is None:
        code = cell.model.code_file(cell.framework).read_bytes()
    h = hashlib.sha256(code)
    task = cell.task.identity(profile)
    pinned = [cell.model.requirements] if cell.model.requirements else []  # a new pin: stale
    h.update(json.dumps([config, training, task, *pinned], sort_keys=True,
                        default=str).encode())
    return h.hexdigest()
