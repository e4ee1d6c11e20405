"""The two system adaptors (``bench.analysis.system_torch``, ``bench.analysis.system_jax``):
for the four baselines with the same weights, ``TorchSystem`` and ``JaxSystem`` agree on
``states``, ``field``, ``observe``, ``jacobians``, the gate and the slow-point search; a field
is one zero-input step; Jacobians match finite differences.
"""

from __future__ import annotations

import functools

import jax
import numpy as np
import pytest
import torch

from bench.analysis import attractors
from bench.analysis.system_jax import JaxSystem
from bench.analysis.system_torch import TorchSystem

pytestmark = pytest.mark.usefixtures("one_torch_thread")
COVER = {"grid_step": 0.1, "epsilon": 0.15}
I_IN, O_OUT = 2, 2
ODE = {"N": 4, "widths": [8], "tau": 0.05, "solver": "euler"}
CASES = {  # case: (model, config); smooth activations where Jacobians meet finite differences
    "gnode": ("gnode", {**ODE, "activation": "gelu"}),
    "gnode-relu": ("gnode", ODE),  # the baseline's own activation
    "node": ("node", {**ODE, "activation": "tanh"}),
    "gru": ("gru", {"N": 4}),
    "lstm": ("lstm", {"N": 4}),
}
SMOOTH = [c for c in CASES if c != "gnode-relu"]


@functools.cache
def system_pair(case):
    from bench.spec.registry import discover

    name, config = CASES[case]
    spec = discover()[name]
    torch.manual_seed(1)
    tm = spec.load("torch").build(config, I_IN, O_OUT)
    if name in ("gru", "lstm"):
        with torch.no_grad():  # weights large enough for non-trivial dynamics
            for p in tm.parameters():
                p.mul_(2.0)
    jmod = spec.load("jax")
    jm = jmod.build(config, I_IN, O_OUT, key=jax.random.PRNGKey(0))
    state = {k: v.detach().numpy() for k, v in tm.state_dict().items()}
    jm = jmod.load_torch_state(jm, state)
    return TorchSystem(tm, 0.01), JaxSystem(jm, 0.01)


def parity_inputs(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(3, 12, I_IN)).astype(np.float32)
    x[:, 6:] = 0  # zero input at the end, as on the drift probes
    return x, np.full((3, 12), 0.01, np.float32)


@pytest.mark.slow
@pytest.mark.parametrize("name", CASES)
def test_systems_agree_on_states_field_observe_jacobians(name):
    ts, js = system_pair(name)
    assert ts.discrete == js.discrete == (name in ("gru", "lstm"))
    x, dt = parity_inputs()
    st, sj = ts.states(x, dt), js.states(x, dt)
    D = 8 if name == "lstm" else 4
    assert st.shape == sj.shape == (3, 12, D)
    np.testing.assert_allclose(sj, st, atol=1e-5)
    h = st.reshape(-1, D)
    f = ts.field(h)
    np.testing.assert_allclose(js.field(h), f, atol=1e-5)
    assert np.abs(f).max() > 1e-3  # a non-trivial field
    np.testing.assert_allclose(js.observe(h), ts.observe(h), atol=1e-5)
    J = ts.jacobians(h)
    assert J.shape == (len(h), D, D)
    np.testing.assert_allclose(js.jacobians(h), J, atol=1e-5)


@pytest.mark.parametrize("name", CASES)
def test_field_is_the_zero_input_step(name):
    """A flow's field is dt * dh/dt, a map's f(h) - h; both match one zero-input step of the
    model's own ``states`` (from its initial state, for the first bin)."""
    ts, js = system_pair(name)
    x = np.zeros((1, 2, I_IN), np.float32)
    dt = np.full((1, 2), 0.01, np.float32)
    for s in (ts, js):
        h = s.states(x, dt)[0]  # h_1, h_2 under zero input
        np.testing.assert_allclose(h[1] - h[0], s.field(h[:1])[0], atol=1e-6)


@pytest.mark.parametrize("name", SMOOTH)
def test_jacobians_match_finite_differences(name):
    ts, _ = system_pair(name)
    x, dt = parity_inputs(1)
    h = ts.states(x, dt)[:, -1].astype(np.float64)
    J = ts.jacobians(h)
    eps = 1e-2
    for i in range(h.shape[1]):
        e = np.zeros(h.shape[1])
        e[i] = eps
        fd = (ts.field(h + e).astype(np.float64) - ts.field(h - e)) / (2 * eps)
        np.testing.assert_allclose(J[:, :, i], fd, atol=2e-4)


@pytest.mark.slow
@pytest.mark.parametrize("name", CASES)
def test_systems_agree_on_the_slow_point_search(name):
    ts, js = system_pair(name)
    x, dt = parity_inputs(2)
    h0 = ts.states(x, dt).reshape(-1, ts.states(x, dt).shape[-1])[::3]
    q0 = 0.5 * np.sum(ts.field(h0) ** 2, -1)
    ht, qt = ts.minimise(h0, 300, 1e-2)
    hj, qj = js.minimise(h0, 300, 1e-2)
    assert np.all(qt < q0) and np.median(qt) < 0.5 * np.median(q0)
    np.testing.assert_allclose(hj, ht, atol=2e-3)
    np.testing.assert_allclose(qj, qt, atol=1e-6, rtol=0.1)
    # and the analysis reports the same slow points
    probe = {"inputs": x, "dt": dt}
    box = {"kind": "box", "low": [-1.0, -1.0], "high": [1.0, 1.0]}
    settings = attractors.Settings(initial=24, steps=1500)
    rt, _ = attractors.analyse(ts, [probe], box, COVER, settings)
    rj, _ = attractors.analyse(js, [probe], box, COVER, settings)
    assert rt["kind"] == rj["kind"] == ("map" if ts.discrete else "flow")
    assert rt["n_slow_points"] == rj["n_slow_points"] >= 1
    assert rt["n_slow_states"] == rj["n_slow_states"]
    assert rt["stability"] == rj["stability"]
    assert rt["coverage"] == pytest.approx(rj["coverage"])
    for a, b in zip(rt["points"], rj["points"]):
        np.testing.assert_allclose(a["state"], b["state"], atol=2e-3)
        assert a["stability"] == b["stability"]


@pytest.mark.parametrize("framework", ["torch", "jax"])
def test_gate_values_are_the_gate_at_zero_input(framework):
    """G(h) = sigmoid(W h + b) at zero input, for the gnODE; none for the nODE."""
    from bench.spec.registry import discover

    spec = discover()
    ts, js = system_pair("gnode")
    system = ts if framework == "torch" else js
    h = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
    W = ts.model.gate.W.weight.detach().numpy()
    b = ts.model.gate.W.bias.detach().numpy()
    np.testing.assert_allclose(system.gate(h), 1 / (1 + np.exp(-(h @ W.T + b))), atol=1e-6)
    torch.manual_seed(0)
    node = spec["node"].load("torch").build(ODE, I_IN, O_OUT)
    assert TorchSystem(node, 0.01).gate(h) is None
    jnode = spec["node"].load("jax").build(ODE, I_IN, O_OUT, key=jax.random.PRNGKey(0))
    assert JaxSystem(jnode, 0.01).gate(h) is None
