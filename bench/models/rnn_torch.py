"""Discrete-time baselines in PyTorch: torch.nn.GRU / torch.nn.LSTM (cuDNN on a GPU)."""

from __future__ import annotations

import torch
from torch import nn

CELLS = {"gru": nn.GRU, "lstm": nn.LSTM}


class StandardRNN(nn.Module):
    """The framework's own GRU or LSTM, with a linear readout of every hidden state.

    ``forward(x, dt)`` has the suite's model signature; these discrete models ignore ``dt``
    (tasks with irregular sampling feed the elapsed time as an input feature instead).
    """

    def __init__(self, kind: str, n_inputs: int, n_outputs: int, N: int) -> None:
        super().__init__()
        self.rnn = CELLS[kind](n_inputs, N, batch_first=True)
        self.readout = nn.Linear(N, n_outputs)

    graph_safe = True  # cuDNN's step is static: the training step can be a CUDA graph

    def forward(self, x: torch.Tensor, dt: torch.Tensor | None = None) -> torch.Tensor:
        states, _ = self.rnn(x)
        return self.readout(states)

    # -- analysis interface (bench.analysis.attractors): the state is h (GRU) or [h, c] (LSTM) -----
    discrete = True  # a map: analysed through its update f(h) - h

    def states(self, x: torch.Tensor, dt: torch.Tensor | None = None) -> torch.Tensor:
        """The full state after every step, (B, T, N) for a GRU and (B, T, 2N) for an LSTM."""
        if isinstance(self.rnn, nn.GRU):
            return self.rnn(x)[0]
        out, state = [], None
        for k in range(x.shape[1]):  # nn.LSTM returns c at the last step only
            _, state = self.rnn(x[:, k : k + 1], state)
            out.append(torch.cat([state[0][0], state[1][0]], dim=-1))
        return torch.stack(out, dim=1)

    def field(self, h: torch.Tensor, dt: float | None = None) -> torch.Tensor:
        """The zero-input update f(h) - h, (B, D)."""
        x = h.new_zeros(h.shape[0], 1, self.rnn.input_size)
        N = self.rnn.hidden_size
        if isinstance(self.rnn, nn.GRU):
            return self.rnn(x, h[None].contiguous())[1][0] - h
        _, (h1, c1) = self.rnn(x, (h[None, :, :N].contiguous(), h[None, :, N:].contiguous()))
        return torch.cat([h1[0], c1[0]], dim=-1) - h

    def observe(self, h: torch.Tensor) -> torch.Tensor:
        """The readout of states (of h, for an LSTM), (B, O)."""
        return self.readout(h[:, : self.rnn.hidden_size])
