"""``bench.tools.same_code``: restamp's git check. Code that only moved, gained unreachable
functions or had a declared rename applied is the same code; any other change is not."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from bench.spec import imports
from bench.tools import same_code


def _git(repo: Path, *args: str) -> str:
    out = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True,
                         env={**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
                              "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"})
    return out.stdout.strip()


def _repo(tmp_path: Path, files: dict[str, str]) -> tuple[Path, str]:
    """A repository with ``files`` committed; (its root, the commit)."""
    repo = tmp_path / "repo"
    for name, text in files.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text)
    _git(repo, "init", "-q")
    _git(repo, "add", ".")
    _git(repo, "commit", "-qm", "before")
    return repo, _git(repo, "rev-parse", "HEAD")


def test_added_functions_and_docstrings_do_not_count_as_a_change():
    old = 'def f(x):\n    """Old words."""\n    return x + 1\n'
    added = ('def f(x):\n    """New words."""\n    # a comment\n    return x + 1\n\n\n'
             'def g(x):\n    return f(x) * 2\n')
    changed = 'def f(x):\n    return x + 2\n'
    shadowing = old + '\n\ndef f(x):\n    return x\n'  # redefines a name the old code used
    known = {"f", "x"}
    assert same_code.pruned(old, known) == same_code.pruned(added, known)
    assert same_code.pruned(old, known) != same_code.pruned(changed, known)
    assert same_code.pruned(old, known) != same_code.pruned(shadowing, known)


def test_a_module_moved_into_a_package_is_the_same_code(tmp_path, monkeypatch):
    """A pure move (git mv, imports and dotted names rewritten to the new place) leaves the
    code the same; a change inside the moved module, or a package marker that runs code, does
    not."""
    repo, before = _repo(tmp_path, {
        "bench/__init__.py": '"""The suite."""\n',
        "bench/ode.py": "def f(x):\n    return x + 1\n",
        "model/torch_model.py": ("from bench import ode\nimport bench.ode\n\n\ndef build():\n"
                                 "    return ode.f, bench.ode.f\n")})
    (repo / "bench" / "models").mkdir()
    (repo / "bench" / "models" / "__init__.py").write_text('"""The models."""\n')
    _git(repo, "mv", "bench/ode.py", "bench/models/ode.py")
    model = repo / "model" / "torch_model.py"
    model.write_text(model.read_text()
                     .replace("from bench import ode", "from bench.models import ode")
                     .replace("import bench.ode\n", "import bench.models.ode\n")
                     .replace("bench.ode.f", "bench.models.ode.f"))
    _git(repo, "add", ".")
    _git(repo, "commit", "-qm", "moved")
    monkeypatch.setattr(imports, "ROOT", repo)
    files = ["model/torch_model.py", "bench/models/ode.py", "bench/models/__init__.py"]
    assert same_code.same_code(before, files, {}) is True
    # but not when the moved module computes something else ...
    ode = repo / "bench" / "models" / "ode.py"
    ode.write_text("def f(x):\n    return x + 2\n")
    assert not same_code.same_code(before, files, {})
    ode.write_text("def f(x):\n    return x + 1\n")
    # ... or the package marker does something
    (repo / "bench" / "models" / "__init__.py").write_text("import os\n")
    assert not same_code.same_code(before, files, {})


# The shape of the change RENAMES[0] declares, in miniature: a mode key renamed, its check
# split out of impl.py into backprop_modes.py.
IMPL_BEFORE = '''"""The switch."""
IMPLS = ("fast", "reference")
MEMORY_MODES = ("full", "adjoint")


def check_memory(memory, solver):
    """A memory mode."""
    if memory not in MEMORY_MODES:
        raise ValueError(f"memory {memory!r} is not a mode")
'''
ODE_BEFORE = '''from bench.models import impl


class Model:
    def __init__(self, solver, memory="full"):
        impl.check_memory(memory, solver)
        self.memory = memory

    def step(self, h):
        return h * 2 if self.memory == "adjoint" else h + 1


def build(config):
    return Model(config["solver"], memory=config.get("memory", "full"))
'''
IMPL_AFTER = '''"""The switch."""
IMPLS = ("fast", "reference")
'''
MODES_AFTER = '''"""The modes."""
MODES = ("full", "adjoint")


def check(backprop, solver):
    """Reworded."""
    if backprop not in MODES:
        raise ValueError(f"backprop {backprop!r} is not a mode")
'''
ODE_AFTER = (ODE_BEFORE.replace("from bench.models import impl",
                                "from bench.models import backprop_modes, impl")
             .replace("impl.check_memory", "backprop_modes.check")
             .replace("memory", "backprop"))
FILES = ["bench/models/impl.py", "bench/models/backprop_modes.py", "bench/models/ode.py"]


@pytest.fixture
def renamed(tmp_path, monkeypatch) -> tuple[Path, str]:
    """A repository before the rename (committed) and after it (the working tree)."""
    repo, before = _repo(tmp_path, {"bench/models/impl.py": IMPL_BEFORE,
                                    "bench/models/ode.py": ODE_BEFORE})
    for name, text in zip(FILES, (IMPL_AFTER, MODES_AFTER, ODE_AFTER), strict=True):
        (repo / name).write_text(text)
    monkeypatch.setattr(imports, "ROOT", repo)
    return repo, before


def test_a_declared_rename_with_a_split_is_the_same_code(renamed):
    _, before = renamed
    assert same_code.same_code(before, FILES, {}) is same_code.RENAMES[0]
    assert same_code.same_code(before, FILES, {}, {"solver": "euler"}) is same_code.RENAMES[0]
    # a result whose config set the old key: the older code read it, the present one does not
    assert not same_code.same_code(before, FILES, {}, {"memory": "adjoint"})


@pytest.mark.parametrize("file, old, new", [
    # the split-off check computes something else
    ("bench/models/backprop_modes.py", '("full", "adjoint")', '("full", "adjoint", "none")'),
    # one reader left on the old attribute: it would fail now
    ("bench/models/ode.py", 'self.backprop == "adjoint"', 'self.memory == "adjoint"'),
    # the config read under the old key: an absent key now, the old one read before
    ("bench/models/ode.py", 'config.get("backprop", "full")', 'config.get("memory", "full")'),
    # the moved check reads a name it left behind in impl.py: a NameError now
    ("bench/models/backprop_modes.py", "if backprop not in MODES", "if backprop not in IMPLS"),
    # a change besides the rename
    ("bench/models/ode.py", "h * 2", "h * 3"),
])
def test_any_other_change_under_a_rename_is_a_change(renamed, file, old, new):
    repo, before = renamed
    path = repo / file
    assert old in path.read_text()
    path.write_text(path.read_text().replace(old, new))
    assert not same_code.same_code(before, FILES, {})


def test_a_rename_never_captures_a_name_the_older_code_used(tmp_path, monkeypatch):
    """Had the older code a ``backprop`` of its own, renaming ``memory`` onto it would merge
    two things: the rename does not apply."""
    repo, before = _repo(tmp_path, {
        "bench/models/impl.py": IMPL_BEFORE,
        "bench/models/ode.py": ODE_BEFORE.replace("return h * 2", "backprop = 2\n"
                                                  "        return h * backprop")})
    for name, text in zip(FILES, (IMPL_AFTER, MODES_AFTER, ODE_AFTER), strict=True):
        (repo / name).write_text(text)
    ode = repo / "bench/models/ode.py"
    ode.write_text(ode.read_text().replace("return h * 2", "backprop = 2\n"
                                           "        return h * backprop"))
    monkeypatch.setattr(imports, "ROOT", repo)
    assert not same_code.same_code(before, FILES, {})


def test_the_declared_rename_covers_the_real_change():
    """The suite's own ODE modules before the rename (commit 0f496c2) compute what they
    compute now, by RENAMES[0]."""
    before = "0f496c2019bc3dc6356a5329038d0d09d695ab48"
    if subprocess.run(["git", "cat-file", "-e", f"{before}^{{commit}}"], cwd=imports.ROOT,
                      capture_output=True).returncode != 0:
        pytest.skip("the repository's history is not here (a shallow clone)")
    from bench.spec.registry import discover
    from bench.tools import restamp

    models = discover()
    for name in ("gnode", "node", "mgru", "rnn"):
        for framework in ("torch", "jax"):
            files = restamp._suite_files(models[name], framework)
            assert "bench/models/backprop_modes.py" in files
            assert same_code.same_code(before, files, {}, {}) is same_code.RENAMES[0]


def test_a_new_method_or_decorated_function_is_a_change():
    """A base class may call a method the older code never named (nn.Module's
    reset_parameters), and a decorator runs at import: neither is unreachable code."""
    old = "import torch\n\n\nclass L(torch.nn.Linear):\n    pass\n"
    method = ("import torch\n\n\nclass L(torch.nn.Linear):\n    def reset_parameters(self):\n"
              "        torch.nn.init.zeros_(self.weight)\n")
    decorated = old + "\n\n@register\ndef helper():\n    return 1\n"
    known = {"torch", "L", "nn", "Linear"}
    assert same_code.pruned(old, known) != same_code.pruned(method, known)
    assert same_code.pruned(old, known) != same_code.pruned(decorated, known)


def test_a_rename_cannot_capture_through_an_except_global_or_match_binding(tmp_path,
                                                                          monkeypatch):
    before = ("def f(memory):\n    try:\n        return g()\n    except E as backprop:\n"
              "        return memory\n")
    after = before.replace("return memory", "return backprop").replace(
        "def f(memory)", "def f(backprop)")
    repo, commit = _repo(tmp_path, {"bench/models/impl.py": IMPL_BEFORE,
                                    "bench/models/ode.py": ODE_BEFORE + "\n\n" + before})
    for name, text in zip(FILES, (IMPL_AFTER, MODES_AFTER, ODE_AFTER + "\n\n" + after),
                          strict=True):
        (repo / name).write_text(text)
    monkeypatch.setattr(imports, "ROOT", repo)
    assert not same_code.same_code(commit, FILES, {})


def test_a_moved_definition_may_not_read_a_builtin_its_old_module_rebound(tmp_path,
                                                                          monkeypatch):
    rebinds = IMPL_BEFORE.replace('IMPLS = ("fast", "reference")',
                                  'IMPLS = ("fast", "reference")\nrepr = str')
    repo, commit = _repo(tmp_path, {"bench/models/impl.py": rebinds,
                                    "bench/models/ode.py": ODE_BEFORE})
    moved_reads_repr = MODES_AFTER.replace("if backprop not in MODES:",
                                           "if repr(backprop) and backprop not in MODES:")
    old_reads_repr = rebinds.replace("if memory not in MEMORY_MODES:",
                                     "if repr(memory) and memory not in MEMORY_MODES:")
    (repo / "bench/models/impl.py").write_text(old_reads_repr)
    _git(repo, "commit", "-qam", "reads repr")
    commit = _git(repo, "rev-parse", "HEAD")
    for name, text in zip(FILES, (IMPL_AFTER + "repr = str\n", moved_reads_repr, ODE_AFTER),
                          strict=True):
        (repo / name).write_text(text)
    monkeypatch.setattr(imports, "ROOT", repo)
    assert not same_code.same_code(commit, FILES, {})


def test_files_it_cannot_read_as_python_are_not_the_same_and_do_not_crash(renamed):
    repo, before = renamed
    assert not same_code.same_code(before, ["<outside the repository>"], {})
    (repo / "bench/models/ode.py").write_bytes(b"x = '\xff\xfe'\n")
    assert not same_code.same_code(before, FILES, {})
