"""JAX (equinox + diffrax) building blocks for (gated) neural ODE recurrent models.

The same models and the same time convention as ``bench.models.ode_torch``; parameter names match
the PyTorch modules one for one (``F.W0.weight``, ``gate.U.weight``, ``readout.bias``, ``h0``), so
weights can be copied across with :func:`load_state`.

Modules here act on one sequence: ``model(x, dt)`` with ``x`` of shape (T, I) and ``dt`` of
shape (T,); the harness ``vmap``s over the batch.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import partial

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from bench.models import backprop_modes, impl, ode_jax_fast

ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "relu": jax.nn.relu,
    "tanh": jnp.tanh,
    "gelu": partial(jax.nn.gelu, approximate=False),  # torch.nn.GELU's default is exact
    "silu": jax.nn.silu,
}
FIXED_SOLVERS = ("euler", "rk4")
ADAPTIVE_SOLVERS = {"dopri5": diffrax.Dopri5, "bosh3": diffrax.Bosh3, "tsit5": diffrax.Tsit5}
# New vector-field evaluations per diffrax step (FSAL pairs reuse their last stage).
STAGES_PER_STEP = {"dopri5": 6, "bosh3": 3, "tsit5": 6}
H0_MODES = ("learned", "zeros", "first-input")  # as bench.models.ode_torch.H0_MODES


def linear(n_in: int, n_out: int, key: jax.Array, *, bias: bool = True) -> eqx.nn.Linear:
    """A Linear layer with the paper's init: Glorot-uniform weights, biases ~ N(0, 1e-6)."""
    kw, kb = jax.random.split(key)
    layer = eqx.nn.Linear(n_in, n_out, use_bias=bias, key=kw)
    w = jax.nn.initializers.glorot_uniform()(kw, (n_out, n_in))
    layer = eqx.tree_at(lambda m: m.weight, layer, w)
    if bias:
        layer = eqx.tree_at(lambda m: m.bias, layer, 1e-3 * jax.random.normal(kb, (n_out,)))
    return layer


class FlowMLP(eqx.Module):
    """F(h, x): the input enters the first layer only; see ``bench.models.ode_torch.FlowMLP``."""

    W0: eqx.nn.Linear
    U: eqx.nn.Linear
    layers: list[eqx.nn.Linear]
    out: eqx.nn.Linear | None
    activation: str = eqx.field(static=True)

    def __init__(self, n_hidden, n_inputs, widths: Sequence[int], activation, linear_output,
                 *, key):
        if not widths:
            raise ValueError("F needs at least one hidden layer (widths is empty)")
        if not linear_output and widths[-1] != n_hidden:
            raise ValueError("without a linear output layer the last width must equal N")
        keys = jax.random.split(key, len(widths) + 2)
        self.W0 = linear(n_hidden, widths[0], keys[0])
        self.U = linear(n_inputs, widths[0], keys[1], bias=False)
        self.layers = [linear(a, b, k) for a, b, k in zip(widths[:-1], widths[1:], keys[2:])]
        self.out = linear(widths[-1], n_hidden, keys[-1]) if linear_output else None
        self.activation = activation

    @property
    def act(self) -> Callable[[jax.Array], jax.Array]:
        return ACTIVATIONS[self.activation]

    def __call__(self, h, ux):
        act = self.act
        s = act(self.W0(h) + ux)
        for layer in self.layers:
            s = act(layer(s))
        return s if self.out is None else self.out(s)


class Gate(eqx.Module):
    """G(h, x) = sigmoid(W h + U x + b)."""

    W: eqx.nn.Linear
    U: eqx.nn.Linear

    def __init__(self, n_hidden, n_inputs, *, key):
        k1, k2 = jax.random.split(key)
        self.W = linear(n_hidden, n_hidden, k1)
        self.U = linear(n_inputs, n_hidden, k2, bias=False)

    def __call__(self, h, ux):
        return jax.nn.sigmoid(self.W(h) + ux)


