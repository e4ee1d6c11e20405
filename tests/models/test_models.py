"""The baselines built through the registry: parameter counts by hand, gradients on every
parameter, and torch/JAX parity. The contract's own checks (shapes, finite gradients, seeding,
hooks) run on every registered model through the checker (``tests/tools/test_checker.py``).

Parity: the PyTorch weights are copied into the JAX model with the JAX module's
``load_torch_state`` hook; both must then compute the same function (float32 round-off only).
Solver-specific parity and known solutions of the ODE models are in ``test_ode.py``.
"""

from __future__ import annotations

import itertools

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from conftest import BASELINES

B, T, I, O = 3, 7, 3, 2
ATOL = 1e-5


def smoke_config(models, name):
    config, _ = models[name].resolve("flipflop-3bit", "smoke")
    return config


def inputs(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(B, T, I)).astype(np.float32)
    dt = rng.uniform(0.005, 0.02, size=(B, T)).astype(np.float32)
    y = rng.normal(size=(B, T, O)).astype(np.float32)
    return x, dt, y


def build_pair(models, name, config, seed=0):
    spec = models[name]
    torch.manual_seed(seed)
    tm = spec.load("torch").build(config, I, O)
    jmod = spec.load("jax")
    jm = jmod.build(config, I, O, key=jax.random.PRNGKey(seed))
    return tm, jm, jmod


def torch_state(tm):
    return {k: v.detach().numpy() for k, v in tm.state_dict().items()}


def expected_torch_params(name, config):
    """Trainable parameter count from the architecture, by hand."""
    N = config["N"]
    if name in ("gru", "lstm"):
        gates = 3 if name == "gru" else 4
        return gates * N * (I + N) + 2 * gates * N + N * O + O
    if name in ("mgru", "rnn"):  # F = tanh(W h + U x + b): one layer of width N, no F.out
        n = N * N + N + I * N
    else:
        widths = list(config["widths"])
        n = N * widths[0] + widths[0] + I * widths[0]  # F.W0 (with bias), F.U (no bias)
        n += sum(a * b + b for a, b in itertools.pairwise(widths))  # hidden layers
        n += widths[-1] * N + N  # F.out
    if name in ("gnode", "mgru"):
        n += N * N + N + I * N  # gate.W (with bias), gate.U (no bias)
    n += N * O + O + N  # readout, learned h0
    return n


@pytest.mark.parametrize("name", BASELINES)
def test_baselines_are_registered_for_both_frameworks(models, name):
    assert name in models
    assert models[name].kind == "baseline"
    assert set(models[name].frameworks) == {"torch", "jax"}


@pytest.mark.parametrize("name", BASELINES)
def test_torch_output_shape_and_param_count(models, name):
    config = smoke_config(models, name)
    x, dt, _ = inputs()
    torch.manual_seed(0)
    tm = models[name].load("torch").build(config, I, O)
    out = tm(torch.from_numpy(x), torch.from_numpy(dt))
    assert tuple(out.shape) == (B, T, O)
    assert out.dtype == torch.float32
    assert torch.isfinite(out).all()
    n = sum(p.numel() for p in tm.parameters() if p.requires_grad)
    assert n == expected_torch_params(name, config)


@pytest.mark.slow
@pytest.mark.parametrize("name", BASELINES)
def test_jax_output_shape_per_sequence_and_vmapped(models, name):
    config = smoke_config(models, name)
    x, dt, _ = inputs()
    jm = models[name].load("jax").build(config, I, O, key=jax.random.PRNGKey(0))
    single = jm(jnp.asarray(x[0]), jnp.asarray(dt[0]))
    assert single.shape == (T, O)
    batched = jax.vmap(jm)(jnp.asarray(x), jnp.asarray(dt))
    assert batched.shape == (B, T, O)
    assert bool(jnp.all(jnp.isfinite(batched)))
    # vmap is a batch of independent sequences: row 0 equals the single-sequence call
    np.testing.assert_allclose(np.asarray(batched[0]), np.asarray(single), atol=ATOL)


@pytest.mark.parametrize("name", BASELINES)
def test_torch_gradients_reach_every_trainable_parameter(models, name):
    config = smoke_config(models, name)
    x, dt, y = inputs()
    torch.manual_seed(0)
    tm = models[name].load("torch").build(config, I, O)
    loss = torch.mean((tm(torch.from_numpy(x), torch.from_numpy(dt)) - torch.from_numpy(y)) ** 2)
    loss.backward()
    trainable = [(n, p) for n, p in tm.named_parameters() if p.requires_grad]
    assert trainable
    for pname, p in trainable:
        assert p.grad is not None, f"{pname} gets no gradient"
        assert torch.isfinite(p.grad).all(), pname
        assert p.grad.abs().max() > 0, f"{pname} has an all-zero gradient"


