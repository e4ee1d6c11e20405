"""How reverse mode stores an ODE model's forward pass: ``backprop`` in its config.

- ``full``: every step's intermediates (autograd, reverse mode);
- ``checkpoint``: chunk boundaries only, recomputing each chunk in backward (fixed-step
  solvers);
- ``adjoint``: nothing; gradients come from a backward solve (the adjoint method).

The fast paths (``ode_torch_fast``, ``ode_jax_fast``) implement the three; the reference path
keeps every step. docs/performance.md measures what each costs.
"""

from __future__ import annotations

MODES = ("full", "checkpoint", "adjoint")


def check(backprop: str, solver: str, fixed_solvers: tuple[str, ...],
          no_adjoint: tuple[str, ...] = ()) -> None:
    """A mode that ``solver`` offers, or a ValueError that says which it does."""
    if backprop not in MODES:
        raise ValueError(f"backprop {backprop!r} is not a mode; choose one of "
                         f"{', '.join(MODES)}")
    if backprop == "checkpoint" and solver not in fixed_solvers:
        raise ValueError(f"backprop: checkpoint is for fixed-step solvers; with {solver} "
                         "use backprop: adjoint")
    if backprop == "adjoint" and solver in no_adjoint:
        raise ValueError(f"backprop: adjoint is not offered with {solver} here; use euler or "
                         "an adaptive solver")
