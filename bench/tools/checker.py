"""``python -m bench check submissions/<name>``: is a submission ready to run?

It prints one line per check, PASS or FAIL with the reason, and exits non-zero on any failure. A
failed check skips the checks that need it. The checker itself never imports the submission:
model code runs in child processes.

1. ``metadata``: the documented schema (``bench.spec.registry.validate_metadata``);
   ``requirements``: the model's own pinned packages are installed (``bench.spec.requirements``).
2. Per framework, in a child process:
   - ``build``: the module imports, and ``build(config, I, O)`` returns a model;
   - ``shape``: the outputs have the contract's shape;
   - ``gradients``: the gradient of a loss is finite for every parameter and non-zero for some;
   - ``seed``: building twice from the same seed gives the same parameters;
   - ``hooks``: the optional hooks are whole (``bench.spec.contract``): the analysis interface
     has all of its members or none, and each declared hook has its type.
3. ``smoke run``: one cell of the smoke profile on :data:`SMOKE_TASK`, through the harness as
   ``make bench`` runs it (isolated, limits and all); its status must be ok.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from bench.errors import UserError
from bench.run import wire
from bench.spec import contract, requirements
from bench.spec.cells import Cell
from bench.spec.registry import ModelSpec, validate_metadata

SMOKE_TASK = "flipflop-2bit-ring"
STAGES = ("build", "shape", "gradients", "seed", "hooks")  # the contract checks, in order
B, T, I, O = 3, 7, 4, 2  # the contract checks' sizes
CHILD_TIMEOUT_S = 600


@dataclass
class Check:
    name: str
    ok: bool
    reason: str = ""

    def line(self) -> str:
        return f"{'PASS' if self.ok else 'FAIL'}  {self.name}" + (f": {self.reason}"
                                                                 if self.reason else "")


def load_folder(folder: Path) -> ModelSpec:
    """The model in ``folder``, its metadata validated; a problem is a one-line UserError."""
    folder = Path(folder)
    meta_file = folder / "metadata.yaml"
    if not meta_file.is_file():
        raise UserError(f"{meta_file}: no such file; a submission is a folder with a "
                        "metadata.yaml (see submissions/README.md)")
    try:
        raw = yaml.safe_load(meta_file.read_text())
    except yaml.YAMLError:
        raise UserError(f"{meta_file}: not valid YAML; fix the file") from None
    meta = validate_metadata(raw, folder)
    kind = "baseline" if folder.resolve().parent.name == "baselines" else "submission"
    return ModelSpec(meta["name"], kind, folder.resolve(), meta)


def _torch_contract(spec: ModelSpec, config: dict[str, Any], out: list[Check]) -> list[Check]:
    import torch

    module = spec.load("torch")
    torch.manual_seed(0)
    model = module.build(config, I, O)
    if not isinstance(model, torch.nn.Module):
        return [Check("build", False, f"build returned {type(model).__name__}, not a "
                      "torch.nn.Module")]
    out.append(Check("build", True))
    g = torch.Generator().manual_seed(0)
    x, dt = torch.randn(B, T, I, generator=g), torch.full((B, T), 0.01)
    y = model(x, dt)
    if tuple(y.shape) != (B, T, O):
        return [*out, Check("shape", False, f"model(x, dt) with x {tuple(x.shape)} gave "
                            f"{tuple(y.shape)}; expected {(B, T, O)}")]
    out.append(Check("shape", True))
    (y ** 2).mean().backward()
    params = dict(model.named_parameters())
    out.append(_gradient_check({n: None if p.grad is None else p.grad.numpy()
                                for n, p in params.items() if p.requires_grad}))
    torch.manual_seed(0)
    again = module.build(config, I, O)
    out.append(_seed_check({n: p.detach().numpy() for n, p in params.items()},
                           {n: p.detach().numpy() for n, p in again.named_parameters()}))
    out.append(_hooks_check(model, module, "torch"))
    return out


def _jax_contract(spec: ModelSpec, config: dict[str, Any], out: list[Check]) -> list[Check]:
    import equinox as eqx
    import jax
    import jax.numpy as jnp

    module = spec.load("jax")
    model = module.build(config, I, O, key=jax.random.PRNGKey(0))
    if not isinstance(model, eqx.Module):
        return [Check("build", False, f"build returned {type(model).__name__}, not an "
                      "equinox.Module")]
    out.append(Check("build", True))
    x = jax.random.normal(jax.random.PRNGKey(1), (B, T, I))
    dt = jnp.full((B, T), 0.01)
    y = jax.vmap(lambda a, b: model(a, b))(x, dt)  # type: ignore[operator]
    if tuple(y.shape) != (B, T, O):
        return [*out, Check("shape", False, f"vmap(model)(x, dt) with x {tuple(x.shape)} "
                            f"gave {tuple(y.shape)}; expected {(B, T, O)} (the model acts on "
                            "one sequence)")]
    out.append(Check("shape", True))
    params, static = eqx.partition(model, eqx.is_inexact_array)
    grads = jax.grad(lambda p: jnp.mean(jax.vmap(eqx.combine(p, static))(x, dt) ** 2))(params)
    leaves = jax.tree_util.tree_leaves_with_path(grads)
    out.append(_gradient_check({jax.tree_util.keystr(k): np.asarray(v) for k, v in leaves}))
    again = module.build(config, I, O, key=jax.random.PRNGKey(0))

    def named(m):
        return {jax.tree_util.keystr(k): np.asarray(v) for k, v in
                jax.tree_util.tree_leaves_with_path(eqx.filter(m, eqx.is_inexact_array))}

    out.append(_seed_check(named(model), named(again)))
    out.append(_hooks_check(model, module, "jax"))
    return out


def _hooks_check(model: Any, module: Any, framework: str) -> Check:
    """The optional hooks of ``bench.spec.contract``: whole where present, of their types."""
    missing = contract.missing_analysis_members(model)
    if missing and len(missing) < len(contract.ANALYSIS_MEMBERS):
        return Check("hooks", False, f"the analysis interface is partial: it lacks "
                     f"{', '.join(missing)} (give all of {', '.join(contract.ANALYSIS_MEMBERS)}"
                     " or none)")
    problems = [f"{name} is {type(getattr(model, name)).__name__}, not bool"
                for name in ("graph_safe", "reports_nfe", "discrete")
                if hasattr(model, name) and not isinstance(getattr(model, name), bool)]
    hook = getattr(module, "load_torch_state", None)
    if hook is not None and not callable(hook):
        problems.append("load_torch_state is not a function")
    if problems:
        return Check("hooks", False, "; ".join(problems))
    found = [name for name, present in (
        ("analysis interface", not missing), ("graph_safe", contract.is_graph_safe(model)),
        ("reports_nfe", contract.has_nfe_counts(model)),
        ("load_torch_state", framework == "jax" and hook is not None)) if present]
    return Check("hooks", True, ", ".join(found) or "none")


def _gradient_check(grads: dict[str, np.ndarray | None]) -> Check:
    if not grads:
        return Check("gradients", False, "the model has no trainable parameters")
    missing = [n for n, g in grads.items() if g is None]
    bad = [n for n, g in grads.items() if g is not None and not np.all(np.isfinite(g))]
    if missing or bad:
        problems = ([f"no gradient reaches {', '.join(missing)}"] if missing else []) + (
            [f"non-finite gradient for {', '.join(bad)}"] if bad else [])
        return Check("gradients", False, "; ".join(problems))
    if not any(np.any(g) for g in grads.values() if g is not None):
        return Check("gradients", False, "every gradient is zero: the loss does not depend on "
                     "the parameters")
    return Check("gradients", True, f"{len(grads)} parameter arrays")


def _seed_check(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> Check:
    differ = [n for n in a if n not in b or not np.array_equal(a[n], b[n])]
    if differ:
        return Check("seed", False, f"the same seed gave different {', '.join(differ)}: "
                     "initialise from torch's global seed or the key you are given")
    return Check("seed", True)


def contract_main(job: tuple[ModelSpec, str]) -> list[dict[str, Any]]:
    """The isolated child's target (``bench.run.isolation``): the contract checks, as plain data."""
    spec, framework = job
    checks: list[Check] = []
    try:
        config = spec.resolve(SMOKE_TASK, "smoke")[0]
        run = _torch_contract if framework == "torch" else _jax_contract
        checks = run(spec, config, checks)
    except BaseException as e:  # the check that was running fails with the error
        stage = STAGES[min(len(checks), len(STAGES) - 1)]
        checks.append(Check(stage, False, f"{type(e).__name__}: {e}"))
    return [asdict(c) for c in checks]


