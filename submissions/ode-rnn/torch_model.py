"""ODE-RNN (Rubanova, Chen & Duvenaud, "Latent ODEs for irregularly-sampled time series",
NeurIPS 2019, Algorithm 1) under the suite's contract.

For the observation x_k at the end of an interval of length dt_k:

    h'_k = ODESolve(f, h_{k-1}, dt_k),   dh/dt = f(h) = W2 tanh(W1 h + b1) + b2
    h_k  = GRUCell(x_k, h'_k),           y_k = C h_k + d

from h_0 = 0, time in units of tau. torchdiffeq's ``odeint`` solves each interval in
normalised time s in [0, 1], dh/ds = (dt / tau) f(h), so that every sequence of a batch
crosses its own interval length in one call (fixed-step RK4, ``steps_per_interval`` steps).

The analysis interface: one interval at zero input, h -> GRUCell(0, ODESolve(f, h, dt)), is a
map.
"""

import torch
from torch import nn
from torchdiffeq import odeint


class Flow(nn.Module):
    """dh/ds = rate * f(h): f in time units of tau, over an interval of normalised length 1."""

    def __init__(self, N: int, width: int) -> None:
        super().__init__()
        self.f = nn.Sequential(nn.Linear(N, width), nn.Tanh(), nn.Linear(width, N))
        self.rate: torch.Tensor | None = None  # (B, 1): dt / tau of the interval crossed

    def forward(self, s: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        return self.rate * self.f(h)


class ODERNN(nn.Module):
    def __init__(self, n_inputs: int, n_outputs: int, N: int, width: int, tau: float,
                 steps: int) -> None:
        super().__init__()
        self.flow = Flow(N, width)
        self.cell = nn.GRUCell(n_inputs, N)
        self.readout = nn.Linear(N, n_outputs)
        self.N, self.n_inputs, self.tau, self.steps = N, n_inputs, tau, steps

    def _evolve(self, h: torch.Tensor, rate: torch.Tensor) -> torch.Tensor:
        self.flow.rate = rate
        s = torch.tensor([0.0, 1.0], dtype=h.dtype, device=h.device)
        return odeint(self.flow, h, s, method="rk4", options={"step_size": 1.0 / self.steps})[-1]

    def states(self, x: torch.Tensor, dt: torch.Tensor) -> torch.Tensor:
        """h after every observation, (B, T, N)."""
        h = x.new_zeros(x.shape[0], self.N)
        out = []
        for xt, rate in zip(x.unbind(1), (dt / self.tau).unsqueeze(-1).unbind(1), strict=True):
            h = self.cell(xt, self._evolve(h, rate))
            out.append(h)
        return torch.stack(out, dim=1)

    def forward(self, x: torch.Tensor, dt: torch.Tensor) -> torch.Tensor:
        return self.readout(self.states(x, dt))

    # The analysis interface: one interval at zero input, as a map.
    discrete = True

    def field(self, h: torch.Tensor, dt: float) -> torch.Tensor:
        rate = h.new_full((h.shape[0], 1), dt / self.tau)
        return self.cell(h.new_zeros(h.shape[0], self.n_inputs), self._evolve(h, rate)) - h

    def observe(self, h: torch.Tensor) -> torch.Tensor:
        return self.readout(h)


def build(config: dict, n_inputs: int, n_outputs: int) -> nn.Module:
    return ODERNN(n_inputs, n_outputs, N=config["N"], width=config["width"], tau=config["tau"],
                  steps=config.get("steps_per_interval", 1))
