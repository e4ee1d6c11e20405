"""Discrete-time baselines in JAX: equinox's GRUCell / LSTMCell under ``lax.scan``."""

from __future__ import annotations

from collections.abc import Mapping

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np


class ScanRNN(eqx.Module):
    """An equinox GRU or LSTM cell scanned over time, with a linear readout.

    Acts on one sequence: ``model(x, dt)`` with ``x`` of shape (T, I); ``dt`` is ignored.
    """

    cell: eqx.nn.GRUCell | eqx.nn.LSTMCell
    readout: eqx.nn.Linear
    kind: str = eqx.field(static=True)
    reports_nfe: bool = eqx.field(static=True, default=False)

    def __init__(self, kind: str, n_inputs: int, n_outputs: int, N: int, *, key):
        k1, k2 = jax.random.split(key)
        if kind == "gru":
            self.cell = eqx.nn.GRUCell(n_inputs, N, key=k1)
        else:
            self.cell = eqx.nn.LSTMCell(n_inputs, N, key=k1)
        self.readout = eqx.nn.Linear(N, n_outputs, key=k2)
        self.kind = kind
        self.reports_nfe = False

    def __call__(self, x, dt=None):
        N = self.cell.hidden_size
        h0 = jnp.zeros(N) if self.kind == "gru" else (jnp.zeros(N), jnp.zeros(N))

        def step(h, x_t):
            h = self.cell(x_t, h)
            return h, h if self.kind == "gru" else h[0]

        _, states = jax.lax.scan(step, h0, x)
        return jax.vmap(self.readout)(states)


def load_torch_state(model: ScanRNN, state: Mapping[str, np.ndarray]) -> ScanRNN:
    """Copy a ``bench.rnn_torch.StandardRNN`` state_dict into a :class:`ScanRNN`.

    Both use the gate orders r, z, n (GRU) and i, f, g, o (LSTM). equinox's GRUCell keeps
    the hidden bias of the candidate gate apart (``bias_n``), because it sits inside the reset.
    """
    w_ih, w_hh = state["rnn.weight_ih_l0"], state["rnn.weight_hh_l0"]
    b_ih, b_hh = state["rnn.bias_ih_l0"], state["rnn.bias_hh_l0"]
    cell = model.cell
    if model.kind == "gru":
        n = b_hh.shape[0] // 3
        bias = b_ih + np.concatenate([b_hh[: 2 * n], np.zeros(n, b_hh.dtype)])
        cell = eqx.tree_at(
            lambda c: (c.weight_ih, c.weight_hh, c.bias, c.bias_n),
            cell,
            tuple(map(jnp.asarray, (w_ih, w_hh, bias, b_hh[2 * n :]))),
        )
    else:
        cell = eqx.tree_at(
            lambda c: (c.weight_ih, c.weight_hh, c.bias),
            cell,
            tuple(map(jnp.asarray, (w_ih, w_hh, b_ih + b_hh))),
        )
    readout = eqx.tree_at(
        lambda r: (r.weight, r.bias),
        model.readout,
        (jnp.asarray(state["readout.weight"]), jnp.asarray(state["readout.bias"])),
    )
    return eqx.tree_at(lambda m: (m.cell, m.readout), model, (cell, readout))