@pytest.mark.parametrize("name", BASELINES)
def test_torch_jax_parity_with_copied_weights(models, name):
    config = smoke_config(models, name)
    x, dt, _ = inputs(seed=1)
    tm, jm, jmod = build_pair(models, name, config)
    yt = tm(torch.from_numpy(x), torch.from_numpy(dt)).detach().numpy()
    before = np.asarray(jax.vmap(jm)(jnp.asarray(x), jnp.asarray(dt)))
    # the two frameworks initialise differently: parity is not a coincidence of the init
    assert np.abs(before - yt).max() > 1e-3
    jm = jmod.load_torch_state(jm, torch_state(tm))
    yj = np.asarray(jax.vmap(jm)(jnp.asarray(x), jnp.asarray(dt)))
    np.testing.assert_allclose(yj, yt, atol=ATOL, rtol=0)
    assert np.abs(yt).max() > 1e-2  # a non-trivial output


@pytest.mark.parametrize("name", BASELINES)
def test_torch_jax_gradient_parity_on_readout(models, name):
    """Same weights -> same loss and the same gradient of the (shared-layout) readout."""
    config = smoke_config(models, name)
    x, dt, y = inputs(seed=2)
    tm, jm, jmod = build_pair(models, name, config)
    jm = jmod.load_torch_state(jm, torch_state(tm))
    loss_t = torch.mean((tm(torch.from_numpy(x), torch.from_numpy(dt)) - torch.from_numpy(y)) ** 2)
    loss_t.backward()

    def loss_fn(model):
        return jnp.mean((jax.vmap(model)(jnp.asarray(x), jnp.asarray(dt)) - y) ** 2)

    loss_j, g = eqx.filter_value_and_grad(loss_fn)(jm)
    assert float(loss_j) == pytest.approx(loss_t.item(), rel=1e-5)
    np.testing.assert_allclose(np.asarray(g.readout.weight), tm.readout.weight.grad.numpy(),
                               atol=1e-5, rtol=1e-4)
    np.testing.assert_allclose(np.asarray(g.readout.bias), tm.readout.bias.grad.numpy(),
                               atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("name", ["gru", "lstm"])
def test_discrete_rnns_ignore_dt(models, name):
    """GRU/LSTM are discrete: the sampling interval must not change the output."""
    config = smoke_config(models, name)
    x, dt, _ = inputs()
    tm, jm, _ = build_pair(models, name, config)
    a = tm(torch.from_numpy(x), torch.from_numpy(dt))
    b = tm(torch.from_numpy(x), torch.from_numpy(3 * dt))
    assert torch.equal(a, b)
    ja = jm(jnp.asarray(x[0]), jnp.asarray(dt[0]))
    jb = jm(jnp.asarray(x[0]), jnp.asarray(3 * dt[0]))
    np.testing.assert_array_equal(np.asarray(ja), np.asarray(jb))


@pytest.mark.parametrize("name", ["gnode", "node"])
def test_ode_jax_param_count_matches_torch_architecture(models, name):
    config = smoke_config(models, name)
    jm = models[name].load("jax").build(config, I, O, key=jax.random.PRNGKey(0))
    n = sum(x.size for x in jax.tree_util.tree_leaves(eqx.filter(jm, eqx.is_inexact_array)))
    assert n == expected_torch_params(name, config)


@pytest.mark.parametrize("name", BASELINES)
def test_outputs_are_causal(models, name):
    """Changing the input at step k must leave every output before k unchanged."""
    config = smoke_config(models, name)
    x, dt, _ = inputs()
    tm, _, _ = build_pair(models, name, config)
    x2 = x.copy()
    x2[:, 4] += 1.0
    a = tm(torch.from_numpy(x), torch.from_numpy(dt)).detach().numpy()
    b = tm(torch.from_numpy(x2), torch.from_numpy(dt)).detach().numpy()
    np.testing.assert_array_equal(a[:, :4], b[:, :4])
    assert np.abs(a[:, 4:] - b[:, 4:]).max() > 1e-4


@pytest.mark.parametrize("name,gated", [("mgru", True), ("rnn", False)])
def test_one_layer_tanh_models_are_the_papers_maps(models, name, gated):
    """With Euler at dt/tau = 1: mGRU h' = (1 - z) h + z tanh(W h + U x + b), z = sigmoid(...);
    RNN h' = tanh(W h + U x + b). Checked against those formulas with the module's weights."""
    config = {**smoke_config(models, name), "tau": 0.01}
    tm = models[name].load("torch").build(config, I, O)
    x, _, _ = inputs()
    dt = np.full((B, T), 0.01, np.float32)
    with torch.no_grad():
        got = tm.states(torch.as_tensor(x), torch.as_tensor(dt)).numpy()
    sd = torch_state(tm)
    h = np.broadcast_to(sd["h0"], (B, sd["h0"].shape[0])).astype(np.float64)
    for k in range(T):
        cand = np.tanh(h @ sd["F.W0.weight"].T + sd["F.W0.bias"] + x[:, k] @ sd["F.U.weight"].T)
        if gated:
            z = 1 / (1 + np.exp(-(h @ sd["gate.W.weight"].T + sd["gate.W.bias"]
                                  + x[:, k] @ sd["gate.U.weight"].T)))
            h = (1 - z) * h + z * cand
        else:
            h = cand
        np.testing.assert_allclose(got[:, k], h, rtol=1e-4, atol=1e-5)
