"""The (gated) neural ODE building blocks, ``bench.models.ode_torch`` and ``bench.models.ode_jax``.

- known solutions: with F's output layer zeroed and its bias b, F == b and the nODE is
  tau dh/dt = b - h, so h(t) = b + (h0 - b) exp(-t / tau); with the gate's weights zeroed,
  G == sigmoid(g) and the gnODE decays at rate sigmoid(g) / tau. Fixed-step solvers are also
  checked against their exact discrete solutions (the stability polynomials);
- torch/JAX parity for every solver both frameworks have, with a different dt per sequence;
- adaptive solutions against a fine fixed-step RK4 reference in the same framework.
"""

from __future__ import annotations

import functools
import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from bench.models import ode_jax, ode_torch

ADAPTIVE = ("dopri5", "bosh3", "tsit5")
TIGHT = {"rtol": 1e-7, "atol": 1e-7}
# float32 round-off over many small steps: what an adaptive solve at TIGHT reaches
ADAPTIVE_ATOL = {"dopri5": 1e-5, "tsit5": 1e-5, "bosh3": 1e-4}


def random_inputs(B=3, T=6, I=2, seed=0, lo=0.005, hi=0.02):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(B, T, I)).astype(np.float32)
    dt = rng.uniform(lo, hi, size=(B, T)).astype(np.float32)  # a different dt per sequence
    return x, dt


@functools.cache
def spec(gated):
    from bench.spec.registry import discover

    return discover()["gnode" if gated else "node"]


def build_torch(gated, I, O, config):
    return spec(gated).load("torch").build(config, I, O)


def build_jax(gated, I, O, config, seed=0):
    return spec(gated).load("jax").build(config, I, O, key=jax.random.PRNGKey(seed))


def pair(gated, I=2, O=2, seed=0, **kw):
    """The gnode/node baseline (built through the registry) in torch, and in JAX with the
    torch weights copied in by the JAX module's ``load_torch_state``."""
    config = {"N": 8, "widths": [16, 16], "tau": 0.01, **kw}
    torch.manual_seed(seed)
    tm = build_torch(gated, I, O, config)
    if kw.get("h0", "learned") == "learned":
        with torch.no_grad():
            tm.h0.normal_(0, 0.5)  # a non-zero initial state, so h0 is exercised too
    jm = build_jax(gated, I, O, config, seed)
    state = {k: v.detach().numpy() for k, v in tm.state_dict().items()}
    return tm, spec(gated).load("jax").load_torch_state(jm, state)


def run_torch(tm, x, dt):
    with torch.no_grad():
        return tm(torch.from_numpy(x), torch.from_numpy(dt)).numpy()


def run_jax(jm, x, dt):
    return np.asarray(jax.vmap(jm)(jnp.asarray(x), jnp.asarray(dt)))


# -- torch/JAX parity ------------------------------------------------------------------------

@pytest.mark.parametrize("gated", [True, False], ids=["gnode", "node"])
@pytest.mark.parametrize("solver,kw", [("euler", {}), ("rk4", {"steps_per_interval": 2})])
def test_fixed_step_parity_with_random_dt(gated, solver, kw):
    x, dt = random_inputs()
    tm, jm = pair(gated, solver=solver, **kw)
    yt, yj = run_torch(tm, x, dt), run_jax(jm, x, dt)
    np.testing.assert_allclose(yj, yt, atol=1e-5, rtol=0)
    # dt matters: the same model with one shared dt gives clearly different outputs
    assert np.abs(run_torch(tm, x, np.full_like(dt, 0.01)) - yt).max() > 1e-3


