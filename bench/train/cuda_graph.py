"""The PyTorch fast path on a GPU: the whole training step captured in a CUDA graph.

At flip-flop sizes a fixed-step ODE model's training step is hundreds of tiny kernels per time
step, and the host cannot launch them as fast as the GPU runs them. Captured once (forward,
loss, backward and the optimiser update), the step replays with one launch. The capture needs
static shapes (one graph per batch size), no host synchronisation inside the step, and an
optimiser made with ``capturable=True``. Models opt in with ``graph_safe = True``.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch


def wants_graphs(model: torch.nn.Module, device: torch.device | str) -> bool:
    """Whether the training step of ``model`` should be captured: the fast path on a GPU."""
    from bench.models import impl
    from bench.spec.contract import is_graph_safe

    return (torch.device(device).type == "cuda" and impl.selected() == "fast"
            and is_graph_safe(model))


class GraphedStep:
    """``step(batch)`` trains on ``batch`` like the eager step and returns the loss.

    ``loss_fn(batch)`` computes the loss of the model on a batch (a dict of tensors). Capturing
    runs ``warmup`` steps on a side stream, as CUDA graphs require; the model's parameters and
    the optimiser's state are put back afterwards, so training goes on exactly where it was.
    """

    def __init__(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                 loss_fn: Callable[[dict[str, torch.Tensor]], torch.Tensor], warmup: int = 3):
        self.model, self.optimizer, self.loss_fn, self.warmup = model, optimizer, loss_fn, warmup
        self.graphs: dict[tuple, tuple[torch.cuda.CUDAGraph, dict, torch.Tensor]] = {}
        self.capture_s = 0.0

    @staticmethod
    def _key(batch: dict[str, torch.Tensor]) -> tuple:
        return tuple((k, tuple(v.shape)) for k, v in sorted(batch.items()))

    def prepare(self, batch: dict[str, torch.Tensor]) -> None:
        """Capture a graph for this batch's shapes unless one exists (outside any timer)."""
        key = self._key(batch)
        if key in self.graphs:
            return
        t0 = time.perf_counter()
        params = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        state = {p: {k: v.clone() if torch.is_tensor(v) else v for k, v in s.items()}
                 for p, s in self.optimizer.state.items()}
        rng = (torch.get_rng_state(), torch.cuda.get_rng_state())
        static = {k: v.clone() for k, v in batch.items()}
        try:
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                for _ in range(self.warmup):
                    self._eager(static)
            torch.cuda.current_stream().wait_stream(side)
            graph = torch.cuda.CUDAGraph()
            self.optimizer.zero_grad(set_to_none=True)  # gradients live in the graph's pool
            with torch.cuda.graph(graph):
                loss = self.loss_fn(static)
                loss.backward()
                self.optimizer.step()
        finally:
            torch.cuda.synchronize()  # the side stream's work is done before we undo it
            self._restore(params, state)
            torch.set_rng_state(rng[0])
            torch.cuda.set_rng_state(rng[1])
        torch.cuda.synchronize()
        self.graphs[key] = (graph, static, loss)
        self.capture_s += time.perf_counter() - t0

    def _eager(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        self.optimizer.zero_grad(set_to_none=True)
        loss = self.loss_fn(batch)
        loss.backward()
        self.optimizer.step()
        return loss

    def _restore(self, params: dict, state: dict) -> None:
        """Undo the warm-up and capture updates, in place (the graphs hold these tensors)."""
        with torch.no_grad():
            for k, v in self.model.state_dict().items():
                v.copy_(params[k])
            for p, s in self.optimizer.state.items():
                for k, v in s.items():
                    if torch.is_tensor(v):
                        v.copy_(state[p][k]) if p in state else v.zero_()

    def __call__(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        self.prepare(batch)
        graph, static, loss = self.graphs[self._key(batch)]
        for k, v in batch.items():
            static[k].copy_(v)
        graph.replay()
        return loss.detach().clone()
