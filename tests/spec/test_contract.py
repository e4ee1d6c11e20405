"""The model contract (``bench.spec.contract``): every registered model's build functions, and the
optional hooks the harness looks for, are found as the Protocols say."""

from __future__ import annotations

import jax
import pytest
import torch
from helpers import with_requirements

from bench.spec import contract
from bench.spec.registry import discover

MODELS = discover()
CASES = [with_requirements(m, name, fw) for name, m in sorted(MODELS.items())
         for fw in m.frameworks]


def _build(name: str, framework: str, solver: str | None = None):
    model = MODELS[name]
    config, _ = model.resolve("flipflop-2bit-ring", "smoke")
    if solver is not None:
        config = {**config, "solver": solver}
    module = model.load(framework)
    if framework == "torch":
        torch.manual_seed(0)
        return module, module.build(config, 2, 2)
    return module, module.build(config, 2, 2, key=jax.random.PRNGKey(0))


@pytest.mark.parametrize(("name", "framework"), CASES)
def test_every_model_builds_what_its_framework_protocol_calls_for(name, framework):
    module, model = _build(name, framework)
    x = torch.zeros(3, 5, 2) if framework == "torch" else jax.numpy.zeros((5, 2))
    dt = torch.full((3, 5), 0.01) if framework == "torch" else jax.numpy.full((5,), 0.01)
    y = model(x, dt)
    assert tuple(y.shape) == ((3, 5, 2) if framework == "torch" else (5, 2))
    if framework == "torch":
        assert sum(p.numel() for p in model.parameters()) > 0
    if framework == "jax" and hasattr(module, "load_torch_state"):
        assert callable(module.load_torch_state)
    # the analysis interface is all or nothing: a partial one is a contract error
    missing = contract.missing_analysis_members(model)
    assert missing in ([], list(contract.ANALYSIS_MEMBERS)), missing
    assert isinstance(model, contract.AnalysisInterface) == (missing == [])


def test_the_baselines_declare_the_hooks_their_solvers_allow():
    _, euler = _build("gnode", "torch", "euler")
    _, dopri = _build("gnode", "torch", "dopri5")
    # adaptive solvers sync with the host: not graph-safe
    assert contract.is_graph_safe(euler) and not contract.is_graph_safe(dopri)
    assert contract.has_nfe_counts(dopri) and isinstance(dopri, contract.TorchReportsNFE)
    assert not contract.has_nfe_counts(euler)
    _, jdopri = _build("gnode", "jax", "dopri5")
    assert contract.has_nfe_counts(jdopri) and isinstance(jdopri, contract.JaxReportsNFE)
    _, gru = _build("gru", "torch")
    assert contract.is_graph_safe(gru)  # cuDNN's step has static shapes
    assert not contract.has_nfe_counts(gru)


def test_a_model_without_the_analysis_interface_is_named_as_such():
    class Bare:
        discrete = False

        def states(self, x, dt):
            return x

    assert contract.missing_analysis_members(Bare()) == ["field", "observe"]
    assert not isinstance(Bare(), contract.AnalysisInterface)