@pytest.mark.slow
@pytest.mark.parametrize("gated", [True, False], ids=["gnode", "node"])
@pytest.mark.parametrize("solver", ADAPTIVE)
def test_adaptive_parity_and_fine_rk4_reference(gated, solver):
    x, dt = random_inputs(seed=1)
    tm, jm = pair(gated, solver=solver, **TIGHT)
    yt, yj = run_torch(tm, x, dt), run_jax(jm, x, dt)
    # the step-size controllers differ between torchdiffeq and diffrax: looser tolerance
    np.testing.assert_allclose(yj, yt, atol=1e-3, rtol=0)
    # each against a fine fixed-step RK4 solution of the same model in its own framework
    rt, rj = pair(gated, solver="rk4", steps_per_interval=50)
    np.testing.assert_allclose(yt, run_torch(rt, x, dt), atol=1e-4, rtol=0)
    np.testing.assert_allclose(yj, run_jax(rj, x, dt), atol=1e-4, rtol=0)


@pytest.mark.parametrize("gated", [True, False], ids=["gnode", "node"])
def test_unknown_torch_solver_says_which_solvers_exist(gated):
    with pytest.raises(ValueError) as e:
        build_torch(gated, 2, 2, {"N": 4, "widths": [8], "solver": "midpoint"})
    msg = str(e.value)
    assert "midpoint" in msg
    for name in ("euler", "rk4", "dopri5", "bosh3", "tsit5"):
        assert name in msg


def test_unknown_solver_rejected_in_jax():
    with pytest.raises(ValueError, match="euler"):
        build_jax(True, 2, 2, {"N": 4, "widths": [8], "solver": "midpoint"})


def test_jax_tsit5_matches_torch_dopri5():
    x, dt = random_inputs(seed=2)
    tm, _ = pair(True, solver="dopri5", **TIGHT)
    jm = build_jax(True, 2, 2, {"N": 8, "widths": [16, 16], "tau": 0.01, "solver": "tsit5",
                                **TIGHT})
    jm = spec(True).load("jax").load_torch_state(
        jm, {k: v.detach().numpy() for k, v in tm.state_dict().items()})
    np.testing.assert_allclose(run_jax(jm, x, dt), run_torch(tm, x, dt), atol=1e-3, rtol=0)


def test_torch_adaptive_batch_elements_are_independent():
    """One shared solver grid for a batch with different dt's must not couple the sequences."""
    x, dt = random_inputs(B=4, seed=3)
    tm, _ = pair(True, solver="dopri5", **TIGHT)
    together = run_torch(tm, x, dt)
    for b in range(4):
        alone = run_torch(tm, x[b : b + 1], dt[b : b + 1])
        # equal up to the solver tolerance (the shared grid takes different steps)
        np.testing.assert_allclose(together[b : b + 1], alone, atol=1e-4, rtol=0)


# -- known solutions -------------------------------------------------------------------------

N3, B_CONST, H0 = 3, np.array([0.5, -1.0, 2.0], np.float32), np.array([1.0, 0.5, -1.0], np.float32)
GATE_BIAS = np.array([-1.0, 0.0, 2.0], np.float32)
TAU = 0.01


def constant_field_torch(gated, **kw):
    """F == B_CONST, G == sigmoid(GATE_BIAS), readout = identity, h(0) = H0."""
    torch.manual_seed(0)
    m = build_torch(gated, 2, N3, {"N": N3, "widths": [5], "tau": TAU, **kw})
    with torch.no_grad():
        m.F.out.weight.zero_()
        m.F.out.bias.copy_(torch.from_numpy(B_CONST))
        if gated:
            m.gate.W.weight.zero_()
            m.gate.U.weight.zero_()
            m.gate.W.bias.copy_(torch.from_numpy(GATE_BIAS))
        m.readout.weight.copy_(torch.eye(N3))
        m.readout.bias.zero_()
        m.h0.copy_(torch.from_numpy(H0))
    return m


