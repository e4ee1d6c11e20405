"""Neural CDE (Kidger, Morrill, Foster & Lyons, "Neural controlled differential equations for
irregular time series", NeurIPS 2020) on torchcde 0.2.5, under the suite's contract.

The observations become a path X with channels (t, x): a point at t = 0 with x = 0, then one
per observation, at its interval's end (t in units of tau, so each sequence keeps its own
irregular times). torchcde interpolates it with Hermite cubics and backward differences, so
the piece up to observation k depends on x_0..x_k only (causal: Morrill et al. 2021). Then

    z(s) = z_0 + int_0^s f(z(u)) dX(u),   f(z) = tanh(W2 relu(W1 z + b1) + b2), an N x (1 + I)
                                          matrix
    y_k  = C z(k) + d

parameterised by the observation index s (cdeint, RK4 with one step per interval; no adjoint).
z_0 is a learned vector: X(0) is the same for every sequence.

The analysis interface: with the input held, only the time channel moves, dX = (dt/tau, 0), so
the state follows the flow dz/dt = f(z)[:, 0] in units of tau.
"""

import torch
import torchcde
from torch import nn


class Vector(nn.Module):
    def __init__(self, N: int, channels: int, width: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(N, width), nn.ReLU(), nn.Linear(width, N * channels))
        self.N, self.channels = N, channels

    def forward(self, s: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.net(z)).view(*z.shape[:-1], self.N, self.channels)


class NCDE(nn.Module):
    def __init__(self, n_inputs: int, n_outputs: int, N: int, width: int, tau: float) -> None:
        super().__init__()
        self.f = Vector(N, 1 + n_inputs, width)
        self.z0 = nn.Parameter(torch.zeros(N))
        self.readout = nn.Linear(N, n_outputs)
        self.N, self.tau = N, tau

    def states(self, x: torch.Tensor, dt: torch.Tensor) -> torch.Tensor:
        """z at every observation, (B, T, N)."""
        B, T, _ = x.shape
        t = torch.cumsum(dt / self.tau, dim=1).unsqueeze(-1)
        path = torch.cat([t, x], dim=-1)
        path = torch.cat([path.new_zeros(B, 1, path.shape[-1]), path], dim=1)  # (B, T + 1, C)
        X = torchcde.CubicSpline(
            torchcde.hermite_cubic_coefficients_with_backward_differences(path))
        s = torch.arange(T + 1, dtype=x.dtype, device=x.device)
        z = torchcde.cdeint(X, self.f, self.z0.expand(B, self.N), s, adjoint=False,
                            method="rk4", options={"step_size": 1.0})
        return z[:, 1:]

    def forward(self, x: torch.Tensor, dt: torch.Tensor) -> torch.Tensor:
        return self.readout(self.states(x, dt))

    # The analysis interface: the flow of z while the input is held.
    discrete = False

    def field(self, z: torch.Tensor, dt: float) -> torch.Tensor:
        return (dt / self.tau) * self.f(None, z)[..., 0]

    def observe(self, z: torch.Tensor) -> torch.Tensor:
        return self.readout(z)


def build(config: dict, n_inputs: int, n_outputs: int) -> nn.Module:
    return NCDE(n_inputs, n_outputs, N=config["N"], width=config["width"], tau=config["tau"])
