"""``bench.tools.checker`` (``python -m bench check``): a good submission passes every check, and a
broken one fails the right check, with its reason, in a non-zero exit."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from helpers import with_requirements

from bench.spec.registry import discover
from bench.tools import checker

pytestmark = pytest.mark.slow  # real processes: the harness, its children, Ray

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = Path(__file__).parents[1] / "fixtures" / "hostile"


def _check(folder: Path) -> tuple[bool, list[str]]:
    lines: list[str] = []
    return checker.check(folder, echo=lines.append), lines


@pytest.mark.parametrize("name", ["example-ctrnn", "cornn"])
def test_the_example_submissions_pass(name):
    ok, lines = _check(ROOT / "submissions" / name)
    assert ok, lines
    assert [line.split()[1].rstrip(":") for line in lines] == ["metadata"] + ["torch"] * 6
    assert all(line.startswith("PASS") for line in lines)


def _variant(tmp_path: Path, behaviour: str) -> Path:
    folder = tmp_path / "hostile"
    shutil.copytree(FIXTURE, folder)
    meta = yaml.safe_load((folder / "metadata.yaml").read_text())
    meta["config"]["behaviour"] = behaviour
    (folder / "metadata.yaml").write_text(yaml.safe_dump(meta))
    return folder


@pytest.mark.parametrize("behaviour, failing, reason", [
    ("wrong_shape", "torch shape", "expected (3, 7, 2)"),
    ("no_grad", "torch gradients", "no gradient reaches rnn.weight_ih_l0"),
    ("random_init", "torch seed", "the same seed gave different"),
    ("raise", "torch build", "RuntimeError: this model refuses"),
    ("partial_analysis", "torch hooks", "the analysis interface is partial: it lacks field, "
                                        "observe"),
])
def test_a_broken_contract_fails_its_check(tmp_path, behaviour, failing, reason):
    ok, lines = _check(_variant(tmp_path, behaviour))
    assert not ok
    [line] = [x for x in lines if x.startswith("FAIL")]
    assert line.startswith(f"FAIL  {failing}: ") and reason in line
    assert not any("smoke run" in x for x in lines)  # skipped: it needs the contract


def test_bad_metadata_fails_first_and_the_command_exits_non_zero(tmp_path):
    folder = _variant(tmp_path, "none")
    meta = yaml.safe_load((folder / "metadata.yaml").read_text())
    del meta["authors"]
    (folder / "metadata.yaml").write_text(yaml.safe_dump(meta))
    run = subprocess.run([sys.executable, "-m", "bench", "check", str(folder)], cwd=ROOT,
                         capture_output=True, text=True)
    assert run.returncode == 1 and "Traceback" not in run.stdout + run.stderr
    first, last = run.stdout.splitlines()[0], run.stdout.splitlines()[-1]
    assert first.startswith("FAIL  metadata: ") and "missing field(s) authors" in first
    assert last == "check: some checks failed"


REGISTERED = [with_requirements(m, name, fw) for name, m in sorted(discover().items())
              for fw in m.frameworks]


@pytest.mark.parametrize("name, framework", REGISTERED)
def test_every_registered_model_passes_the_contract_checks(name, framework):
    """The checker's own checks, in its sandboxed child, on every baseline and submission:
    the one statement of the contract, applied to all."""
    checks = checker.contract_checks(discover()[name], framework)
    assert [c.name for c in checks] == list(checker.STAGES)
    assert all(c.ok for c in checks), [c for c in checks if not c.ok]
    hooks = checks[-1].reason
    if name in ("gnode", "node", "mgru", "rnn", "gru", "lstm"):  # the suite's own
        assert "analysis interface" in hooks
    if framework == "jax" and name in ("gnode", "node", "mgru", "rnn", "gru", "lstm"):
        assert "load_torch_state" in hooks
