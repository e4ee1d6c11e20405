"""Find models: every folder with a ``metadata.yaml`` under ``baselines/`` or ``submissions/``.

Baselines and submissions follow one contract (``submissions/README.md``):

- ``metadata.yaml``: name, authors, framework (torch, jax or both), description, link, and the
  model's ``config`` with optional ``training`` overrides and per-``profiles`` changes;
- ``configs/<task>.yaml`` (optional, one per task): per profile, the ``config`` (sizes) and
  ``training`` the model uses on that task, and an optional ``sweep`` of config values;
- ``torch_model.py``: ``build(config, n_inputs, n_outputs) -> torch.nn.Module``;
- ``jax_model.py``: ``build(config, n_inputs, n_outputs, *, key) -> equinox.Module``.
"""

from __future__ import annotations

import importlib.util
import itertools
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

from bench.errors import UserError, unknown
from bench.spec import requirements

ROOT = Path(__file__).resolve().parents[2]
SOURCES = {"baseline": ROOT / "baselines", "submission": ROOT / "submissions"}
FRAMEWORKS = ("torch", "jax")
MODULE_FILE = {"torch": "torch_model.py", "jax": "jax_model.py"}
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
REQUIRED = ("name", "authors", "framework", "description", "link", "config")


@dataclass(frozen=True)
class ModelSpec:
    """One registered model and its metadata."""

    name: str
    kind: str  # "baseline" or "submission"
    path: Path
    metadata: dict[str, Any]

    @property
    def frameworks(self) -> tuple[str, ...]:
        fw = self.metadata["framework"]
        return tuple(f for f in FRAMEWORKS if f in ([fw] if isinstance(fw, str) else fw))

    def code_file(self, framework: str) -> Path:
        return self.path / MODULE_FILE[framework]

    @property
    def requirements(self) -> list[str]:
        """The model's own pinned packages (``bench.spec.requirements``)."""
        return list(self.metadata.get("requirements") or [])

    def load(self, framework: str) -> ModuleType:
        """Import this model's module for ``framework``."""
        if framework not in self.frameworks:
            raise UserError(f"model {self.name} has no {framework} implementation "
                            f"(it has {', '.join(self.frameworks)}); pick --framework accordingly")
        file = self.path / MODULE_FILE[framework]
        mod_name = f"_bench_models.{self.kind}.{self.name.replace('-', '_')}.{framework}"
        if mod_name in sys.modules:
            return sys.modules[mod_name]
        absent = requirements.missing(self.requirements)
        if absent:
            raise UserError(f"model {self.name} needs {', '.join(absent)}, not installed; "
                            f"`make setup MODEL={self.name}` installs it")
        requirements.activate(self.requirements)
        spec = importlib.util.spec_from_file_location(mod_name, file)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[mod_name] = module
        try:
            spec.loader.exec_module(module)
            if not callable(getattr(module, "build", None)):
                raise UserError(f"{file}: defines no build(config, n_inputs, n_outputs) "
                                "function; see submissions/README.md")
        except BaseException:
            sys.modules.pop(mod_name, None)  # a later load must fail the same way
            raise
        return module

    def task_config(self, task: str) -> dict[str, Any]:
        """The model's ``configs/<task>.yaml`` (profile -> changes), or {} if it has none."""
        return (self.metadata.get("_task_configs") or {}).get(task) or {}

    def resolve(self, task: str, profile: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """(model config, training overrides) for a task and profile.

        Order, later wins: ``config`` < ``profiles.<profile>.config`` <
        ``configs/<task>.yaml``'s ``<profile>.config`` (the same for ``training``).
        """
        meta = self.metadata
        config, training = dict(meta["config"]), dict(meta.get("training") or {})
        layers = [(meta.get("profiles") or {}).get(profile) or {},
                  self.task_config(task).get(profile) or {}]
        for layer in layers:
            config.update(layer.get("config") or {})
            training.update(layer.get("training") or {})
        return config, training

    def sweep(self, task: str, profile: str) -> list[dict[str, Any]]:
        """The config settings to run as separate cells (``sweep:`` in ``configs/<task>.yaml``),
        e.g. [{"N": 6}, {"N": 12}]; [{}] when the model runs once."""
        grid = (self.task_config(task).get(profile) or {}).get("sweep") or {}
        keys = sorted(grid)
        return [dict(zip(keys, values)) for values in itertools.product(*(grid[k] for k in keys))]


def validate_metadata(meta: Any, folder: Path) -> dict[str, Any]:
    """Check a metadata mapping; every problem is a one-line :class:`UserError`."""
    where = folder / "metadata.yaml"

    def bad(msg: str) -> UserError:
        return UserError(f"{where}: {msg}; see submissions/README.md")

    if not isinstance(meta, dict):
        raise bad("expected a mapping of keys")
    missing = [k for k in REQUIRED if k not in meta]
    if missing:
        raise bad(f"missing field(s) {', '.join(missing)}")
    if not isinstance(meta["name"], str) or not NAME_RE.match(meta["name"]):
        raise bad("name must be 1-40 characters of a-z, 0-9, '-' or '_'")
    if meta["name"] != folder.name:
        raise bad(f"name {meta['name']!r} must match the folder name {folder.name!r}")
    authors = meta["authors"]
    if not (isinstance(authors, str) and authors.strip()) and not (
        isinstance(authors, list) and authors and all(isinstance(a, str) for a in authors)
    ):
        raise bad("authors must be a name or a list of names")
    fw = meta["framework"]
    fws = [fw] if isinstance(fw, str) else fw
    if not isinstance(fws, list) or not fws or not all(f in FRAMEWORKS for f in fws):
        raise bad("framework must be torch, jax, or a list of both")
    for f in fws:
        if not (folder / MODULE_FILE[f]).is_file():
            raise bad(f"framework {f} is declared but {MODULE_FILE[f]} is missing")
    for key in ("description", "link"):
        if not isinstance(meta[key], str):
            raise bad(f"{key} must be text")
    if not isinstance(meta["config"], dict):
        raise bad("config must be a mapping")
    for key in ("training", "profiles"):
        if meta.get(key) is not None and not isinstance(meta[key], dict):
            raise bad(f"{key} must be a mapping")
    if meta.get("requirements") is not None:
        why = requirements.problem(meta["requirements"])
        if why:
            raise bad(why)
    for prof, layer in (meta.get("profiles") or {}).items():
        name = prof if str(prof).isprintable() else repr(prof)  # the error stays one line
        _check_layer(layer, f"profiles.{name}", bad, sweep=False)
    meta["_task_configs"] = _task_configs(folder)
    return meta


def _check_layer(layer: Any, place: str, bad, *, sweep: bool) -> None:
    keys = ("config", "training", "sweep") if sweep else ("config", "training")
    if not isinstance(layer, dict) or set(layer) - set(keys) or not all(
        isinstance(layer.get(k) or {}, dict) for k in keys
    ):
        raise bad(f"{place} must be a mapping with optional {', '.join(keys)} mappings"
                  + ("" if sweep else "; per-task sizes go in configs/<task>.yaml"))
    for key, values in (layer.get("sweep") or {}).items():
        if not isinstance(values, list) or not values:
            raise bad(f"{place}.sweep.{key} must be a non-empty list of values")


def _task_configs(folder: Path) -> dict[str, dict[str, Any]]:
    """Read ``configs/<task>.yaml``: per profile, config/training changes and a sweep.
    ``include: <file>.yaml`` (a file beside it) is read first and the file's own profiles
    override it, key by key, as a task file's ``include:``. A file named ``_*.yaml`` is a
    template for including, as ``tasks/_*.yaml``, not a task's config."""
    out: dict[str, dict[str, Any]] = {}
    for file in sorted((folder / "configs").glob("*.yaml")):
        config = _read_task_config(file, (file.name,))
        if not file.name.startswith("_"):
            out[file.stem] = config
    return out


def _read_task_config(file: Path, seen: tuple[str, ...]) -> dict[str, Any]:
    """One config file with its includes; ``seen``: the files on the way here, itself too."""
    from bench.spec.tasks import PROFILES, merge

    def bad(msg: str) -> UserError:
        return UserError(f"{file}: {msg}; see submissions/README.md")

    if file.is_symlink():  # it could read any file of the machine into the model's config
        raise bad("is a link; a config must be a file in the model's folder")
    try:
        raw = yaml.safe_load(file.read_text()) or {}
    except yaml.YAMLError:
        raise bad("not valid YAML") from None
    if not isinstance(raw, dict):
        raise bad(f"expected a mapping from profiles ({', '.join(PROFILES)}) to changes")
    inc = raw.pop("include", None)
    if set(raw) - set(PROFILES):
        raise bad(f"expected a mapping from profiles ({', '.join(PROFILES)}) to changes")
    for prof, layer in raw.items():
        _check_layer(layer, prof, bad, sweep=True)
    if inc is None:
        return raw
    # a bare name in configs/: a submission's config never reads a file outside its folder
    if not (isinstance(inc, str) and re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9._-]*\.yaml", inc)
            and (file.parent / inc).is_file() and not (file.parent / inc).is_symlink()):
        raise bad(f"include {inc!r} must name a .yaml file beside it in configs/")
    if inc in seen:
        raise bad(f"include cycle through {inc}")
    return merge(_read_task_config(file.parent / inc, (*seen, inc)), raw)