class ODERNN(eqx.Module):
    """A (gated) neural ODE driven by a piecewise-constant input, with a linear readout."""

    F: FlowMLP
    gate: Gate | None
    readout: eqx.nn.Linear
    h0: jax.Array | None  # None: fixed at zero (``h0: zeros``), so not a parameter
    h0_map: eqx.nn.Linear | None  # ``h0: first-input``: h0 = A x_0 + b
    tau: float = eqx.field(static=True)
    solver: str = eqx.field(static=True)
    steps: int = eqx.field(static=True)
    rtol: float = eqx.field(static=True)
    atol: float = eqx.field(static=True)
    max_steps: int = eqx.field(static=True)
    backprop: str = eqx.field(static=True)
    n_hidden: int = eqx.field(static=True)
    reports_nfe: bool = eqx.field(static=True)

    def __init__(self, n_inputs, n_outputs, *, N, widths, activation="relu", gated=True,
                 linear_output=True, tau=1.0, solver="euler", steps_per_interval=1, rtol=1e-6,
                 atol=1e-6, h0="learned", max_steps=100_000, backprop="full", key):
        if solver not in FIXED_SOLVERS + tuple(ADAPTIVE_SOLVERS):
            raise ValueError(
                f"solver {solver!r} is not available in JAX; choose one of "
                f"{', '.join(FIXED_SOLVERS + tuple(ADAPTIVE_SOLVERS))}"
            )
        backprop_modes.check(backprop, solver, FIXED_SOLVERS, no_adjoint=("rk4",))
        self.backprop = backprop
        kf, kg, kr = jax.random.split(key, 3)
        self.F = FlowMLP(N, n_inputs, widths, activation, linear_output, key=kf)
        self.gate = Gate(N, n_inputs, key=kg) if gated else None
        self.readout = linear(N, n_outputs, kr)
        if h0 not in H0_MODES:
            raise ValueError(f"h0 {h0!r} is not a mode; choose one of {', '.join(H0_MODES)}")
        self.h0 = jnp.zeros(N) if h0 == "learned" else None
        # Its own key, folded in: the other parameters keep the initialisation they always had.
        self.h0_map = (linear(n_inputs, N, jax.random.fold_in(key, 7))
                       if h0 == "first-input" else None)
        self.n_hidden = int(N)
        self.tau, self.solver, self.steps = float(tau), solver, int(steps_per_interval)
        self.rtol, self.atol, self.max_steps = float(rtol), float(atol), int(max_steps)
        self.reports_nfe = solver in ADAPTIVE_SOLVERS

    def drive(self, x):
        """Input projections for F and G, for every time step at once."""
        uf = jax.vmap(self.F.U)(x)
        ug = None if self.gate is None else jax.vmap(self.gate.U)(x)
        return uf, ug

    def vector_field(self, h, uf, ug):
        """dh/dt at state h under the (projected) input."""
        flow = self.F(h, uf) - h
        if self.gate is not None:
            flow = self.gate(h, ug) * flow
        return flow / self.tau

    def __call__(self, x, dt, *, return_stats: bool = False):
        states, nfe = self._states(x, dt)
        y = jax.vmap(self.readout)(states)
        return (y, {"nfe_forward": nfe}) if return_stats else y

    def initial_state(self, x):
        """h0 for the sequence ``x`` (T, I): (N,)."""
        if self.h0_map is not None:
            return self.h0_map(x[0])
        return jnp.zeros(self.n_hidden, x.dtype) if self.h0 is None else self.h0

    def _states(self, x, dt):
        h0 = self.initial_state(x)
        if self.solver in FIXED_SOLVERS:
            nfe = jnp.asarray(x.shape[0] * self.steps * (1 if self.solver == "euler" else 4))
            if impl.selected() == "fast":
                return ode_jax_fast.fixed_states(self, h0, x, dt), nfe
            if self.backprop != "full":
                raise ValueError(f"backprop: {self.backprop} runs on the fast path only; "
                                 "--impl reference has backprop: full")
            uf, ug = self.drive(x)
            return self._fixed(h0, uf, ug, dt), nfe
        uf, ug = self.drive(x)
        return self._adaptive(h0, uf, ug, dt)

    # -- analysis interface (bench.analysis.attractors) --------------------------------------------
    @property
    def discrete(self) -> bool:
        return False  # a flow: analysed through its vector field

    def states(self, x, dt):
        """The hidden state at the end of every interval, (T, N)."""
        return self._states(x, dt)[0]

    def field(self, h, dt):
        """The zero-input vector field over one sampling interval, dt * dh/dt, (N,)."""
        uf = jnp.zeros(self.F.W0.out_features, h.dtype)  # U x = 0 at zero input
        ug = None if self.gate is None else jnp.zeros_like(h)
        return dt * self.vector_field(h, uf, ug)

    def observe(self, h):
        """The readout of a state, (O,)."""
        return self.readout(h)

    def gate_values(self, h):
        """The timescale gate G at zero input, (N,); None for a model without a gate."""
        if self.gate is None:
            return None
        return self.gate(h, jnp.zeros_like(h))

    def _fixed(self, h0, uf, ug, dt):
        def interval(h, inputs):
            u_f, u_g, d = inputs
            step = d / self.steps

            def substep(_, h):
                if self.solver == "euler":
                    return h + step * self.vector_field(h, u_f, u_g)
                k1 = self.vector_field(h, u_f, u_g)
                k2 = self.vector_field(h + 0.5 * step * k1, u_f, u_g)
                k3 = self.vector_field(h + 0.5 * step * k2, u_f, u_g)
                k4 = self.vector_field(h + step * k3, u_f, u_g)
                return h + step * (k1 + 2 * k2 + 2 * k3 + k4) / 6

            # A loop, not an unrolled Python for: compile time must not grow with the steps.
            h = substep(0, h) if self.steps == 1 else jax.lax.fori_loop(0, self.steps, substep, h)
            return h, h

        _, states = jax.lax.scan(interval, h0, (uf, ug, dt))
        return states

    def _adaptive(self, h0, uf, ug, dt):
        T = uf.shape[0]

        def rhs(s, h, args):
            k = jnp.clip(jnp.floor(s).astype(jnp.int32), 0, T - 1)
            return dt[k] * self.vector_field(h, uf[k], None if ug is None else ug[k])

        grid = jnp.arange(T + 1, dtype=uf.dtype)
        controller = diffrax.ClipStepSizeController(
            diffrax.PIDController(rtol=self.rtol, atol=self.atol), jump_ts=grid[1:-1]
        )
        sol = diffrax.diffeqsolve(
            diffrax.ODETerm(rhs), ADAPTIVE_SOLVERS[self.solver](), t0=0.0, t1=float(T),
            dt0=None, y0=h0, saveat=diffrax.SaveAt(ts=grid[1:]), stepsize_controller=controller,
            max_steps=self.max_steps,
            adjoint=diffrax.BacksolveAdjoint() if self.backprop == "adjoint"
            else diffrax.RecursiveCheckpointAdjoint(),
        )
        nfe = STAGES_PER_STEP[self.solver] * sol.stats["num_steps"] + 1
        return sol.ys, nfe


