"""The fast path of ``bench.models.ode_torch``'s fixed-step solvers, and its backprop modes.

The same function as ``ODERNN._fixed`` (tests hold outputs and gradients together), in fewer and
cheaper operations:

- h's projections for F's first layer and for the gate are one matmul per step;
- both biases are folded into the input drive, computed for every step at once;
- the time axis is unbound once: indexing ``u[:, k]`` inside the loop makes backward build a
  zero tensor of the whole sequence at every step, O(T^2) work;
- 1/tau is folded into the step size, and Euler's update is one ``addcmul``.

Backprop modes (``backprop`` in the model config, ``bench.models.backprop_modes.MODES``):

- ``full``: autograd keeps every step's activations (F's hidden layers, the gate, the state);
- ``checkpoint``: chunks of about sqrt(T) steps under ``torch.utils.checkpoint``; a chunk keeps
  its inputs and states, and its intermediates are recomputed in backward (same gradients);
- ``adjoint``: torchdiffeq's ``odeint_adjoint`` on the same grid. It keeps the state at every
  output time (the readout needs it) but none of F's intermediates. Its gradients come from
  integrating the state backwards, so they carry that solve's error (large when dt / tau is
  not small), and its ``rk4`` is torchdiffeq's 3/8-rule variant.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
from torch.nn import functional
from torch.utils.checkpoint import checkpoint
from torchdiffeq import odeint_adjoint

if TYPE_CHECKING:  # a type only: bench.models.ode_torch imports this module
    from bench.models.ode_torch import ODERNN


def _weights(model: ODERNN) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(W_h, U_x, b): the state and input projections of F's first layer and the gate, stacked."""
    F, gate = model.F, model.gate
    if gate is None:
        return F.W0.weight.t(), F.U.weight, F.W0.bias
    return (torch.cat([F.W0.weight, gate.W.weight]).t(), torch.cat([F.U.weight, gate.U.weight]),
            torch.cat([F.W0.bias, gate.W.bias]))


def _flow(model: ODERNN, W: torch.Tensor, h: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """tau * dh/dt at state h, where ``u`` is the input drive with the biases folded in."""
    z = torch.addmm(u, h, W)
    width = model.F.W0.out_features
    act = model.F.act
    s = act(z) if model.gate is None else act(z[:, :width])
    for layer in model.F.layers:
        s = act(layer(s))
    flow = (s if model.F.out is None else model.F.out(s)) - h
    return flow if model.gate is None else torch.sigmoid(z[:, width:]) * flow


def _advance(model: ODERNN, W, h, u, c):
    """One interval: ``model.steps`` substeps of size ``c`` = dt / (steps tau), shape (B, 1)."""
    for _ in range(model.steps):
        if model.solver == "euler":
            h = torch.addcmul(h, c, _flow(model, W, h, u))
            continue
        k1 = _flow(model, W, h, u)
        k2 = _flow(model, W, torch.addcmul(h, 0.5 * c, k1), u)
        k3 = _flow(model, W, torch.addcmul(h, 0.5 * c, k2), u)
        k4 = _flow(model, W, torch.addcmul(h, c, k3), u)
        h = torch.addcmul(h, c / 6, k1 + 2 * (k2 + k3) + k4)
    return h


def _run(model: ODERNN, W, h, u, c) -> torch.Tensor:
    """The states at the end of each interval of a block: u (B, K, D), c (B, K, 1) -> (B, K, N)."""
    out = []
    for u_k, c_k in zip(u.unbind(1), c.unbind(1), strict=True):
        h = _advance(model, W, h, u_k, c_k)
        out.append(h)
    return torch.stack(out, 1)


def fixed_states(model: ODERNN, x: torch.Tensor, dt: torch.Tensor) -> torch.Tensor:
    """The hidden state at the end of every interval, (B, T, N), under ``model.backprop``."""
    W, U, b = _weights(model)
    h = model.initial_state(x)
    T = x.shape[1]
    model.nfe_forward = T * model.steps * (1 if model.solver == "euler" else 4)
    model.nfe_backward = model.nfe_forward if torch.is_grad_enabled() else 0
    if model.backprop == "adjoint" and torch.is_grad_enabled():
        return _adjoint(model, W, U, b, h, x, (dt / model.tau).unsqueeze(-1))
    c = (dt / (model.steps * model.tau)).unsqueeze(-1)
    if model.backprop == "full" or not torch.is_grad_enabled():
        return _run(model, W, h, functional.linear(x, U, b), c)
    chunk = max(1, math.isqrt(T - 1) + 1)  # ceil(sqrt(T))
    out = []
    for x_block, c_block in zip(x.split(chunk, 1), c.split(chunk, 1), strict=True):
        # The drive is recomputed inside: a chunk keeps its inputs x, not the wider U x + b.
        states = checkpoint(_drive_and_run, model, W, U, b, h, x_block, c_block,
                            use_reentrant=False)
        out.append(states)
        h = states[:, -1]
    return torch.cat(out, 1)


def _drive_and_run(model: ODERNN, W, U, b, h, x, c) -> torch.Tensor:
    return _run(model, W, h, functional.linear(x, U, b), c)


def _adjoint(model: ODERNN, W, U, b, h, x, rate) -> torch.Tensor:
    """``odeint_adjoint`` over s in [0, T], interval k being [k, k+1] (dh/ds = dt_k dh/dt).
    The drive U x + b is computed in the field from x, so the solve keeps no per-step drive."""
    T, steps = x.shape[1], model.steps

    def rhs(s, state):
        # perturb=True makes torchdiffeq evaluate just inside the step, so the interval is
        # right going forward (at k) and backward (at k + 1) alike.
        k = s.detach().floor().long().clamp(0, T - 1).reshape(1)
        u = functional.linear(x.index_select(1, k)[:, 0], U, b)
        return rate.index_select(1, k)[:, 0] * _flow(model, W, state, u)

    def grid(func, y0, t):  # exact multiples of 1/steps; backward solves run down in t
        n = round(float(t[-1] - t[0])) * steps
        g = torch.arange(abs(n) + 1, dtype=t.dtype, device=t.device) / steps
        g = t[0] + g if n >= 0 else t[0] - g
        g[-1] = t[-1]
        return g

    rest = [p for m in (*model.F.layers, model.F.out) if m is not None for p in m.parameters()]
    s = torch.arange(T + 1, dtype=h.dtype, device=h.device)
    states = odeint_adjoint(rhs, h, s, method=model.solver,
                            options={"grid_constructor": grid, "perturb": True},
                            adjoint_params=(W, U, b, *rest))
    return states[1:].transpose(0, 1)