def constant_field_jax(gated, **kw):
    m = build_jax(gated, 2, N3, {"N": N3, "widths": [5], "tau": TAU, **kw})
    m = eqx.tree_at(lambda m: (m.F.out.weight, m.F.out.bias, m.readout.weight, m.readout.bias,
                               m.h0), m,
                    (jnp.zeros((N3, 5)), jnp.asarray(B_CONST), jnp.eye(N3), jnp.zeros(N3),
                     jnp.asarray(H0)))
    if gated:
        m = eqx.tree_at(lambda m: (m.gate.W.weight, m.gate.U.weight, m.gate.W.bias), m,
                        (jnp.zeros((N3, N3)), jnp.zeros((N3, 2)), jnp.asarray(GATE_BIAS)))
    return m


def rates(gated):
    """Decay rate of each unit: 1/tau, times the constant gate for the gnODE."""
    g = 1.0 / (1.0 + np.exp(-GATE_BIAS.astype(np.float64))) if gated else np.ones(N3)
    return g / TAU


def analytic(gated, dt):
    t = np.cumsum(dt.astype(np.float64), axis=1)[..., None]  # (B, T, 1): time at each output
    return B_CONST + (H0 - B_CONST) * np.exp(-rates(gated) * t)


def discrete(gated, dt, steps, stability):
    """The fixed-step solution: per step the deviation from b is multiplied by R(-rate*h)."""
    z = -rates(gated) * (dt.astype(np.float64)[..., None] / steps)  # (B, T, N)
    factor = np.cumprod(stability(z) ** steps, axis=1)
    return B_CONST + (H0 - B_CONST) * factor


def euler_r(z):
    return 1 + z


def rk4_r(z):
    return 1 + z + z**2 / 2 + z**3 / 6 + z**4 / 24


@pytest.mark.parametrize("gated", [True, False], ids=["gnode", "node"])
def test_known_solution_torch(gated):
    x, dt = random_inputs(T=6, I=2, seed=4, lo=0.002, hi=0.01)
    # Euler and RK4 reproduce their own discrete solutions to float32 round-off
    for solver, steps, r in (("euler", 1, euler_r), ("euler", 3, euler_r), ("rk4", 2, rk4_r)):
        m = constant_field_torch(gated, solver=solver, steps_per_interval=steps)
        np.testing.assert_allclose(run_torch(m, x, dt), discrete(gated, dt, steps, r),
                                   atol=2e-6, rtol=0, err_msg=f"{solver} x{steps}")
    exact = analytic(gated, dt)
    # Euler with many steps converges to the exponential (global error O(1/steps))
    m = constant_field_torch(gated, solver="euler", steps_per_interval=1000)
    np.testing.assert_allclose(run_torch(m, x, dt), exact, atol=1e-3, rtol=0)
    m = constant_field_torch(gated, solver="euler", steps_per_interval=1)
    assert np.abs(run_torch(m, x, dt) - exact).max() > 1e-2  # the check above can fail
    for solver in ADAPTIVE:
        m = constant_field_torch(gated, solver=solver, **TIGHT)
        np.testing.assert_allclose(run_torch(m, x, dt), exact, atol=ADAPTIVE_ATOL[solver],
                                   rtol=0, err_msg=solver)


@pytest.mark.slow
@pytest.mark.parametrize("gated", [True, False], ids=["gnode", "node"])
def test_known_solution_jax(gated):
    x, dt = random_inputs(T=6, I=2, seed=4, lo=0.002, hi=0.01)
    for solver, steps, r in (("euler", 1, euler_r), ("euler", 3, euler_r), ("rk4", 2, rk4_r)):
        m = constant_field_jax(gated, solver=solver, steps_per_interval=steps)
        np.testing.assert_allclose(run_jax(m, x, dt), discrete(gated, dt, steps, r),
                                   atol=2e-6, rtol=0, err_msg=f"{solver} x{steps}")
    exact = analytic(gated, dt)
    for solver in ADAPTIVE:
        m = constant_field_jax(gated, solver=solver, **TIGHT)
        np.testing.assert_allclose(run_jax(m, x, dt), exact, atol=ADAPTIVE_ATOL[solver],
                                   rtol=0, err_msg=solver)


