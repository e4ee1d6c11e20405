"""The model contract as typed signatures: what a model's folder provides and what the harness
looks for. Baselines and submissions follow the same contract (``submissions/README.md`` says
it in prose; this module is what the code checks).

A model folder holds ``metadata.yaml`` and one file per framework:

- ``torch_model.py`` with a :class:`TorchBuild` named ``build``, returning a :class:`TorchModel`;
- ``jax_model.py`` with a :class:`JaxBuild` named ``build``, returning a :class:`JaxModel`, and
  optionally a :class:`LoadTorchState` named ``load_torch_state`` (for parity tests).

Shapes: B sequences, T intervals, I inputs, O outputs, D the whole state (an LSTM's is
[h, c]). Input ``x[:, k]`` is held over an interval of length ``dt[:, k]``; output ``k`` is
read at its end, and depends on inputs ``0..k`` only.

Optional hooks, found by attribute: :class:`AnalysisInterface` (slow points, Jacobians,
portraits), :class:`GraphSafe` (CUDA-graph capture of the training step), and the function
evaluation counts of :class:`TorchReportsNFE` and :class:`JaxReportsNFE`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from collections.abc import Iterator

    import numpy as np

Array = Any  # a torch.Tensor or a jax.Array, by framework


class TorchModel(Protocol):
    """A ``torch.nn.Module``; every parameter is trained with the task's optimiser."""

    def __call__(self, x: Array, dt: Array) -> Array:
        """x (B, T, I), dt (B, T) -> (B, T, O): logits on a classification task."""
        ...

    def parameters(self) -> Iterator[Any]: ...


class TorchBuild(Protocol):
    """``build`` in ``torch_model.py``. The harness seeds ``torch.manual_seed`` first."""

    def __call__(self, config: dict[str, Any], n_inputs: int, n_outputs: int) -> TorchModel: ...


class JaxModel(Protocol):
    """An ``equinox.Module`` on one sequence (the harness ``vmap``s and ``jit``s it); every
    inexact array leaf is a trainable parameter."""

    def __call__(self, x: Array, dt: Array) -> Array:
        """x (T, I), dt (T,) -> (T, O)."""
        ...


class JaxBuild(Protocol):
    """``build`` in ``jax_model.py``."""

    def __call__(self, config: dict[str, Any], n_inputs: int, n_outputs: int, *,
                 key: Array) -> JaxModel: ...


class LoadTorchState(Protocol):
    """``load_torch_state`` in ``jax_model.py``: the JAX model with a PyTorch twin's weights."""

    def __call__(self, model: JaxModel, state: dict[str, np.ndarray]) -> JaxModel: ...


@runtime_checkable
class AnalysisInterface(Protocol):
    """What the attractor analysis needs. PyTorch members are batched; JAX members act on one
    sequence or one state. ``field`` must be differentiable in ``h``."""

    discrete: bool  # True for a map (a GRU-like update), False for a flow (an ODE)

    def states(self, x: Array, dt: Array) -> Array:
        """The whole state after every interval: (B, T, D) in PyTorch, (T, D) in JAX."""
        ...

    def field(self, h: Array, dt: float) -> Array:
        """The zero-input velocity over one interval ``dt``: ``dt * dh/dt`` for a flow,
        ``f(h) - h`` for a map; (B, D) or (D,)."""
        ...

    def observe(self, h: Array) -> Array:
        """The readout of states: (B, O) or (O,)."""
        ...


@runtime_checkable
class GraphSafe(Protocol):
    """``graph_safe = True``: the training step has static shapes and never waits on the host
    (no ``.item()``, no data-dependent control flow, no adaptive solver), so on a GPU the
    harness may capture it in a CUDA graph (``bench.train.cuda_graph``)."""

    graph_safe: bool


@runtime_checkable
class TorchReportsNFE(Protocol):
    """``reports_nfe = True``: after each forward and backward pass the module holds how many
    function evaluations they took."""

    reports_nfe: bool
    nfe_forward: float
    nfe_backward: float


@runtime_checkable
class JaxReportsNFE(Protocol):
    """``reports_nfe = True``: ``model(x, dt, return_stats=True)`` returns
    ``(y, {"nfe_forward": ...})``."""

    reports_nfe: bool

    def __call__(self, x: Array, dt: Array, return_stats: bool = False) -> Any: ...


ANALYSIS_MEMBERS = ("states", "field", "observe", "discrete")


def missing_analysis_members(model: Any) -> list[str]:
    """The members of :class:`AnalysisInterface` that ``model`` lacks (empty: it has them)."""
    return [name for name in ANALYSIS_MEMBERS if not hasattr(model, name)]


def is_graph_safe(model: Any) -> bool:
    return bool(getattr(model, "graph_safe", False))


def has_nfe_counts(model: Any) -> bool:
    """Whether ``model`` reports its function evaluations (``reports_nfe = True``)."""
    return bool(getattr(model, "reports_nfe", False))