def orphan_configs(models: dict[str, ModelSpec]) -> list[str]:
    """``configs/<task>.yaml`` files named after no task (a typo, or a task removed)."""
    from bench.spec.tasks import task_files

    known = task_files()
    return [f"{m.path / 'configs' / name}.yaml: names no task; rename or delete it"
            for m in models.values() for name in m.metadata["_task_configs"]
            if name not in known]


def scan() -> tuple[dict[str, ModelSpec], dict[str, UserError]]:
    """(valid models, baselines first; folder name -> error for folders that are not valid)."""
    models: dict[str, ModelSpec] = {}
    broken: dict[str, UserError] = {}
    for kind, base in SOURCES.items():
        for meta_file in sorted(base.glob("*/metadata.yaml")):
            folder = meta_file.parent
            try:
                try:
                    raw = yaml.safe_load(meta_file.read_text())
                except yaml.YAMLError:
                    raise UserError(f"{meta_file}: not valid YAML; fix the file") from None
                meta = validate_metadata(raw, folder)
                if meta["name"] in models:
                    raise UserError(f"{meta_file}: the name {meta['name']!r} is already taken "
                                    f"by {models[meta['name']].path}; rename the folder")
            except UserError as e:
                broken[folder.name] = e
                continue
            models[meta["name"]] = ModelSpec(meta["name"], kind, folder, meta)
    return models, broken


def discover() -> dict[str, ModelSpec]:
    """Every valid model, baselines first."""
    return scan()[0]


def select_models(spec: str, warn=lambda msg: print(msg, file=sys.stderr)) -> list[ModelSpec]:
    """Models from a comma-separated list; ``baselines``, ``submissions`` and ``all`` expand.

    Naming a broken folder is an error; a broken folder inside a group is skipped with a
    warning, so one bad submission cannot block the rest of the leaderboard.
    """
    models, broken = scan()
    groups = {
        "all": list(models),
        "baselines": [n for n, m in models.items() if m.kind == "baseline"],
        "submissions": [n for n, m in models.items() if m.kind == "submission"],
    }
    names: list[str] = []
    for part in (p.strip() for p in spec.split(",") if p.strip()):
        if part in groups:
            names += [n for n in groups[part] if n not in names]
            for folder, err in broken.items():
                warn(f"warning: skipping {folder}: {err}")
        elif part in models:
            names += [part] if part not in names else []
        elif part in broken:
            raise broken[part]
        else:
            raise unknown("model", part, models,
                          "See `python -m bench list`, or add a folder to submissions/.")
    if not names:
        raise UserError("no model given; pass --model NAME (or baselines, all)")
    return [models[n] for n in names]