CHECKS_SCHEMA = wire.ListOf({"name": str, "ok": bool, "reason": str})


def contract_checks(spec: ModelSpec, framework: str) -> list[Check]:
    """The contract checks for one framework, in a sandboxed child (``bench.run.isolation``)."""
    from bench.run import isolation

    limits = isolation.Limits(CHILD_TIMEOUT_S, 8)
    with isolation.scratch_folder() as scratch:
        out = isolation.run("bench.tools.checker:contract_main", (spec, framework), scratch, limits,
                            CHECKS_SCHEMA, framework=framework)
    if not out.returned:
        return [Check("build", False, isolation.ended(out, limits)[1])]
    return [Check(**c) for c in out.value] or [Check("build", False, "no checks came back")]


def smoke_run(spec: ModelSpec, framework: str) -> Check:
    """One smoke-profile cell through the harness, in a throwaway results folder."""
    from bench.run import harness
    from bench.spec.tasks import get_task

    with tempfile.TemporaryDirectory(prefix="ctrnn-bench-check-") as tmp:
        cell = Cell(spec, framework, get_task(SMOKE_TASK), seed=0)
        report = harness.run([cell], "smoke", "cpu", Path(tmp), echo=lambda s: None)
    if report.problems:
        return Check("smoke run", False, report.problems[0])
    return Check("smoke run", True, f"{SMOKE_TASK}, smoke profile")


def check(folder: Path, echo: Callable[[str], None] = print) -> bool:
    """Run every check on the submission in ``folder``, echoing one line each; all passed?"""
    try:
        spec = load_folder(folder)
    except UserError as e:
        echo(Check("metadata", False, str(e)).line())
        return False
    echo(Check("metadata", True, f"{spec.name}: {', '.join(spec.frameworks)}").line())
    if spec.requirements:
        absent = requirements.missing(spec.requirements)
        echo(Check("requirements", not absent,
                   f"{', '.join(absent)} not installed: `make check-submission NAME={spec.name}`"
                   " installs it" if absent else ", ".join(spec.requirements)).line())
        if absent:
            return False
    ok = True
    for fw in spec.frameworks:
        checks = contract_checks(spec, fw)
        for c in checks:
            echo(Check(f"{fw} {c.name}", c.ok, c.reason).line())
        passed = len(checks) == len(STAGES) and all(c.ok for c in checks)
        if passed:
            smoke = smoke_run(spec, fw)
            echo(Check(f"{fw} {smoke.name}", smoke.ok, smoke.reason).line())
            passed = smoke.ok
        ok = ok and passed
    return ok
