"""The fast path of ``bench.models.ode_jax``'s fixed-step solvers, and its backprop modes.

The same function as ``ODERNN._fixed`` (tests hold outputs and gradients together):

- h's projections for F's first layer and for the gate are one matmul per step, and both biases
  are folded into the input drive, computed for every step at once;
- 1/tau is folded into the step size;
- the time loop is a ``lax.scan`` unrolled a few steps at a time (``UNROLL``, per platform),
  which lets XLA fuse across steps: on an H100 unroll 10 took the step from 6.6 to 4.5 ms at
  the flip-flop size (``shared/reference/anchors.md``); on the 2-core CPU the choice matters
  within noise, and 4 was best (``benchmarks/scan_unroll.py`` measures it anew).

Backprop modes (``backprop`` in the model config, ``bench.models.backprop_modes.MODES``):

- ``full``: reverse-mode keeps every step's activations;
- ``checkpoint``: an outer scan over chunks of about sqrt(T) steps under ``jax.checkpoint``, so
  only chunk boundaries are kept (the sequence is padded with dt = 0 steps, which are exact);
- ``adjoint``: each interval is a diffrax solve with ``BacksolveAdjoint``; only the states at
  interval ends are kept, and the gradients carry the backward solve's error. Euler only:
  diffrax has no classic RK4.
"""

from __future__ import annotations

import math

import diffrax
import jax
import jax.numpy as jnp

UNROLL = {"cpu": 4, "gpu": 10, "cuda": 10}


def unroll() -> int:
    """The unroll for the platform computations are placed on (``jax.default_device``)."""
    device = getattr(jax.config, "jax_default_device", None)
    platform = (getattr(device, "platform", device) if device is not None
                else jax.default_backend())
    return UNROLL.get(str(platform), 1)


def _weights(model):
    """(W_h, U_x, b): state and input projections of F's first layer and the gate, stacked."""
    F, gate = model.F, model.gate
    if gate is None:
        return F.W0.weight, F.U.weight, F.W0.bias
    return (jnp.concatenate([F.W0.weight, gate.W.weight]),
            jnp.concatenate([F.U.weight, gate.U.weight]), jnp.concatenate([F.W0.bias, gate.W.bias]))


def _flow(model, W, h, u):
    """tau * dh/dt at state h; ``u`` is the input drive with the biases folded in."""
    act = model.F.act
    z = W @ h + u
    width = model.F.W0.out_features
    s = act(z) if model.gate is None else act(z[:width])
    for layer in model.F.layers:
        s = act(layer(s))
    flow = (s if model.F.out is None else model.F.out(s)) - h
    return flow if model.gate is None else jax.nn.sigmoid(z[width:]) * flow


def _advance(model, W, h, u, c):
    """One interval of ``model.steps`` substeps of size ``c`` = dt / (steps tau)."""

    def substep(_, h):
        if model.solver == "euler":
            return h + c * _flow(model, W, h, u)
        k1 = _flow(model, W, h, u)
        k2 = _flow(model, W, h + 0.5 * c * k1, u)
        k3 = _flow(model, W, h + 0.5 * c * k2, u)
        k4 = _flow(model, W, h + c * k3, u)
        return h + c / 6 * (k1 + 2 * (k2 + k3) + k4)

    return substep(0, h) if model.steps == 1 else jax.lax.fori_loop(0, model.steps, substep, h)


def _run(model, W, h, u, c):
    def interval(h, inputs):
        h = _advance(model, W, h, *inputs)
        return h, h

    return jax.lax.scan(interval, h, (u, c), unroll=unroll())


def fixed_states(model, h0, x, dt):
    """The hidden state at the end of every interval, (T, N), under ``model.backprop``."""
    W, U, b = _weights(model)
    if model.backprop == "adjoint":
        return _adjoint(model, W, h0, x @ U.T + b, dt / model.tau)
    c = dt / (model.steps * model.tau)
    if model.backprop == "full":
        return _run(model, W, h0, x @ U.T + b, c)[1]
    T = x.shape[0]
    chunk = math.isqrt(T - 1) + 1  # ceil(sqrt(T))
    n = -(-T // chunk)
    pad = n * chunk - T  # dt = 0 steps leave h exactly as it is
    x = jnp.concatenate([x, jnp.zeros((pad, x.shape[1]), x.dtype)]).reshape(n, chunk, -1)
    c = jnp.concatenate([c, jnp.zeros(pad, c.dtype)]).reshape(n, chunk)

    @jax.checkpoint
    def block(h, inputs):  # the drive is recomputed inside: a chunk keeps x, not U x + b
        x_block, c_block = inputs
        return _run(model, W, h, x_block @ U.T + b, c_block)

    _, states = jax.lax.scan(block, h0, (x, c))
    return states.reshape(n * chunk, -1)[:T]


def _adjoint(model, W, h0, u, rate):
    """Each interval a diffrax Euler solve over s in [0, 1] with ``BacksolveAdjoint``."""
    step = 1.0 / model.steps

    def rhs(s, h, args):
        m, W_, u_k, r_k = args  # BacksolveAdjoint differentiates args, not closed-over values
        return r_k * _flow(m, W_, h, u_k)

    def interval(h, inputs):
        sol = diffrax.diffeqsolve(
            diffrax.ODETerm(rhs), diffrax.Euler(), t0=0.0, t1=1.0, dt0=step, y0=h,
            args=(model, W, *inputs), saveat=diffrax.SaveAt(t1=True),
            adjoint=diffrax.BacksolveAdjoint(), max_steps=model.steps + 1,
        )
        h = sol.ys[-1]
        return h, h

    return jax.lax.scan(interval, h0, (u, rate))[1]
