"""The first-party modules a model's code imports, found without running it.

A model's result depends on its own folder and on the suite code it imports (the baselines
share ``bench/models/ode_torch.py`` and friends). Model code is a stranger's, so the harness never
imports it: the imports are read from the source with ``ast`` (every ``import`` statement,
including those inside functions), and followed through first-party modules
(``bench``, ``tasks``) to their closure.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIRST_PARTY = ("bench", "tasks")


def _module_file(name: str) -> Path | None:
    """The source file of a first-party module name (``bench.models.ode_torch``), if there is
    one."""
    if name.split(".")[0] not in FIRST_PARTY:
        return None
    base = ROOT.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imported_names(source: str, package: str | None) -> set[str]:
    """Every module name an import statement in ``source`` may load."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolved against the importing module's package
                if package is None:
                    continue
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1])
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)  # a submodule
    return {n for n in names if n}


def _package_of(file: Path) -> str | None:
    try:
        rel = file.resolve().relative_to(ROOT)
    except ValueError:
        return None
    return ".".join(rel.with_suffix("").parts[:-1])  # a module's package, or an __init__'s own


def first_party_closure(files: list[Path]) -> list[Path]:
    """The first-party module files that ``files`` import, directly or through each other,
    sorted; ``files`` themselves are not included."""
    seen: set[Path] = set()
    todo = list(files)
    while todo:
        file = todo.pop()
        try:
            source = file.read_text()
        except (OSError, UnicodeDecodeError):
            continue
        for name in _imported_names(source, _package_of(file)):
            target = _module_file(name)
            if target is not None and target not in seen and target not in files:
                seen.add(target)
                todo.append(target)
            # importing ``a.b.c`` runs ``a/__init__.py`` and ``a/b/__init__.py`` too
            parts = name.split(".")
            for i in range(1, len(parts)):
                parent = _module_file(".".join(parts[:i]))
                if parent is not None and parent not in seen and parent not in files:
                    seen.add(parent)
                    todo.append(parent)
    return sorted(seen)
