"""Which implementation of the suite's own models runs: ``fast`` (the default) or ``reference``.

Both compute the same function; tests hold their outputs and gradients together within float32
tolerance. ``reference`` is the plain code path, kept for checking (``--impl reference``).
Models read the selection when they run (PyTorch) or are traced (JAX), so select it before
building a training step.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

IMPLS = ("fast", "reference")
# The command line sets this variable, so that the cells' child processes inherit the choice.
ENV = "CTRNN_BENCH_IMPL"
_selected: ContextVar[str | None] = ContextVar("impl", default=None)


def selected() -> str:
    """The implementation in force here: ``using``'s, else ``$CTRNN_BENCH_IMPL``'s, else fast."""
    name = _selected.get() or os.environ.get(ENV) or "fast"
    if name not in IMPLS:
        raise ValueError(f"{ENV}={name!r} is not an implementation; choose one of "
                         f"{', '.join(IMPLS)}")
    return name


@contextmanager
def using(name: str) -> Iterator[None]:
    """Run the enclosed code with implementation ``name`` selected."""
    if name not in IMPLS:
        raise ValueError(f"unknown implementation {name!r}; choose one of {', '.join(IMPLS)}")
    token = _selected.set(name)
    try:
        yield
    finally:
        _selected.reset(token)


# How reverse mode stores the forward pass of the fixed-step ODE models (``memory`` in a model
# config): every step, chunk boundaries with recomputation, or nothing (the adjoint method).
MEMORY_MODES = ("full", "checkpoint", "adjoint")


def check_memory(memory: str, solver: str, fixed_solvers: tuple[str, ...],
                 no_adjoint: tuple[str, ...] = ()) -> None:
    """A memory mode that ``solver`` offers, or a ValueError that says which it does."""
    if memory not in MEMORY_MODES:
        raise ValueError(f"memory {memory!r} is not a mode; choose one of "
                         f"{', '.join(MEMORY_MODES)}")
    if memory == "checkpoint" and solver not in fixed_solvers:
        raise ValueError(f"memory: checkpoint is for fixed-step solvers; with {solver} "
                         "use memory: adjoint")
    if memory == "adjoint" and solver in no_adjoint:
        raise ValueError(f"memory: adjoint is not offered with {solver} here; use euler or "
                         "an adaptive solver")
