"""Tsitouras' 5(4) Runge-Kutta pair for torchdiffeq, which ships dopri5 but no Tsit5.

Ch. Tsitouras, "Runge-Kutta pairs of order 5(4) satisfying only the first column simplifying
assumption", Computers & Mathematics with Applications 62 (2011) 770-775. The coefficients
below are that paper's; diffrax's ``Tsit5`` uses the same ones, so both frameworks integrate
with one method. Importing this module registers the method as ``tsit5``.
"""

from __future__ import annotations

import importlib

import torch
from torchdiffeq._impl.rk_common import RKAdaptiveStepsizeODESolver, _ButcherTableau

# The package re-exports the function ``odeint`` under the module's name; go to the module.
_odeint_module = importlib.import_module("torchdiffeq._impl.odeint")


def _t(values: list[float]) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64)


B_SOL = [0.09646076681806523, 0.01, 0.4798896504144996, 1.379008574103742,
         -3.290069515436081, 2.324710524099774, 0.0]
B_HAT = [0.09468075576583945, 0.00918356554034325, 0.4877705284247616, 1.234297566930479,
         -2.7077123499835256, 1.866628418170587, 1 / 66]

TABLEAU = _ButcherTableau(
    alpha=_t([0.161, 0.327, 0.9, 0.9800255409045097, 1.0, 1.0]),
    beta=[
        _t([0.161]),
        _t([-0.00848065549235699, 0.335480655492357]),
        _t([2.8971530571054935, -6.359448489975075, 4.3622954328695815]),
        _t([5.325864828439257, -11.748883564062828, 7.4955393428898365, -0.09249506636175525]),
        _t([5.86145544294642, -12.92096931784711, 8.159367898576159, -0.071584973281401,
            -0.02826905039406838]),
        _t(B_SOL[:6]),
    ],
    c_sol=_t(B_SOL),
    c_error=_t([b - bh for b, bh in zip(B_SOL, B_HAT)]),
)


def dense_weights(theta: float) -> list[float]:
    """b_i(theta) of Tsit5's continuous extension: y(t0 + theta h) = y0 + h sum b_i k_i."""
    t = theta
    return [
        -1.0530884977290216 * t * (t - 1.3299890189751412)
        * (t**2 - 1.4364028541716351 * t + 0.7139816917074209),
        0.1017 * t**2 * (t**2 - 2.1966568338249754 * t + 1.2949852507374631),
        2.490627285651252793 * t**2 * (t**2 - 2.38535645472061657 * t + 1.57803468208092486),
        -16.54810288924490272 * (t - 1.21712927295533244) * (t - 0.61620406037800089) * t**2,
        47.37952196281928122 * (t - 1.203071208372362603) * (t - 0.658047292653547382) * t**2,
        -34.87065786149660974 * (t - 1.2) * (t - 0.666666666666666667) * t**2,
        2.5 * (t - 1) * (t - 0.6) * t**2,
    ]


class Tsit5Solver(RKAdaptiveStepsizeODESolver):
    order = 5
    tableau = TABLEAU
    mid = _t(dense_weights(0.5))  # torchdiffeq's interpolation needs y at the step's middle


_odeint_module.SOLVERS.setdefault("tsit5", Tsit5Solver)
