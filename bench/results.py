"""Result files: one JSON document per (task@version, model, framework, device class, seed,
profile), written atomically. The schema is documented in README.md ("Result files").
"""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
from pathlib import Path
from typing import Any

from bench.errors import UserError

SCHEMA_VERSION = 1
STATUSES = ("ok", "diverged", "failed", "timeout", "oom")
REQUIRED = ("schema_version", "task", "task_version", "model", "framework", "device",
            "device_class", "seed", "profile", "status", "metrics", "n_params", "timing",
            "config", "provenance")


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


def write_atomic(path: Path, result: dict[str, Any]) -> None:
    """Write to a temporary file in the same folder, flush to disk, then rename over ``path``.

    A crash leaves either the old file or the new one, never half of one.
    """
    text = json.dumps(_clean(result), indent=1, sort_keys=True, allow_nan=False) + "\n"
    write_bytes_atomic(Path(path), text.encode())


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# Read once: os.umask sets as it reads, and threads (--jobs) write files at the same time.
_UMASK = _umask()


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path``, fsync, rename it over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; these are ordinary files
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def validate(result: Any, where: Path | str) -> dict[str, Any]:
    if not isinstance(result, dict):
        raise UserError(f"{where}: not a result object; delete it and rerun the cell")
    missing = [k for k in REQUIRED if k not in result]
    if missing:
        raise UserError(f"{where}: result file lacks {', '.join(missing)}; "
                        "delete it and rerun the cell")
    if result["schema_version"] != SCHEMA_VERSION:
        raise UserError(f"{where}: schema_version {result['schema_version']} is not "
                        f"{SCHEMA_VERSION}; rerun the cell with this version of the suite")
    if result["status"] not in STATUSES:
        raise UserError(f"{where}: unknown status {result['status']!r}")
    return result


def read(path: Path) -> dict[str, Any]:
    try:
        return validate(json.loads(Path(path).read_text()), path)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise UserError(f"{path}: not valid JSON; delete it and rerun the cell") from None


def result_files(results_dir: Path) -> list[Path]:
    """Every result file under ``results_dir``, in path order (temporary files, the
    analysis' ``.slowpoints.json`` files and the trials ``bench.store`` shares are not
    results)."""
    perf = Path(results_dir) / "perf"  # bench.perf's records, not cells
    return [p for p in sorted(Path(results_dir).rglob("*.json"))
            if not p.name.startswith(".") and not p.name.endswith(".slowpoints.json")
            and not SHARED_TRIAL.fullmatch(p.name) and perf not in p.parents]


SHARED_TRIAL = re.compile(r"example\.json|trajectories-K\d+\.json")  # bench.store's files


def load_all(results_dir: Path) -> list[dict[str, Any]]:
    """Every result under ``results_dir``, in path order."""
    return [read(p) for p in result_files(results_dir)]
