"""ODE-LSTM (Lechner & Hasani, "Learning long-term dependencies in irregularly-sampled time
series", 2020, Algorithm 1) under the suite's contract.

For the observation x_k held over an interval of length dt_k:

    (c_k, h'_k) = LSTMCell(x_k, (c_{k-1}, h_{k-1}))
    h_k         = ODESolve(f, h'_k, dt_k),   dh/dt = f(h) = W2 tanh(W1 h + b1) + b2
    y_k         = C h_k + d

from zeros, time in units of tau. The memory cell c has no dynamics between observations: it
carries the long-term memory, while h is continuous in time. torchdiffeq's ``odeint`` solves
each interval in normalised time s in [0, 1], dh/ds = (dt / tau) f(h), so every sequence of a
batch crosses its own interval length (fixed-step RK4, ``steps_per_interval`` steps).

The analysis interface: the state is [h, c]; one interval at zero input is a map.
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


class ODELSTM(nn.Module):
    def __init__(self, n_inputs: int, n_outputs: int, N: int, width: int, tau: float,
                 steps: int) -> None:
        super().__init__()
        self.cell = nn.LSTMCell(n_inputs, N)
        self.flow = Flow(N, width)
        self.readout = nn.Linear(N, n_outputs)
        self.N, self.n_inputs, self.tau, self.steps = N, n_inputs, tau, steps

    def _step(self, x: torch.Tensor, state: torch.Tensor, rate: torch.Tensor) -> torch.Tensor:
        """[h, c] -> [h, c] across one interval."""
        h, c = self.cell(x, (state[:, : self.N], state[:, self.N :]))
        self.flow.rate = rate
        s = torch.tensor([0.0, 1.0], dtype=h.dtype, device=h.device)
        h = odeint(self.flow, h, s, method="rk4", options={"step_size": 1.0 / self.steps})[-1]
        return torch.cat([h, c], dim=-1)

    def states(self, x: torch.Tensor, dt: torch.Tensor) -> torch.Tensor:
        """[h, c] after every interval, (B, T, 2N)."""
        state = x.new_zeros(x.shape[0], 2 * self.N)
        out = []
        for xt, rate in zip(x.unbind(1), (dt / self.tau).unsqueeze(-1).unbind(1), strict=True):
            state = self._step(xt, state, rate)
            out.append(state)
        return torch.stack(out, dim=1)

    def forward(self, x: torch.Tensor, dt: torch.Tensor) -> torch.Tensor:
        return self.readout(self.states(x, dt)[..., : self.N])

    # The analysis interface: one interval at zero input, as a map of [h, c].
    discrete = True

    def field(self, state: torch.Tensor, dt: float) -> torch.Tensor:
        rate = state.new_full((state.shape[0], 1), dt / self.tau)
        zero = state.new_zeros(state.shape[0], self.n_inputs)
        return self._step(zero, state, rate) - state

    def observe(self, state: torch.Tensor) -> torch.Tensor:
        return self.readout(state[:, : self.N])


def build(config: dict, n_inputs: int, n_outputs: int) -> nn.Module:
    return ODELSTM(n_inputs, n_outputs, N=config["N"], width=config["width"], tau=config["tau"],
                   steps=config.get("steps_per_interval", 1))
