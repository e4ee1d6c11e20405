"""``bench restamp``'s git check: whether suite code computes at an older commit what it
computes now, read from the two sources without running either.

Two sources compute the same when their ASTs agree after removing what cannot change a
result: docstrings, comments, functions added under names the older code never used (it could
not call them), and the place of a module git sees moved (its imports written as before).

A **declared rename** (``RENAMES``) covers a change of names made on purpose. The older
closure, with the rename applied, must equal the present one:

- identifiers are renamed everywhere (variables, attributes, parameters, keywords,
  definitions) and whole words inside string constants (config keys, messages);
- a rename never captures: no new name may already occur in the older code;
- top-level definitions split out into a new module must be identical there, and
  self-contained (every name they read is moved with them or a builtin);
- a result whose model config holds a renamed config key is not covered: the older code read
  that key, the present one reads another.
"""

from __future__ import annotations

import ast
import builtins
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bench.spec import imports


@dataclass(frozen=True)
class Rename:
    """Names changed on purpose with nothing computed changed.

    Each old identifier must name only the suite's own objects in the modules of a closure (an
    attribute of a foreign object renamed would be a real change): a claim reviewed where the
    rename is declared, and tested (``tests/tools/test_same_code.py``).
    """

    name: str
    identifiers: Mapping[str, str]  # old -> new
    words: Mapping[str, str]  # old -> new, whole words in string constants
    # new module -> (former module, the moved definitions' names after the renames)
    moved: Mapping[str, tuple[str, tuple[str, ...]]] = field(default_factory=dict)
    config_keys: Mapping[str, str] = field(default_factory=dict)  # old -> new config key
    # keys the baselines' metadata now declares, with the value the code took without them
    config_defaults: Mapping[str, Any] = field(default_factory=dict)


RENAMES: tuple[Rename, ...] = (
    # "memory" named three things (issue 16). The ODE models' gradient-storage mode became
    # ``backprop``, and its check left bench.models.impl (the fast/reference switch) for
    # bench.models.backprop_modes. In bench/models/{impl,ode_*}.py, "memory" named that mode only.
    Rename(
        name="memory -> backprop",
        identifiers={"memory": "backprop", "check_memory": "check", "MEMORY_MODES": "MODES"},
        words={"memory": "backprop"},
        moved={"bench.models.backprop_modes": ("bench.models.impl", ("check", "MODES"))},
        config_keys={"memory": "backprop"},
        config_defaults={"backprop": "full"},
    ),
)


def empty(source: str) -> bool:
    """Whether a module holds nothing but a docstring and ``from __future__`` imports."""
    try:
        body = ast.parse(source).body
    except (SyntaxError, ValueError):
        return False
    return all(_docstring(n) or _future(n) for n in body)


def _docstring(node: ast.AST) -> bool:
    return (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str))


def _future(node: ast.AST) -> bool:
    return isinstance(node, ast.ImportFrom) and node.module == "__future__"


def _module(path: str) -> str:
    """``bench/models/ode.py`` -> ``bench.models.ode`` (a package's ``__init__.py``: itself)."""
    parts = path.removesuffix(".py").split("/")
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _path(module: str) -> str:
    return module.replace(".", "/") + ".py"


def _moved_modules(commit: str, cache: dict) -> dict[str, str]:
    """Files that git sees moved since ``commit``: {present path: path at ``commit``}."""
    key = ("moved", commit)
    if key not in cache:
        out = subprocess.run(["git", "diff", "-M", "--name-status", commit, "--", "."],
                             cwd=imports.ROOT, capture_output=True, text=True)
        moved = {}
        for line in out.stdout.splitlines() if out.returncode == 0 else []:
            status, *paths = line.split("\t")
            if status.startswith("R") and len(paths) == 2 and paths[1].endswith(".py"):
                moved[paths[1]] = paths[0]
        cache[key] = moved
    return cache[key]


class _FormerNames(ast.NodeTransformer):
    """``bench.models.x`` spelled out in code (after ``import bench.models.x``) -> ``bench.x``."""

    def __init__(self, modules: dict[str, str]) -> None:
        self.modules = modules

    def visit_Attribute(self, node: ast.Attribute) -> ast.AST:
        parts, inner = [node.attr], node.value
        while isinstance(inner, ast.Attribute):
            parts.append(inner.attr)
            inner = inner.value
        if isinstance(inner, ast.Name):
            dotted = ".".join([inner.id, *reversed(parts)])
            if dotted in self.modules:
                return ast.parse(self.modules[dotted], mode="eval").body
        self.generic_visit(node)
        return node