def test_zero_length_interval_keeps_the_state():
    x, dt = random_inputs(seed=5)
    dt[:, 3] = 0.0
    for solver in ("euler", "rk4"):
        tm, jm = pair(True, solver=solver)
        yt, yj = run_torch(tm, x, dt), run_jax(jm, x, dt)
        np.testing.assert_array_equal(yt[:, 3], yt[:, 2])
        np.testing.assert_allclose(yj[:, 3], yj[:, 2], atol=1e-7)


def test_only_dt_over_tau_matters():
    """Scaling tau and every dt by the same factor leaves the solution unchanged."""
    x, dt = random_inputs(seed=6)
    for solver, kw in (("euler", {}), ("dopri5", TIGHT)):
        a, _ = pair(True, solver=solver, tau=0.01, **kw)
        b, _ = pair(True, solver=solver, tau=0.04, **kw)
        np.testing.assert_allclose(run_torch(b, x, 4 * dt), run_torch(a, x, dt), atol=2e-5)


# -- bookkeeping and configuration -----------------------------------------------------------

def test_fixed_step_function_evaluation_counts():
    x, dt = random_inputs(T=5)
    for solver, steps, per_step in (("euler", 3, 1), ("rk4", 2, 4)):
        tm, jm = pair(False, solver=solver, steps_per_interval=steps)
        run_torch(tm, x, dt)
        assert tm.nfe_forward == 5 * steps * per_step
        _, stats = jm(jnp.asarray(x[0]), jnp.asarray(dt[0]), return_stats=True)
        assert int(stats["nfe_forward"]) == 5 * steps * per_step


def test_adaptive_counts_backward_evaluations():
    x, dt = random_inputs(T=4)
    tm, jm = pair(True, solver="dopri5")
    out = tm(torch.from_numpy(x), torch.from_numpy(dt))
    assert tm.nfe_forward >= 4 * 6  # at least one 6-stage step per interval
    out.sum().backward()
    assert tm.nfe_backward > 0
    _, stats = jm(jnp.asarray(x[0]), jnp.asarray(dt[0]), return_stats=True)
    assert int(stats["nfe_forward"]) >= 4 * 6 and jm.reports_nfe


def test_flow_without_linear_output_is_one_tanh_layer():
    torch.manual_seed(0)
    f = ode_torch.FlowMLP(4, 2, [4], "tanh", linear_output=False)
    h, ux = torch.randn(5, 4), torch.randn(5, 4)
    expected = torch.tanh(h @ f.W0.weight.T + f.W0.bias + ux)
    torch.testing.assert_close(f(h, ux), expected)
    with pytest.raises(ValueError, match="last width"):
        ode_torch.FlowMLP(4, 2, [5], "tanh", linear_output=False)
    with pytest.raises(ValueError, match="hidden layer"):
        ode_torch.FlowMLP(4, 2, [], "relu")
    with pytest.raises(ValueError, match="last width"):
        ode_jax.FlowMLP(4, 2, [5], "tanh", False, key=jax.random.PRNGKey(0))


@pytest.mark.parametrize("activation", ["relu", "tanh", "gelu", "silu"])
def test_activations_agree_across_frameworks(activation):
    x, dt = random_inputs(seed=7)
    tm, jm = pair(False, activation=activation)
    np.testing.assert_allclose(run_jax(jm, x, dt), run_torch(tm, x, dt), atol=1e-5, rtol=0)


