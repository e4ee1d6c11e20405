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
