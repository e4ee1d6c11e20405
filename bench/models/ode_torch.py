"""PyTorch building blocks for (gated) neural ODE recurrent models.

The models here are the paper's (Kim, Can & Krishnamurthy, ICML 2023):

- nODE:  tau dh/dt = -h + F(h, x)
- gnODE: tau dh/dt = G(h, x) * (-h + F(h, x)),  G = sigmoid(W_z h + U_z x + b_z)

Time convention, shared with ``bench.models.ode_jax``: input ``x[:, k]`` is held constant over an
interval of length ``dt[:, k]``; output ``k`` is read at the end of that interval.  Each interval
is mapped to unit length (s in [k, k+1], dh/ds = dt_k dh/dt), so a batch with different
sampling times still shares one solver grid.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import torch
from torch import nn
from torchdiffeq import odeint, odeint_adjoint

import bench.models.tsit5_torch  # noqa: F401  (registers the tsit5 method with torchdiffeq)
from bench.models import backprop_modes, impl, ode_torch_fast

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU, "silu": nn.SiLU}
FIXED_SOLVERS = ("euler", "rk4")
# dopri5 and bosh3 are torchdiffeq's own; tsit5 is added by bench.models.tsit5_torch.
ADAPTIVE_SOLVERS = ("dopri5", "bosh3", "tsit5")
# The initial state: a learned vector, zeros, or a learned affine map of the trial's first input.
H0_MODES = ("learned", "zeros", "first-input")


def glorot_(module: nn.Module) -> None:
    """The paper's initialisation: Glorot-uniform weights, biases ~ N(0, 1e-6) (variance)."""
    for name, p in module.named_parameters():
        if name.endswith("weight"):
            nn.init.xavier_uniform_(p)
        elif name.endswith("bias"):
            nn.init.normal_(p, std=1e-3)


class FlowMLP(nn.Module):
    """F(h, x): the input enters the first layer only, then hidden layers, then a linear output.

    ``widths`` are the hidden widths (len(widths) = L >= 1). With ``linear_output=False`` the last
    hidden layer is the output (its width must be N): the one-layer tanh F of the vanilla RNN/mGRU.
    """

    def __init__(
        self,
        n_hidden: int,
        n_inputs: int,
        widths: Sequence[int],
        activation: str,
        linear_output: bool = True,
    ) -> None:
        super().__init__()
        if not widths:
            raise ValueError("F needs at least one hidden layer (widths is empty)")
        if not linear_output and widths[-1] != n_hidden:
            raise ValueError("without a linear output layer the last width must equal N")
        self.act = ACTIVATIONS[activation]()
        self.W0 = nn.Linear(n_hidden, widths[0])
        self.U = nn.Linear(n_inputs, widths[0], bias=False)
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in itertools.pairwise(widths))
        self.out = nn.Linear(widths[-1], n_hidden) if linear_output else None

    def forward(self, h: torch.Tensor, ux: torch.Tensor) -> torch.Tensor:
        """``ux`` is the precomputed input drive U x (hoisted out of the time loop)."""
        s = self.act(self.W0(h) + ux)
        for layer in self.layers:
            s = self.act(layer(s))
        return s if self.out is None else self.out(s)


class Gate(nn.Module):
    """G(h, x) = sigmoid(W h + U x + b): one timescale gate per unit."""

    def __init__(self, n_hidden: int, n_inputs: int) -> None:
        super().__init__()
        self.W = nn.Linear(n_hidden, n_hidden)
        self.U = nn.Linear(n_inputs, n_hidden, bias=False)

    def forward(self, h: torch.Tensor, ux: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.W(h) + ux)