@pytest.mark.slow
def test_fixed_h0_gets_no_gradient():
    x, dt = random_inputs(seed=8)
    torch.manual_seed(0)
    tm = ode_torch.ODERNN(2, 2, N=4, widths=[8], h0="zeros")
    assert not tm.h0.requires_grad
    assert "h0" not in {n for n, p in tm.named_parameters() if p.requires_grad}
    jm = ode_jax.ODERNN(2, 2, N=4, widths=[8], h0="zeros", key=jax.random.PRNGKey(0))
    assert jm.h0 is None  # not a parameter at all, so it is not counted or optimised
    n_jax = sum(a.size for a in jax.tree_util.tree_leaves(eqx.filter(jm, eqx.is_inexact_array)))
    assert n_jax == sum(p.numel() for p in tm.parameters() if p.requires_grad)
    jm = ode_jax.load_state(jm, {k: v.detach().numpy() for k, v in tm.state_dict().items()})
    np.testing.assert_allclose(run_jax(jm, x, dt), run_torch(tm, x, dt), atol=1e-5, rtol=0)
    learned = ode_jax.ODERNN(2, 2, N=4, widths=[8], key=jax.random.PRNGKey(0))
    g = eqx.filter_grad(lambda m: jnp.sum(jax.vmap(m)(jnp.asarray(x), jnp.asarray(dt)) ** 2))(
        learned)
    assert float(jnp.abs(g.h0).max()) > 0.0


@pytest.mark.parametrize("gated", [True, False], ids=["gnode", "node"])
def test_h0_from_first_input_is_that_affine_map_in_both_frameworks(gated):
    """h0 = A x_0 + b: the state before the first step depends on x_0 alone, through A and b,
    and both frameworks compute the same outputs (the torch weights copied into JAX)."""
    x, dt = random_inputs(seed=9)
    tm, jm = pair(gated, h0="first-input")
    np.testing.assert_allclose(run_jax(jm, x, dt), run_torch(tm, x, dt), atol=1e-5, rtol=0)
    with torch.no_grad():
        A, b = tm.h0_map.weight.numpy(), tm.h0_map.bias.numpy()
        h0 = tm.initial_state(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(h0, x[:, 0] @ A.T + b, atol=1e-6)
    later = x.copy()
    later[:, 1:] = 0.0  # only the first input sets h0
    with torch.no_grad():
        same = tm.initial_state(torch.from_numpy(later)).numpy()
    np.testing.assert_array_equal(same, h0)
    names = {n for n, p in tm.named_parameters() if p.requires_grad}
    assert {"h0_map.weight", "h0_map.bias"} <= names and "h0" not in names
    with pytest.raises(ValueError, match="first-input"):
        ode_torch.ODERNN(2, 2, N=4, widths=[8], h0="random")
    with pytest.raises(ValueError, match="first-input"):
        ode_jax.ODERNN(2, 2, N=4, widths=[8], h0="random", key=jax.random.PRNGKey(0))


def test_load_state_rejects_shape_mismatch():
    torch.manual_seed(0)
    tm = ode_torch.ODERNN(2, 2, N=4, widths=[8])
    jm = ode_jax.ODERNN(2, 2, N=5, widths=[8], key=jax.random.PRNGKey(0))
    with pytest.raises(ValueError, match="shape"):
        ode_jax.load_state(jm, {k: v.detach().numpy() for k, v in tm.state_dict().items()})


@pytest.mark.slow
def test_glorot_initialisation_statistics():
    """Weights ~ U(+-sqrt(6/(fan_in+fan_out))), biases ~ N(0, 1e-3^2), h0 = 0."""
    torch.manual_seed(0)
    tm = ode_torch.ODERNN(3, 2, N=64, widths=[128])
    w = tm.F.W0.weight.detach().numpy()
    limit = math.sqrt(6 / (64 + 128))
    assert np.abs(w).max() <= limit
    assert w.var() == pytest.approx(limit**2 / 3, rel=0.1)
    assert np.abs(tm.F.W0.bias.detach().numpy()).max() < 1e-2
    assert not tm.h0.detach().numpy().any()
    jm = ode_jax.ODERNN(3, 2, N=64, widths=[128], key=jax.random.PRNGKey(0))
    wj = np.asarray(jm.F.W0.weight)
    assert np.abs(wj).max() <= limit
    assert wj.var() == pytest.approx(limit**2 / 3, rel=0.1)
    assert np.abs(np.asarray(jm.F.W0.bias)).max() < 1e-2
