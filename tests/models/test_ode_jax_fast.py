"""``bench.models.ode_jax_fast``: the fast path computes the reference path's function, and its
backprop modes keep (checkpoint) or approximate (adjoint) the reference gradients."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import FAST_PATH_CONFIGS

from bench.models import impl
from bench.models.ode_jax import ODERNN

pytestmark = pytest.mark.slow  # compiles every solver and backprop mode

B, T, I, O = 4, 13, 3, 2


def _outputs_and_grads(model: ODERNN, which: str):
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.standard_normal((B, T, I)), jnp.float32)
    dt = jnp.asarray(0.02 + 0.1 * rng.random((B, T)), jnp.float32)
    params, static = eqx.partition(model, eqx.is_inexact_array)

    def loss(p):
        y = jax.vmap(eqx.combine(p, static))(x, dt)
        return jnp.sum(y ** 2), y

    # one jitted program, as training runs it (and a third of the eager dispatch's time)
    with impl.using(which), jax.default_matmul_precision("highest"):
        (_, y), grads = jax.jit(jax.value_and_grad(loss, has_aux=True))(params)
    return np.asarray(y), [np.asarray(g) for g in jax.tree_util.tree_leaves(grads)]


def _model(**kw) -> ODERNN:
    base = dict(N=5, widths=[7], activation="tanh", tau=0.5, key=jax.random.PRNGKey(1))
    return ODERNN(I, O, **{**base, **kw})


def _max_rel(a, b) -> float:
    return max(float(np.max(np.abs(x - y)) / (np.max(np.abs(y)) or 1.0)) for x, y in zip(a, b))


@pytest.mark.parametrize("solver", ["euler", "rk4"])
@pytest.mark.parametrize("kw", FAST_PATH_CONFIGS)
def test_fast_path_equals_reference(solver, kw):
    """Both backprop modes of the fast path against one reference solve."""
    y_ref, g_ref = _outputs_and_grads(_model(solver=solver, **kw), "reference")
    for backprop in ("full", "checkpoint"):
        y, g = _outputs_and_grads(_model(solver=solver, backprop=backprop, **kw), "fast")
        np.testing.assert_allclose(y, y_ref, rtol=1e-5, atol=1e-6, err_msg=backprop)
        assert len(g) == len(g_ref) and _max_rel(g, g_ref) < 1e-4, backprop


def test_checkpoint_pads_with_exact_zero_steps():
    """T = 13 is not a multiple of its chunk (4): the padding steps must change nothing."""
    y_full, g_full = _outputs_and_grads(_model(), "fast")
    y_ckpt, g_ckpt = _outputs_and_grads(_model(backprop="checkpoint"), "fast")
    np.testing.assert_array_equal(y_ckpt.shape, y_full.shape)
    np.testing.assert_allclose(y_ckpt, y_full, rtol=1e-6, atol=1e-7)
    assert _max_rel(g_ckpt, g_full) < 1e-5


def test_adjoint_gradients_converge_at_first_order_with_euler():
    errors = []
    for steps in (2, 8, 32):
        y, exact = _outputs_and_grads(_model(steps_per_interval=steps), "fast")
        y_adj, approx = _outputs_and_grads(_model(steps_per_interval=steps, backprop="adjoint"),
                                           "fast")
        np.testing.assert_allclose(y_adj, y, rtol=1e-5, atol=1e-6)  # the same forward solve
        errors.append(_max_rel(approx, exact))
    assert errors[0] > errors[1] > errors[2]
    assert 2.5 < errors[0] / errors[1] < 6 and 2.5 < errors[1] / errors[2] < 6  # about 4


def test_adjoint_is_refused_with_rk4_and_reference_has_full_memory_only():
    with pytest.raises(ValueError, match="not offered with rk4"):
        _model(solver="rk4", backprop="adjoint")
    with pytest.raises(ValueError, match="fast path only"):
        _outputs_and_grads(_model(backprop="checkpoint"), "reference")
