"""The data cache: real data sets, prepared once by ``make data`` and then read offline.

Each data set is one ``.npz`` of arrays in the cache folder (``.cache/data`` in the repository,
or ``$CTRNN_BENCH_DATA``), listed in ``manifest.json`` with its SHA-256, size, array shapes,
the parameters it was made from and the versions of the packages that made it. Tasks read only
from the cache: a missing, corrupted or outdated file is a one-line error naming the file and
the command that rebuilds it. Nothing here downloads anything; the preparers read data that ship
inside packages (aeon's UCR/UEA copies) or generate it (MuJoCo).

The cache is plain files: copy the folder to another machine (one without aeon or MuJoCo, such
as the GPU machine) and the tasks run there.
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import hashlib
import importlib
import importlib.metadata as md
import importlib.util
import io
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from bench.atomic import write_bytes_atomic
from bench.errors import UserError

ROOT = Path(__file__).resolve().parents[2]
REBUILD = "`make data` (python -m bench data)"


def cache_dir() -> Path:
    return Path(os.environ.get("CTRNN_BENCH_DATA") or ROOT / ".cache" / "data")


def _manifest_path() -> Path:
    return cache_dir() / "manifest.json"


ENTRY = {"file": str, "sha256": str, "bytes": int}  # what every manifest entry must have


def _read_manifest() -> dict[str, Any]:
    path = _manifest_path()
    if not path.exists():
        return {"datasets": {}}
    try:
        manifest = json.loads(path.read_text())
        entries = manifest["datasets"]
        assert isinstance(entries, dict) and all(
            isinstance(e, dict) and all(isinstance(e.get(k), t) for k, t in ENTRY.items())
            for e in entries.values())
        return manifest
    except (json.JSONDecodeError, UnicodeDecodeError, AssertionError, KeyError, TypeError):
        raise UserError(f"{path}: the data cache's manifest is corrupted; delete it and run "
                        f"{REBUILD}") from None


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def key(source: str, params: dict[str, Any]) -> str:
    """The cache name of a data set: its source and a digest of the parameters it is made
    from, so that a task asking for other parameters never reads this one."""
    digest = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:10]
    label = params.get("dataset") or params.get("env") or source
    return f"{label}-{digest}" if label != source else f"{source}-{digest}"


def _check(name: str) -> tuple[str, str] | None:
    """("missing" or "corrupted", why) for the cached data set ``name``; None when usable."""
    entry = _read_manifest()["datasets"].get(name)
    path = cache_dir() / f"{name}.npz"
    if entry is None or not path.exists():
        return "missing", f"{path} is missing"
    if path.stat().st_size != entry["bytes"] or sha256(path) != entry["sha256"]:
        return "corrupted", f"{path} does not match its checksum in the manifest (corrupted)"
    return None


def status(name: str) -> str | None:
    """Why the cached data set ``name`` cannot be used (None: it can)."""
    found = _check(name)
    return None if found is None else found[1]


def load(name: str) -> dict[str, np.ndarray]:
    """The arrays of a cached data set, after checking them against the manifest."""
    problem = status(name)
    if problem:
        raise UserError(f"data cache: {problem}; run {REBUILD} to rebuild it")
    with np.load(cache_dir() / f"{name}.npz", allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


def store(name: str, arrays: dict[str, np.ndarray], params: dict[str, Any],
          packages: tuple[str, ...]) -> Path:
    """Write a data set and its manifest entry, each atomically."""
    buf = io.BytesIO()
    np.savez(buf, **arrays)  # type: ignore[arg-type]
    data = buf.getvalue()
    path = cache_dir() / f"{name}.npz"
    write_bytes_atomic(path, data)
    with _manifest_lock():  # concurrent preparers must not drop each other's entries
        _add_entry(name, path, data, arrays, params, packages)
    return path


@contextlib.contextmanager
def _manifest_lock():
    cache_dir().mkdir(parents=True, exist_ok=True)
    with open(cache_dir() / ".manifest.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _add_entry(name: str, path: Path, data: bytes, arrays: dict[str, np.ndarray],
               params: dict[str, Any], packages: tuple[str, ...]) -> None:
    manifest = _read_manifest()
    manifest["datasets"][name] = {
        "file": path.name, "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data),
        "arrays": {k: [list(v.shape), str(v.dtype)] for k, v in sorted(arrays.items())},
        "params": params,
        "packages": {p: _version(p) for p in ("numpy", *packages)},
        "prepared_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }
    write_bytes_atomic(_manifest_path(), (json.dumps(manifest, indent=1, sort_keys=True)
                                     + "\n").encode())


def _version(package: str) -> str | None:
    try:
        return md.version(package)
    except md.PackageNotFoundError:
        return None


def needed(tasks: list) -> dict[str, tuple[Any, dict[str, Any]]]:
    """The cached data sets the tasks read: name -> (generator module, data parameters)."""
    out: dict[str, tuple[Any, dict[str, Any]]] = {}
    for task in tasks:
        module = importlib.import_module(f"tasks.{task.generator}")
        if hasattr(module, "prepare"):
            try:
                params = module.cache_params(task.data)
            except KeyError as e:
                raise UserError(f"task {task.name}: data lacks {e}, which tasks/"
                                f"{task.generator}.py needs; fix the task file") from None
            out.setdefault(key(module.SOURCE, params), (module, params))
    return out


def prepare(tasks: list, force: bool = False, echo=print, repair: bool = True) -> list[str]:
    """Prepare every data set the tasks need and the cache lacks (all of them with
    ``force``); returns the names prepared. With ``repair`` False (``make bench``) a corrupted
    file is an error naming it, not silently replaced."""
    done = []
    for name, (module, params) in needed(tasks).items():
        found = _check(name)
        if not force and found is None:
            echo(f"data: {name} is ready ({cache_dir() / name}.npz)")
            continue
        if not force and not repair and found and found[0] == "corrupted":
            raise UserError(f"data cache: {found[1]}; run {REBUILD} to rebuild it")
        missing = [p for p in module.PACKAGES if importlib.util.find_spec(p) is None]
        if missing:
            raise UserError(f"data: {name} needs {', '.join(missing)} to be prepared; install "
                            f"them (pip install {' '.join(module.PIP)}) and run {REBUILD}, or "
                            f"copy a prepared cache folder to {cache_dir()}")
        echo(f"data: preparing {name} ...")
        try:
            arrays = module.prepare(params)
        except Exception as e:  # the package's own error, e.g. an unknown data set
            raise UserError(f"data: preparing {name} failed ({type(e).__name__}: {e}); check "
                            "the task's data parameters") from None
        path = store(name, arrays, params, module.PACKAGES)
        echo(f"data: wrote {path} ({path.stat().st_size / 2**20:.1f} MB)")
        done.append(name)
    return done