def _as_before(tree: ast.AST, modules: dict[str, str]) -> None:
    """Rewrite imports of moved modules to their former names, in place. Only moves that keep
    a module's own name are undone (``bench.x`` -> ``bench.models.x``); a renamed module stays
    a difference."""
    _FormerNames(modules).visit(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                alias.name = modules.get(alias.name, alias.name)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module in modules:
                node.module = modules[node.module]
                continue
            parents = {modules[f"{node.module}.{a.name}"].rpartition(".")[0]
                       for a in node.names if f"{node.module}.{a.name}" in modules
                       and modules[f"{node.module}.{a.name}"].endswith("." + a.name)}
            if len(parents) == 1:  # `from bench.models import ode` was `from bench import ode`
                node.module = parents.pop()


def _pruned_tree(tree: ast.AST, known: set[str]) -> str:
    """The AST without docstrings, and without the module-level, undecorated functions whose
    names ``known`` (the identifiers of the older source) never had: code the older code could
    not have called. A method or a decorated function is never dropped: a base class may call
    the one, and the decorator runs at import."""

    def new_function(node: ast.AST) -> bool:
        return (isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
                and not node.decorator_list and node.name not in known
                and not node.name.startswith("__"))

    if isinstance(tree, ast.Module):
        tree.body = [n for n in tree.body if not new_function(n)]
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            node.body = [n for n in node.body if not _docstring(n)] or [ast.Pass()]
    return ast.dump(tree, annotate_fields=False)


def pruned(source: str, known: set[str], moved: dict[str, str] | None = None) -> str:
    """:func:`_pruned_tree` of a source; ``moved`` ({present module: former module}): imports
    written as they were before."""
    tree = ast.parse(source)
    if moved:
        _as_before(tree, moved)
    return _pruned_tree(tree, known)


def _identifier_fields(node: ast.AST):
    """(field, value) of each identifier a node holds: names, attributes, parameters,
    keywords, definitions, import names and modules, ``except ... as``, ``global``, match
    patterns. A string constant holds none (its words are judged apart)."""
    if isinstance(node, ast.Constant):
        return
    for name, value in ast.iter_fields(node):
        if name == "type_comment":
            continue
        if isinstance(value, str) or (isinstance(value, list) and value
                                      and all(isinstance(v, str) for v in value)):
            yield name, value


def _identifiers(tree: ast.AST) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        for _, value in _identifier_fields(node):
            for text in [value] if isinstance(value, str) else value:
                names.update(p for p in text.split(".") if p)
    return names


def _strings(tree: ast.AST) -> list[str]:
    return [n.value for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and isinstance(n.value, str)]


class _Renamer(ast.NodeTransformer):
    """Applies a rename to every identifier field (dotted ones part by part) and to whole
    words inside string constants."""

    def __init__(self, rename: Rename) -> None:
        self.ids = dict(rename.identifiers)
        self.words = dict(rename.words)
        self.pattern = re.compile(r"\b(" + "|".join(map(re.escape, self.words)) + r")\b")

    def _dotted(self, text: str) -> str:
        return ".".join(self.ids.get(p, p) for p in text.split("."))

    def generic_visit(self, node: ast.AST) -> ast.AST:
        if isinstance(node, ast.Constant):
            if isinstance(node.value, str) and self.words:
                node.value = self.pattern.sub(lambda m: self.words[m.group(1)], node.value)
            return node
        for name, value in list(_identifier_fields(node)):
            setattr(node, name, self._dotted(value) if isinstance(value, str)
                    else [self._dotted(v) for v in value])
        return super().generic_visit(node)


def _defines(node: ast.AST) -> set[str]:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {node.name}
    if isinstance(node, (ast.Assign, ast.AnnAssign)):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        return {t.id for t in targets if isinstance(t, ast.Name)}
    return set()


def _self_contained(body: list[ast.stmt], names: tuple[str, ...], rest: ast.Module) -> bool:
    """Whether every name ``body`` reads is one of ``names``, bound inside it, or a builtin
    that ``rest`` (what stayed in the older module) does not rebind at its top level."""
    tree = ast.Module(body=body, type_ignores=[])
    shadowed = {name for n in rest.body for name in _defines(n)}
    shadowed |= {(a.asname or a.name).split(".")[0] for n in rest.body
                 if isinstance(n, (ast.Import, ast.ImportFrom)) for a in n.names}
    bound = set(names) | (set(dir(builtins)) - shadowed)
    for n in ast.walk(tree):
        if isinstance(n, ast.arg):
            bound.add(n.arg)
        elif isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Load):
            bound.add(n.id)
        elif isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(n.name)
    return all(n.id in bound for n in ast.walk(tree)
               if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load))


def _local_name(tree: ast.AST, module: str) -> str | None:
    """The name ``from <package> import <module>`` binds ``module`` to in ``tree``, if any."""
    package, _, leaf = module.rpartition(".")
    for n in ast.walk(tree):
        if isinstance(n, ast.ImportFrom) and n.module == package and n.level == 0:
            for alias in n.names:
                if alias.name == leaf:
                    return alias.asname or alias.name
    return None


