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
        return jax.vmap(self.observe)(self.states(x, dt))

    # -- analysis interface (bench.analysis.attractors): the state is h (GRU) or [h, c] (LSTM) -----
    @property
    def discrete(self) -> bool:
        return True  # a map: analysed through its update f(h) - h

    def _step(self, state, x_t):
        if self.kind == "gru":
            return self.cell(x_t, state)
        N = self.cell.hidden_size
        return jnp.concatenate(self.cell(x_t, (state[:N], state[N:])))  # type: ignore[arg-type]

    def states(self, x, dt=None):
        """The full state after every step, (T, N) for a GRU and (T, 2N) for an LSTM."""
        N = self.cell.hidden_size
        s0 = jnp.zeros(N if self.kind == "gru" else 2 * N)

        def step(s, x_t):
            s = self._step(s, x_t)
            return s, s

        return jax.lax.scan(step, s0, x)[1]

    def field(self, h, dt=None):
        """The zero-input update f(h) - h, (D,)."""
        return self._step(h, jnp.zeros(self.cell.input_size, h.dtype)) - h

    def observe(self, h):
        """The readout of a state (of h, for an LSTM), (O,)."""
        return self.readout(h[: self.cell.hidden_size])


def load_torch_state(model: ScanRNN, state: Mapping[str, np.ndarray]) -> ScanRNN:
    """Copy a ``bench.models.rnn_torch.StandardRNN`` state_dict into a :class:`ScanRNN`.

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