class ODERNN(nn.Module):
    """A (gated) neural ODE driven by a piecewise-constant input, with a linear readout.

    ``forward(x, dt)`` takes ``x`` of shape (B, T, I) and ``dt`` of shape (B, T) and returns the
    readout at the end of every interval, shape (B, T, O).
    """

    def __init__(
        self,
        n_inputs: int,
        n_outputs: int,
        *,
        N: int,
        widths: Sequence[int],
        activation: str = "relu",
        gated: bool = True,
        linear_output: bool = True,
        tau: float = 1.0,
        solver: str = "euler",
        steps_per_interval: int = 1,
        rtol: float = 1e-6,
        atol: float = 1e-6,
        h0: str = "learned",
        max_steps: int = 100_000,
        backprop: str = "full",
    ) -> None:
        super().__init__()
        if solver not in FIXED_SOLVERS + ADAPTIVE_SOLVERS:
            raise ValueError(
                f"solver {solver!r} is not available in PyTorch; "
                f"choose one of {', '.join(FIXED_SOLVERS + ADAPTIVE_SOLVERS)}"
            )
        backprop_modes.check(backprop, solver, FIXED_SOLVERS)
        self.backprop = backprop
        self.F = FlowMLP(N, n_inputs, widths, activation, linear_output)
        self.gate = Gate(N, n_inputs) if gated else None
        self.readout = nn.Linear(N, n_outputs)
        if h0 not in H0_MODES:
            raise ValueError(f"h0 {h0!r} is not a mode; choose one of {', '.join(H0_MODES)}")
        self.h0 = nn.Parameter(torch.zeros(N), requires_grad=(h0 == "learned"))
        # The authors' flip-flop runs: h0 = A x_0 + b, a learned affine map of the first input.
        self.h0_map = nn.Linear(n_inputs, N) if h0 == "first-input" else None
        self.tau, self.solver, self.steps = float(tau), solver, int(steps_per_interval)
        self.rtol, self.atol, self.max_steps = float(rtol), float(atol), int(max_steps)
        self.nfe_forward = 0  # vector-field evaluations in the last forward pass
        self.nfe_backward = 0  # vector-field VJPs in the last backward pass
        glorot_(self)

    @property
    def graph_safe(self) -> bool:
        """Fixed steps never synchronise with the host: the training step can be a CUDA graph."""
        return self.solver in FIXED_SOLVERS and self.backprop == "full"

    @property
    def reports_nfe(self) -> bool:
        """Adaptive solvers count their function evaluations (``nfe_forward/backward``)."""
        return self.solver in ADAPTIVE_SOLVERS

    # -- dynamics --------------------------------------------------------------------------
    def drive(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Input projections for F and G, for every time step at once."""
        return self.F.U(x), None if self.gate is None else self.gate.U(x)

    def initial_state(self, x: torch.Tensor) -> torch.Tensor:
        """h0 for every sequence of ``x`` (B, T, I): (B, N)."""
        if self.h0_map is not None:
            return self.h0_map(x[:, 0])
        return self.h0.expand(x.shape[0], -1)

    def vector_field(
        self, h: torch.Tensor, uf: torch.Tensor, ug: torch.Tensor | None
    ) -> torch.Tensor:
        """dh/dt at state h under the (projected) input: (G *) (-h + F) / tau."""
        flow = self.F(h, uf) - h
        if self.gate is not None:
            flow = self.gate(h, ug) * flow
        return flow / self.tau

    # -- integration -----------------------------------------------------------------------
    def forward(self, x: torch.Tensor, dt: torch.Tensor) -> torch.Tensor:
        return self.readout(self.states(x, dt))

    def states(self, x: torch.Tensor, dt: torch.Tensor) -> torch.Tensor:
        """The hidden state at the end of every interval, (B, T, N)."""
        if self.solver in FIXED_SOLVERS and impl.selected() == "fast":
            return ode_torch_fast.fixed_states(self, x, dt)
        if self.solver in FIXED_SOLVERS and self.backprop != "full":
            raise ValueError(f"backprop: {self.backprop} runs on the fast path only; "
                             "--impl reference has backprop: full")
        uf, ug = self.drive(x)
        h = self.initial_state(x)
        if self.solver in FIXED_SOLVERS:
            return self._fixed(h, uf, ug, dt)
        return self._adaptive(h, uf, ug, dt)

    # -- analysis interface (bench.analysis.attractors) --------------------------------------------
    discrete = False  # a flow: analysed through its vector field

    def field(self, h: torch.Tensor, dt: float) -> torch.Tensor:
        """The zero-input vector field over one sampling interval, dt * dh/dt, (B, N)."""
        uf = h.new_zeros(h.shape[0], self.F.W0.out_features)  # U x = 0 at zero input
        ug = None if self.gate is None else h.new_zeros(h.shape)
        return dt * self.vector_field(h, uf, ug)

    def observe(self, h: torch.Tensor) -> torch.Tensor:
        """The readout of states h, (B, O)."""
        return self.readout(h)

    def gate_values(self, h: torch.Tensor) -> torch.Tensor | None:
        """The timescale gate G at zero input, (B, N); None for a model without a gate."""
        if self.gate is None:
            return None
        return self.gate(h, h.new_zeros(h.shape))  # U x = 0 at zero input

    def _fixed(self, h, uf, ug, dt):
        self.nfe_forward = 0
        outs = []
        for k in range(uf.shape[1]):
            u_f, u_g = uf[:, k], None if ug is None else ug[:, k]
            step = (dt[:, k] / self.steps).unsqueeze(-1)
            for _ in range(self.steps):
                if self.solver == "euler":
                    h = h + step * self.vector_field(h, u_f, u_g)
                    self.nfe_forward += 1
                else:
                    k1 = self.vector_field(h, u_f, u_g)
                    k2 = self.vector_field(h + 0.5 * step * k1, u_f, u_g)
                    k3 = self.vector_field(h + 0.5 * step * k2, u_f, u_g)
                    k4 = self.vector_field(h + step * k3, u_f, u_g)
                    h = h + step * (k1 + 2 * k2 + 2 * k3 + k4) / 6
                    self.nfe_forward += 4
            outs.append(h)
        self.nfe_backward = self.nfe_forward if torch.is_grad_enabled() else 0
        return torch.stack(outs, dim=1)

    def _adaptive(self, h, uf, ug, dt):
        T = uf.shape[1]
        self.nfe_forward = 0
        self.nfe_backward = 0

        def count_backward(grad):
            self.nfe_backward += 1
            return grad

        def rhs(s, state):
            # Piecewise-constant input: interval k is [k, k+1). Index with a tensor, not
            # int(s), so that a GPU is not synchronised at every evaluation.
            k = s.detach().floor().long().clamp(0, T - 1).reshape(1)
            f = dt.index_select(1, k) * self.vector_field(
                state, uf.index_select(1, k)[:, 0],
                None if ug is None else ug.index_select(1, k)[:, 0],
            )
            self.nfe_forward += 1
            if f.requires_grad:
                f.register_hook(count_backward)
            return f

        grid = torch.arange(T + 1, dtype=h.dtype, device=h.device)
        options = {"jump_t": grid[1:-1], "max_num_steps": self.max_steps}
        kwargs = {}
        if self.backprop == "adjoint":  # U x is not a parameter of rhs: its gradient flows too
            field = [p for n, p in self.named_parameters()
                     if n.startswith(("F.", "gate.")) and ".U." not in n]
            kwargs["adjoint_params"] = (*field, uf, *(() if ug is None else (ug,)))
        solve = odeint_adjoint if self.backprop == "adjoint" else odeint
        states = solve(rhs, h, grid, method=self.solver, rtol=self.rtol, atol=self.atol,
                       options=options, **kwargs)
        return states[1:].transpose(0, 1)


def ode_from_config(config: dict, n_inputs: int, n_outputs: int, *, gated: bool) -> ODERNN:
    """Build an :class:`ODERNN` from a model config (keys as in ``baselines/*/metadata.yaml``)."""
    return ODERNN(
        n_inputs,
        n_outputs,
        N=config["N"],
        widths=config["widths"],
        activation=config.get("activation", "relu"),
        gated=gated,
        linear_output=config.get("linear_output", True),
        tau=config.get("tau", 1.0),
        solver=config.get("solver", "euler"),
        steps_per_interval=config.get("steps_per_interval", 1),
        rtol=config.get("rtol", 1e-6),
        atol=config.get("atol", 1e-6),
        h0=config.get("h0", "learned"),
        max_steps=config.get("max_steps", 100_000),
        backprop=config.get("backprop", "full"),
    )
