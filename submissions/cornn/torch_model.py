"""Coupled oscillatory RNN (coRNN, Rusch & Mishra 2021) under the suite's contract.

    y'' = tanh(W y + Wz z + V x + b) - gamma y - eps z,   z = y',   time in units of tau.

Each input interval dt (the input held constant) is crossed in ``steps_per_interval`` steps of
the paper's implicit-explicit scheme, h = dt / (steps tau):

    z <- z + h (tanh(W y + Wz z + V x + b) - gamma y - eps z),   then   y <- y + h z.

The readout sees y. The analysis interface treats the whole state (y, z) as a flow.
"""

import torch
from torch import nn


class CoRNN(nn.Module):
    def __init__(self, n_inputs: int, n_outputs: int, N: int, tau: float, gamma: float,
                 eps: float, steps: int) -> None:
        super().__init__()
        self.W = nn.Linear(N, N, bias=False)
        self.Wz = nn.Linear(N, N, bias=False)
        self.V = nn.Linear(n_inputs, N)  # its bias is b
        self.readout = nn.Linear(N, n_outputs)
        self.N, self.tau, self.gamma, self.eps, self.steps = N, tau, gamma, eps, steps

    def _accel(self, y, z, drive):
        return torch.tanh(self.W(y) + self.Wz(z) + drive) - self.gamma * y - self.eps * z

    def forward(self, x: torch.Tensor, dt: torch.Tensor) -> torch.Tensor:
        return self.readout(self.states(x, dt)[..., : self.N])

    def states(self, x: torch.Tensor, dt: torch.Tensor) -> torch.Tensor:
        """The state (y, z) at the end of every interval, (B, T, 2N)."""
        drives = self.V(x).unbind(1)  # input projections, computed once
        steps = (dt / (self.steps * self.tau)).unsqueeze(-1).unbind(1)
        y = x.new_zeros(x.shape[0], self.N)
        z = torch.zeros_like(y)
        out = []
        for drive, h in zip(drives, steps):
            for _ in range(self.steps):
                z = z + h * self._accel(y, z, drive)
                y = y + h * z
            out.append(torch.cat([y, z], dim=-1))
        return torch.stack(out, dim=1)

    # The analysis interface (optional): slow points, Jacobians, phase portraits.
    discrete = False

    def field(self, state: torch.Tensor, dt: float) -> torch.Tensor:
        """dt times the velocity of (y, z) at zero input (the drive is then V's bias)."""
        y, z = state[:, : self.N], state[:, self.N :]
        rate = dt / self.tau
        return rate * torch.cat([z, self._accel(y, z, self.V.bias)], dim=-1)

    def observe(self, state: torch.Tensor) -> torch.Tensor:
        return self.readout(state[:, : self.N])


def build(config: dict, n_inputs: int, n_outputs: int) -> nn.Module:
    return CoRNN(n_inputs, n_outputs, N=config["N"], tau=config["tau"], gamma=config["gamma"],
                 eps=config["eps"], steps=config.get("steps_per_interval", 1))
