"""CfC (Hasani et al., "Closed-form continuous-time neural networks", Nature Machine
Intelligence 2022) from ncps 1.0.1 under the suite's contract.

ncps's ``CfCCell`` maps (x, h, t) to the next state in closed form (its "default" mode):

    z = backbone([x, h]);  s = sigmoid(a(z) t + b(z));  h' = tanh(f1(z)) (1 - s) + s tanh(f2(z))

with t the interval's elapsed time, dt / tau. The paper's Eq. 10 gates with sigmoid(-f t);
ncps's gate adds the bias head b. ncps's sequence module ``CfC`` is not used: it
squeezes each step's timespans to shape (B,), which broadcasts wrongly against (B, N) for a
batch of irregular intervals; here the cell is stepped with t of shape (B, 1).

The analysis interface treats the cell as a map over one interval at zero input.
"""

import torch
from ncps.torch import CfCCell
from torch import nn


class CfC(nn.Module):
    def __init__(self, n_inputs: int, n_outputs: int, N: int, backbone_units: int,
                 backbone_layers: int, mode: str, tau: float) -> None:
        super().__init__()
        self.cell = CfCCell(n_inputs, N, mode=mode, backbone_units=backbone_units,
                            backbone_layers=backbone_layers)
        self.readout = nn.Linear(N, n_outputs)
        self.N, self.n_inputs, self.tau = N, n_inputs, tau

    def states(self, x: torch.Tensor, dt: torch.Tensor) -> torch.Tensor:
        """h after every interval, (B, T, N)."""
        h = x.new_zeros(x.shape[0], self.N)
        out = []
        for xt, t in zip(x.unbind(1), (dt / self.tau).unsqueeze(-1).unbind(1), strict=True):
            h, _ = self.cell(xt, h, t)
            out.append(h)
        return torch.stack(out, dim=1)

    def forward(self, x: torch.Tensor, dt: torch.Tensor) -> torch.Tensor:
        return self.readout(self.states(x, dt))

    # The analysis interface: the update over one interval at zero input, as a map.
    discrete = True

    def field(self, h: torch.Tensor, dt: float) -> torch.Tensor:
        t = h.new_full((h.shape[0], 1), dt / self.tau)
        return self.cell(h.new_zeros(h.shape[0], self.n_inputs), h, t)[0] - h

    def observe(self, h: torch.Tensor) -> torch.Tensor:
        return self.readout(h)


def build(config: dict, n_inputs: int, n_outputs: int) -> nn.Module:
    return CfC(n_inputs, n_outputs, N=config["N"], backbone_units=config["backbone_units"],
               backbone_layers=config["backbone_layers"], mode=config["mode"],
               tau=config["tau"])