def ode_from_config(config: dict, n_inputs: int, n_outputs: int, *, gated: bool, key) -> ODERNN:
    """Build an :class:`ODERNN` from a model config (the same keys as the PyTorch side)."""
    return ODERNN(
        n_inputs, n_outputs, N=config["N"], widths=config["widths"],
        activation=config.get("activation", "relu"), gated=gated,
        linear_output=config.get("linear_output", True), tau=config.get("tau", 1.0),
        solver=config.get("solver", "euler"),
        steps_per_interval=config.get("steps_per_interval", 1),
        rtol=config.get("rtol", 1e-6), atol=config.get("atol", 1e-6),
        h0=config.get("h0", "learned"), max_steps=config.get("max_steps", 100_000),
        backprop=config.get("backprop", "full"), key=key,
    )


def load_state(model: eqx.Module, state: Mapping[str, np.ndarray]) -> eqx.Module:
    """Copy a PyTorch ``state_dict`` (as numpy arrays) into a module with matching names."""

    def locate(root, dotted):
        node = root
        for part in dotted.split("."):
            node = node[int(part)] if part.isdigit() else getattr(node, part)
        return node

    for name, value in state.items():
        current = locate(model, name)
        if current is None:  # a fixed zero h0 is a buffer in PyTorch, nothing here
            if np.any(value):
                raise ValueError(f"{name}: fixed at zero here, but the state holds non-zeros")
            continue
        if current.shape != value.shape:
            raise ValueError(f"{name}: shape {value.shape} does not match {current.shape}")
        def where(m, n=name):
            return locate(m, n)

        model = eqx.tree_at(where, model, jnp.asarray(value))
    return model
