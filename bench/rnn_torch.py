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

    def forward(self, x: torch.Tensor, dt: torch.Tensor | None = None) -> torch.Tensor:
        states, _ = self.rnn(x)
        return self.readout(states)
