"""The Tsit5 pair added to torchdiffeq (``bench.models.tsit5_torch``): order conditions of its
coefficients, and its order of convergence on an ODE with a known solution."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torchdiffeq import odeint

from bench.models import tsit5_torch


def test_tableau_satisfies_the_order_conditions():
    c = np.concatenate([[0.0], tsit5_torch.TABLEAU.alpha.numpy()])
    A = np.zeros((7, 7))
    for i, row in enumerate(tsit5_torch.TABLEAU.beta, start=1):
        A[i, : len(row)] = row.numpy()
    b, bhat = np.array(tsit5_torch.B_SOL), np.array(tsit5_torch.B_HAT)
    np.testing.assert_allclose(A.sum(axis=1), c, atol=1e-12)  # row sums are the nodes
    for w, order in ((b, 5), (bhat, 4)):  # sum b c^(k-1) = 1/k up to the order
        for k in range(1, order + 1):
            assert np.dot(w, c ** (k - 1)) == pytest.approx(1 / k, abs=1e-12)
    assert np.dot(b, A @ c) == pytest.approx(1 / 6, abs=1e-12)
    assert np.dot(b, A @ (A @ c)) == pytest.approx(1 / 24, abs=1e-12)


@pytest.mark.parametrize("theta", [0.25, 0.5, 0.8, 1.0])
def test_dense_output_weights(theta):
    """Consistent continuous extension: sum b_i(theta) = theta, sum b_i(theta) c_i = theta^2/2,
    and b(1) is the solution weights."""
    c = np.concatenate([[0.0], tsit5_torch.TABLEAU.alpha.numpy()])
    w = np.array(tsit5_torch.dense_weights(theta))
    assert w.sum() == pytest.approx(theta, abs=1e-12)
    assert np.dot(w, c) == pytest.approx(theta**2 / 2, abs=1e-12)
    if theta == 1.0:
        np.testing.assert_allclose(w, tsit5_torch.B_SOL, atol=1e-12)


def test_fifth_order_convergence_on_a_known_solution():
    """y' = y cos t, y(0) = 1: y(t) = exp(sin t). Halving the step cuts the error about 2^5
    times (a little more before the asymptotic regime, as for dopri5)."""

    def f(t, y):
        return y * torch.cos(t)

    y0, t = torch.ones(1, dtype=torch.float64), torch.tensor([0.0, 2.0], dtype=torch.float64)
    exact = math.exp(math.sin(2.0))
    errors = []
    for h in (0.05, 0.025):
        grid = torch.arange(0.0, 2.0 + 1e-9, h, dtype=torch.float64)
        # Fixed steps from the adaptive solver: every grid point forced as a step end, and
        # tolerances so loose that no step is ever refined.
        y = odeint(f, y0, t, method="tsit5", rtol=1e3, atol=1e3,
                   options={"step_t": grid, "first_step": h, "max_step": h})
        errors.append(abs(float(y[-1]) - exact))
    assert 4.6 < math.log2(errors[0] / errors[1]) < 6.0
