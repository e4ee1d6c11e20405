"""A continuous-time RNN: tau dh/dt = -h + W tanh(h) + U x + b, with a linear readout.

The submission contract in brief (see submissions/README.md):
``build(config, n_inputs, n_outputs)`` returns a ``torch.nn.Module`` whose
``forward(x, dt)`` maps inputs (B, T, I) and interval lengths (B, T) to outputs (B, T, O).
"""

import torch
from torch import nn


class CTRNN(nn.Module):
    def __init__(self, n_inputs: int, n_outputs: int, N: int, tau: float) -> None:
        super().__init__()
        self.W = nn.Linear(N, N, bias=False)
        self.U = nn.Linear(n_inputs, N)
        self.readout = nn.Linear(N, n_outputs)
        self.tau = tau

    def forward(self, x: torch.Tensor, dt: torch.Tensor) -> torch.Tensor:
        return self.readout(self.states(x, dt))

    def states(self, x: torch.Tensor, dt: torch.Tensor) -> torch.Tensor:
        drive = self.U(x)  # (B, T, N), computed once for every step
        h = x.new_zeros(x.shape[0], self.W.in_features)
        states = []
        for k in range(x.shape[1]):
            h = h + (dt[:, k, None] / self.tau) * (-h + self.W(torch.tanh(h)) + drive[:, k])
            states.append(h)
        return torch.stack(states, dim=1)

    # The analysis interface (optional): slow points, Jacobians and phase portraits.
    discrete = False

    def field(self, h: torch.Tensor, dt: float) -> torch.Tensor:
        """dt * dh/dt at zero input (U x = 0 leaves the bias U.bias)."""
        return (dt / self.tau) * (-h + self.W(torch.tanh(h)) + self.U.bias)

    def observe(self, h: torch.Tensor) -> torch.Tensor:
        return self.readout(h)


def build(config: dict, n_inputs: int, n_outputs: int) -> nn.Module:
    return CTRNN(n_inputs, n_outputs, N=config["N"], tau=config["tau"])
