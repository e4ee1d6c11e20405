"""A model's own Python dependencies: ``requirements`` in its ``metadata.yaml``.

Each is a pinned wheel, ``name==version`` (``ncps==1.0.1``). Set-up installs it with pip into
a folder of its own, ``.cache/requirements/<name>-<version>/``: wheels only (no build step
runs) and no dependencies (each one the model needs is listed). The suite's environment never
sees them: only the model's own process puts those folders on ``sys.path``, when it loads the
model's code (``ModelSpec.load``). So a stranger's requirement cannot run code in the harness,
and two submissions may pin different versions of one package.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
FOLDER = ROOT / ".cache" / "requirements"
# A pinned release from the package index: no URL, no path, no pip option, no marker.
PINNED = re.compile(r"^([A-Za-z0-9](?:[A-Za-z0-9._-]{0,98}[A-Za-z0-9])?)"
                    r"==([0-9][A-Za-z0-9.+!_-]{0,40})$")


def problem(value: Any) -> str | None:
    """Why ``value`` is not a valid ``requirements`` field (None: it is)."""
    if not isinstance(value, list) or not all(isinstance(r, str) for r in value):
        return "requirements must be a list of pinned packages, e.g. [ncps==1.0.1]"
    for r in value:
        if not PINNED.match(r):
            shown = r if len(r) <= 40 and r.isprintable() else repr(r[:40])
            return (f"requirement {shown!r} is not a pinned package from the index; write "
                    "name==version")
    names = [normalise(PINNED.match(r).group(1)) for r in value]  # type: ignore[union-attr]
    if len(set(names)) < len(names):
        return "requirements name a package twice"
    return None


def normalise(name: str) -> str:
    """The package name as the index compares it (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def folder(requirement: str) -> Path:
    """Where ``requirement`` is installed."""
    m = PINNED.match(requirement)
    if m is None:
        raise ValueError(f"not a pinned requirement: {requirement!r}")
    return FOLDER / f"{normalise(m.group(1))}-{m.group(2)}"


def installed(requirement: str) -> bool:
    """Whether set-up installed ``requirement`` (pip writes its ``.dist-info`` last)."""
    m = PINNED.match(requirement)
    where = folder(requirement)
    want = f"{normalise(m.group(1)).replace('-', '_')}-{m.group(2)}.dist-info".lower() if m \
        else ""
    return where.is_dir() and any(p.name.lower() == want for p in where.iterdir())


def missing(requirements: list[str]) -> list[str]:
    """The requirements set-up has not installed."""
    return [r for r in requirements if not installed(r)]


def activate(requirements: list[str]) -> None:
    """Put the requirements' folders first on ``sys.path``, in the model's own process."""
    for r in reversed(requirements):
        path = str(folder(r))
        if path not in sys.path:
            sys.path.insert(0, path)
