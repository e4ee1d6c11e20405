"""``bench.models.ode_torch_fast``: the fast path computes the reference path's function, and its
backprop modes keep (checkpoint) or approximate (adjoint) the reference gradients."""

from __future__ import annotations

import pytest
import torch
from helpers import FAST_PATH_CONFIGS

from bench.models import impl
from bench.models.ode_torch import ODERNN

pytestmark = pytest.mark.slow  # every solver and backprop mode, forward and backward

B, T, I, O = 4, 13, 3, 2


def _data():
    g = torch.Generator().manual_seed(0)
    return torch.randn(B, T, I, generator=g), 0.02 + 0.1 * torch.rand(B, T, generator=g)


def _outputs_and_grads(model: ODERNN, which: str):
    x, dt = _data()
    model.zero_grad()
    with impl.using(which):
        y = model(x, dt)
        (y ** 2).sum().backward()
    return y.detach(), {n: p.grad.clone() for n, p in model.named_parameters()
                        if p.grad is not None}


def _model(**kw) -> ODERNN:
    torch.manual_seed(1)
    base = dict(N=5, widths=[7], activation="tanh", tau=0.5)
    return ODERNN(I, O, **{**base, **kw})


def _assert_close(a, b, rtol=1e-5):
    ya, ga = a
    yb, gb = b
    torch.testing.assert_close(ya, yb, rtol=rtol, atol=1e-6)
    assert ga.keys() == gb.keys()
    for name in ga:
        scale = gb[name].abs().max().item() or 1.0
        assert (ga[name] - gb[name]).abs().max().item() <= rtol * 10 * scale, name


@pytest.mark.parametrize("solver", ["euler", "rk4"])
@pytest.mark.parametrize("kw", FAST_PATH_CONFIGS)
@pytest.mark.parametrize("backprop", ["full", "checkpoint"])
def test_fast_path_equals_reference(solver, kw, backprop):
    model = _model(solver=solver, **kw)
    reference = _outputs_and_grads(model, "reference")
    model.backprop = backprop
    _assert_close(_outputs_and_grads(model, "fast"), reference)


def test_fast_path_counts_the_same_evaluations():
    model = _model(solver="rk4", steps_per_interval=2)
    x, dt = _data()
    counts = {}
    for which in impl.IMPLS:
        with impl.using(which):
            model(x, dt)
        counts[which] = (model.nfe_forward, model.nfe_backward)
    assert counts["fast"] == counts["reference"] == (T * 2 * 4, T * 2 * 4)


def test_adjoint_gradients_converge_at_first_order_with_euler():
    """The adjoint re-solves the state backwards with Euler: its gradient error is O(step)."""
    errors = []
    for steps in (2, 8, 32):
        model = _model(steps_per_interval=steps)
        y, exact = _outputs_and_grads(model, "fast")
        model.backprop = "adjoint"
        y_adj, approx = _outputs_and_grads(model, "fast")
        torch.testing.assert_close(y_adj, y, rtol=1e-5, atol=1e-6)  # the same forward solve
        errors.append(max((approx[n] - exact[n]).abs().max().item()
                          / exact[n].abs().max().item() for n in exact))
    assert errors[0] > errors[1] > errors[2]
    assert 2.5 < errors[0] / errors[1] < 6 and 2.5 < errors[1] / errors[2] < 6  # about 4
    assert errors[2] < 0.1


def test_adaptive_adjoint_matches_direct_backpropagation():
    model = _model(solver="dopri5", rtol=1e-7, atol=1e-7)
    y, exact = _outputs_and_grads(model, "fast")
    model.backprop = "adjoint"
    _assert_close(_outputs_and_grads(model, "fast"), (y, exact), rtol=1e-3)


def test_memory_modes_are_checked_and_reference_has_full_only():
    with pytest.raises(ValueError, match="not a mode"):
        _model(backprop="everything")
    with pytest.raises(ValueError, match="use backprop: adjoint"):
        _model(solver="dopri5", backprop="checkpoint")
    model = _model(backprop="checkpoint")
    with pytest.raises(ValueError, match="fast path only"):
        _outputs_and_grads(model, "reference")


def test_only_fixed_full_memory_models_are_graph_safe():
    assert _model().graph_safe
    assert not _model(backprop="checkpoint").graph_safe
    assert not _model(solver="dopri5").graph_safe