def _apply(rename: Rename, tree: ast.Module, module: str,
           former: Mapping[str, str]) -> list[ast.stmt] | None:
    """Rename the older ``tree`` of ``module`` in place, move out its split-off definitions
    and point references to them at their new module; the moved statements (when ``module``
    was split), or None if the rename cannot apply (it would capture a name). ``former``:
    {present module: its name at the older commit} for modules git sees moved."""
    new_ids = set(rename.identifiers.values()) | {m.rpartition(".")[2] for m in rename.moved}
    if new_ids & _identifiers(tree) or any(
            re.search(rf"\b{re.escape(w)}\b", s) for w in rename.words.values()
            for s in _strings(tree)):
        return None
    _Renamer(rename).visit(tree)
    out: list[ast.stmt] = []
    for target, (source, names) in rename.moved.items():
        if module == source:
            out = [n for n in tree.body if _defines(n) & set(names)]
            tree.body = [n for n in tree.body if not _defines(n) & set(names)]
        local = _local_name(tree, source) or _local_name(tree, former.get(source, source))
        if local is None:
            continue
        for n in ast.walk(tree):
            if (isinstance(n, ast.Attribute) and n.attr in names
                    and isinstance(n.value, ast.Name) and n.value.id == local):
                n.value.id = target.rpartition(".")[2]
    return out


def _without_imports_of(tree: ast.Module, modules: list[str]) -> None:
    """Drop ``from <package> import <module>`` of each of ``modules`` from the present tree."""
    for module in modules:
        package, _, leaf = module.rpartition(".")
        for n in ast.walk(tree):
            if isinstance(n, ast.ImportFrom) and n.module == package and n.level == 0:
                n.names = [a for a in n.names if not (a.name == leaf and a.asname is None)]
    for n in ast.walk(tree):
        if hasattr(n, "body") and isinstance(n.body, list):
            n.body = [s for s in n.body if not (isinstance(s, ast.ImportFrom) and not s.names)]


def _show(commit: str, path: str) -> str | None:
    out = subprocess.run(["git", "show", f"{commit}:{path}"], cwd=imports.ROOT,
                         capture_output=True, text=True)
    return out.stdout if out.returncode == 0 else None


def _compare(commit: str, files: list[str], cache: dict, rename: Rename | None) -> bool:
    key = ("ast", commit, tuple(files), rename and rename.name)
    if key in cache:
        return cache[key]
    renamed = _moved_modules(commit, cache)
    moved = {_module(new): _module(old) for new, old in renamed.items()}
    targets = list(rename.moved) if rename else []

    def former(module: str, old: str | None = None) -> tuple[ast.Module, list[ast.stmt]] | None:
        """The older tree of a present module (``old``: its source, if read already), renamed,
        and the statements it split off."""
        if old is None:
            present = next((f for f in files if _module(f) == module), _path(module))
            old = _show(commit, renamed.get(present, present))
        if old is None:
            return None
        tree = ast.parse(old)
        split = _apply(rename, tree, module, moved) if rename else []
        return None if split is None else (tree, split)

    same = True
    try:
        for file in files:
            if not (imports.ROOT / file).is_file():  # e.g. a model folder outside the repo
                same = False
                break
            module, new = _module(file), (imports.ROOT / file).read_text()
            if module in targets:  # split off: compare with the older module's moved part
                source, names = rename.moved[module]  # type: ignore[union-attr]
                was = former(source)
                if was is None or not was[1] or not _self_contained(was[1], names, was[0]):
                    same = False
                    break
                body = [n for n in ast.parse(new).body if not _future(n)]
                known = _identifiers(was[0]) | set(names)
                same = (_pruned_tree(ast.Module(body=body, type_ignores=[]), known)
                        == _pruned_tree(ast.Module(body=was[1], type_ignores=[]), known))
            else:
                old = _show(commit, renamed.get(file, file))
                if old is None:  # new since: only an empty package marker changes nothing
                    same = file.endswith("__init__.py") and empty(new)
                elif old != new or rename:
                    was = former(module, old)
                    tree = ast.parse(new)
                    _without_imports_of(tree, targets)
                    _as_before(tree, moved)
                    known = _identifiers(was[0]) if was else set()
                    same = was is not None and (_pruned_tree(was[0], known)
                                                == _pruned_tree(tree, known))
            if not same:
                break
    except (SyntaxError, ValueError, UnicodeDecodeError):  # not Python this reads
        same = False
    cache[key] = same
    return same


def applicable(rename: Rename, config: Mapping[str, Any] | None) -> bool:
    """Whether ``rename`` can cover a result with this model config."""
    return not set(rename.config_keys) & set(config or {})


def same_code(commit: str | None, files: list[str], cache: dict,
              config: Mapping[str, Any] | None = None) -> Rename | bool:
    """Whether every file computes at ``commit`` what it computes now, as read; the declared
    rename that shows it, if one was needed (``config``: the result's model config)."""
    if not commit:
        return False
    if _compare(commit, files, cache, None):
        return True
    for rename in RENAMES:
        if applicable(rename, config) and _compare(commit, files, cache, rename):
            return rename
    return False
