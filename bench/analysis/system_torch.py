"""A trained PyTorch model seen as a dynamical system, for ``bench.analysis.attractors``.

The model supplies the analysis interface (``states``, ``field``, ``observe``, ``discrete``;
see submissions/README.md); this adaptor batches it, runs the slow-point search with
``torch.optim.Adam``, and computes Jacobians with autograd. Inputs and outputs are numpy.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch


class TorchSystem:
    def __init__(self, model: Any, dt: float, device: str = "cpu") -> None:
        self.model, self.dt, self.device = model.eval(), float(dt), torch.device(device)
        self.discrete = bool(model.discrete)
        for p in model.parameters():
            p.requires_grad_(False)

    def _t(self, a: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(np.asarray(a, np.float32), device=self.device)

    @torch.no_grad()
    def states(self, inputs: np.ndarray, dt: np.ndarray) -> np.ndarray:
        """The full state after every interval, (B, T, D)."""
        return self.model.states(self._t(inputs), self._t(dt)).cpu().numpy()

    @torch.no_grad()
    def field(self, h: np.ndarray) -> np.ndarray:
        """Zero-input velocity per sampling interval, (B, D)."""
        return self.model.field(self._t(h), self.dt).cpu().numpy()

    @torch.no_grad()
    def observe(self, h: np.ndarray) -> np.ndarray:
        return self.model.observe(self._t(h)).cpu().numpy()

    @torch.no_grad()
    def gate(self, h: np.ndarray) -> np.ndarray | None:
        """The model's gate at zero input, (B, D), or None where it exposes none."""
        values = getattr(self.model, "gate_values", None)
        out = values(self._t(h)) if values is not None else None
        return None if out is None else out.cpu().numpy()

    def minimise(self, h0: np.ndarray, steps: int, lr: float) -> tuple[np.ndarray, np.ndarray]:
        """Minimise q(h) = |field(h)|^2 / 2 from every row of ``h0`` at once (Adam, with the
        learning rate decayed 100-fold); returns the final states and their q."""
        h = self._t(h0).clone().requires_grad_(True)
        opt = torch.optim.Adam([h], lr=lr)
        sched = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=0.01 ** (1 / max(steps, 1)))
        for _ in range(steps):
            opt.zero_grad(set_to_none=True)
            q = 0.5 * (self.model.field(h, self.dt) ** 2).sum(-1)
            q.sum().backward()  # the rows are independent: one backward serves them all
            opt.step()
            sched.step()
        with torch.no_grad():
            q = 0.5 * (self.model.field(h, self.dt) ** 2).sum(-1)
        return h.detach().cpu().numpy(), q.cpu().numpy()

    def jacobians(self, h: np.ndarray) -> np.ndarray:
        """d field / d h at every row of ``h``, (K, D, D): one backward pass per state
        dimension, shared by all rows (they do not interact)."""
        x = self._t(h).clone().requires_grad_(True)
        f = self.model.field(x, self.dt)
        rows = [torch.autograd.grad(f[:, i].sum(), x, retain_graph=True)[0]
                for i in range(f.shape[1])]
        return torch.stack(rows, dim=1).cpu().numpy()
