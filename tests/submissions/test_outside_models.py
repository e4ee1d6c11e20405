"""The outside models (``submissions/``: cfc, ltc, ode-rnn, ode-lstm, ncde, lru): each is
causal, as the contract requires, and the equations written by hand compute what their papers
say: the LRU's scan is its recurrence, and its continuous-time step is the paper's at dt = tau.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from helpers import with_requirements

from bench.spec.registry import discover

MODELS = discover()
OUTSIDE = ["cfc", "ltc", "ode-rnn", "ode-lstm", "ncde", "lru"]


def _ready(name: str):
    return with_requirements(MODELS[name], name)


def _outputs(name: str, x: np.ndarray, dt: np.ndarray) -> np.ndarray:
    spec = MODELS[name]
    config, _ = spec.resolve("flipflop-2bit-ring", "smoke")
    fw = spec.frameworks[0]
    module = spec.load(fw)
    if fw == "torch":
        torch.manual_seed(0)
        model = module.build(config, x.shape[-1], 2)
        with torch.no_grad():
            return model(torch.tensor(x), torch.tensor(dt)).numpy()
    model = module.build(config, x.shape[-1], 2, key=jax.random.PRNGKey(0))
    return np.asarray(jax.vmap(model)(jnp.asarray(x), jnp.asarray(dt)))


@pytest.mark.parametrize("name", [_ready(n) for n in OUTSIDE])
def test_output_k_depends_on_inputs_up_to_k_only(name):
    """Changing the inputs after step k leaves outputs 0..k as they were; the outputs from k + 1
    on change (the model does read its input). Irregular intervals, as on vowels-irregular."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 12, 2)).astype(np.float32)
    dt = rng.uniform(0.005, 0.02, size=(3, 12)).astype(np.float32)
    later = x.copy()
    later[:, 7:] = rng.normal(size=(3, 5, 2))
    a, b = _outputs(name, x, dt), _outputs(name, later, dt)
    assert a.shape == (3, 12, 2)
    np.testing.assert_allclose(a[:, :7], b[:, :7], rtol=1e-5, atol=1e-6)
    assert np.abs(a[:, 7:] - b[:, 7:]).max() > 1e-4


def _lru_layer(N=6, H=3, tau=0.01):
    module = MODELS["lru"].load("jax")
    return module.LRU(H, N, r_min=0.5, r_max=0.95, max_phase=np.pi, tau=tau,
                      key=jax.random.PRNGKey(1))


def test_the_lru_scan_is_its_recurrence_and_its_step_is_the_papers():
    layer = _lru_layer()
    rng = np.random.default_rng(1)
    u = jnp.asarray(rng.normal(size=(9, 3)), jnp.float32)
    dt = jnp.asarray(rng.uniform(0.005, 0.03, size=9), jnp.float32)
    lam = -np.exp(np.asarray(layer.nu_log)) + 1j * np.exp(np.asarray(layer.theta_log))
    B = (np.asarray(layer.B_re) + 1j * np.asarray(layer.B_im)) * np.exp(
        np.asarray(layer.gamma_log))[:, None]
    C = np.asarray(layer.C_re) + 1j * np.asarray(layer.C_im)
    x, expected = np.zeros(6, complex), []
    for k in range(9):  # the recurrence, one step at a time, in NumPy
        x = np.exp(float(dt[k]) / 0.01 * lam) * x + B @ np.asarray(u[k])
        expected.append((C @ x).real + np.asarray(layer.D) * np.asarray(u[k]))
    np.testing.assert_allclose(np.asarray(layer(u, dt)), np.array(expected), rtol=2e-4,
                               atol=2e-5)
    # at dt = tau the decay is the paper's exp(-exp(nu) + i exp(theta)), on its init ring
    modulus = np.abs(np.exp(lam))
    assert np.all((modulus >= 0.5 - 1e-6) & (modulus <= 0.95 + 1e-6))
    assert np.all((np.angle(np.exp(lam)) % (2 * np.pi)) <= np.pi + 1e-6)
    np.testing.assert_allclose(np.exp(np.asarray(layer.gamma_log)), np.sqrt(1 - modulus**2),
                               rtol=1e-5)
