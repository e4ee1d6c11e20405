"""A model's own Python dependencies: ``requirements`` in its ``metadata.yaml``.

Each is a pinned wheel, ``name==version`` (``ncps==1.0.1``). Set-up installs it with pip into
a folder of its own, ``.cache/requirements/<name>-<version>/``: wheels only (no build step
runs) and no dependencies (each one the model needs is listed). The harness never imports
them: only a model's own process, sandboxed and one per cell, puts those folders on
``sys.path`` when it loads the model's code (``ModelSpec.load``), which runs no ``.pth`` file.
So a stranger's requirement cannot run code in the harness, and two submissions may pin
different versions of one package, each in its own processes. (The test suite loads the
repository's own submissions in its process to check them.)
"""

from __future__ import annotations

import importlib.metadata
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
FOLDER = ROOT / ".cache" / "requirements"
# A pinned release from the package index: no URL, no path, no pip option, no marker, and a
# version in PEP 440's public form (so pip cannot read it as a file name such as 1.tar.gz).
PINNED = re.compile(r"([A-Za-z0-9](?:[A-Za-z0-9._-]{0,98}[A-Za-z0-9])?)"
                    r"==(\d{1,9}(?:\.\d{1,9}){0,5}(?:(?:a|b|rc)\d{1,9})?(?:\.post\d{1,9})?"
                    r"(?:\.dev\d{1,9})?)")


def problem(value: Any) -> str | None:
    """Why ``value`` is not a valid ``requirements`` field (None: it is)."""
    if not isinstance(value, list) or not all(isinstance(r, str) for r in value):
        return "requirements must be a list of pinned packages, e.g. [ncps==1.0.1]"
    for r in value:
        if not PINNED.fullmatch(r):
            return (f"requirement {r[:40]!r} is not a pinned package from the index; write "
                    "name==version")
    names = [normalise(PINNED.fullmatch(r).group(1)) for r in value]  # type: ignore[union-attr]
    if len(set(names)) < len(names):
        return "requirements name a package twice"
    return None


def normalise(name: str) -> str:
    """The package name as the index compares it (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _parts(requirement: str) -> tuple[str, str]:
    m = PINNED.fullmatch(requirement)
    if m is None:
        raise ValueError(f"not a pinned requirement: {requirement!r}")
    return normalise(m.group(1)), m.group(2)


def folder(requirement: str) -> Path:
    """Where ``requirement`` is installed."""
    name, version = _parts(requirement)
    return FOLDER / f"{name}-{version}"


def _release(version: str) -> tuple[tuple[int, ...], str]:
    """(release numbers without trailing zeros, the rest): 1.0 and 1.0.0 are one version."""
    m = re.match(r"(\d+(?:\.\d+)*)(.*)", version.strip().lower())
    if m is None:
        return (), version
    numbers = [int(n) for n in m.group(1).split(".")]
    while len(numbers) > 1 and numbers[-1] == 0:
        numbers.pop()
    return tuple(numbers), m.group(2)


def installed(requirement: str) -> bool:
    """Whether set-up installed ``requirement``: a ``.dist-info`` in its folder (pip writes it
    last) whose metadata names the package and the pinned version."""
    name, version = _parts(requirement)
    where = folder(requirement)
    if not where.is_dir():
        return False
    for info in where.glob("*.dist-info"):
        found = importlib.metadata.PathDistribution(info)
        if (normalise(found.metadata["Name"] or "") == name
                and _release(found.version or "") == _release(version)):
            return True
    return False


def missing(requirements: list[str]) -> list[str]:
    """The requirements set-up has not installed."""
    return [r for r in requirements if not installed(r)]


def activate(requirements: list[str]) -> None:
    """Put the requirements' folders first on ``sys.path``, in the model's own process."""
    for r in reversed(requirements):
        path = str(folder(r))
        if path not in sys.path:
            sys.path.insert(0, path)
