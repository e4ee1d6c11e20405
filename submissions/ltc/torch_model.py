"""LTC (Hasani et al., "Liquid time-constant networks", AAAI 2021) from ncps 1.0.1 under the
suite's contract.

ncps's ``LTCCell`` integrates the LTC ODE (the paper's Eq. 1) in its conductance form, per
neuron i:

    C_i dv_i/dt = g_leak,i (v_leak,i - v_i) + sum_j w_ij sigmoid(s_ij (v_j - mu_ij)) (E_ij - v_i)
                  + the same synapse terms from the (affinely mapped) inputs x

over an interval of elapsed time t = dt / tau in ``ode_unfolds`` fused semi-implicit Euler
steps (its Eq. 3). The wiring is fully connected; positivity of the conductances and the
capacitance is kept by a softplus (ncps's implicit constraints), so the optimiser needs no
clipping step. The cell is stepped with t of shape (B, 1), one elapsed time per sequence.

The analysis interface treats one interval at zero input as a map.
"""

import torch
from ncps.torch import LTCCell
from ncps.wirings import FullyConnected
from torch import nn


class LTC(nn.Module):
    def __init__(self, n_inputs: int, n_outputs: int, N: int, ode_unfolds: int,
                 tau: float) -> None:
        super().__init__()
        self.cell = LTCCell(FullyConnected(N), in_features=n_inputs, ode_unfolds=ode_unfolds,
                            output_mapping=None,  # the readout below sees the whole state
                            implicit_param_constraints=True)
        self.readout = nn.Linear(N, n_outputs)
        self.N, self.n_inputs, self.tau = N, n_inputs, tau

    def states(self, x: torch.Tensor, dt: torch.Tensor) -> torch.Tensor:
        """v after every interval, (B, T, N)."""
        v = x.new_zeros(x.shape[0], self.N)
        out = []
        for xt, t in zip(x.unbind(1), (dt / self.tau).unsqueeze(-1).unbind(1), strict=True):
            _, v = self.cell(xt, v, t)
            out.append(v)
        return torch.stack(out, dim=1)

    def forward(self, x: torch.Tensor, dt: torch.Tensor) -> torch.Tensor:
        return self.readout(self.states(x, dt))

    # The analysis interface: the update over one interval at zero input, as a map.
    discrete = True

    def field(self, v: torch.Tensor, dt: float) -> torch.Tensor:
        t = v.new_full((v.shape[0], 1), dt / self.tau)
        return self.cell(v.new_zeros(v.shape[0], self.n_inputs), v, t)[1] - v

    def observe(self, v: torch.Tensor) -> torch.Tensor:
        return self.readout(v)


def build(config: dict, n_inputs: int, n_outputs: int) -> nn.Module:
    return LTC(n_inputs, n_outputs, N=config["N"], ode_unfolds=config["ode_unfolds"],
               tau=config["tau"])
