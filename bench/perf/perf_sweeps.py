"""The sweeps of ``make perf``: step time against T and against N, and peak memory against T
under each backprop mode (``bench.models.backprop_modes.MODES``).

Each point is a :class:`bench.perf.step_time.Case` timed like the fixed sizes, with fewer steps (the
long ones take seconds each): the gnODE (Euler, fast path) in both frameworks beside eager
``torch.nn.GRU``.
"""

from __future__ import annotations

from bench.models.backprop_modes import MODES
from bench.perf.step_time import Case

T_SWEEP = (100, 300, 1000, 3000, 10000)  # at B = 32, N = 64: the long size's
N_SWEEP = (32, 64, 128, 256, 512, 1024)  # at B = 100, T = 100: the flip-flop scale
WARMUP, REPEATS = 1, 5
# PyTorch's adjoint solves every interval backwards in Python (torchdiffeq): about 0.6 s a
# step at T = 1000 on the 2-core CPU, so its CPU sweep stops there to keep make perf short.
TORCH_ADJOINT_MAX_T = {"cpu": 1000, "gpu": 10000}


def cases(device_class: str) -> list[Case]:
    """Every point of both sweeps on this kind of device."""
    def point(model: str, fw: str, B: int, T: int, N: int, sweep: str, *, backprop="full",
              impl="fast") -> Case:
        solver = "euler" if model == "gnode" else None
        return Case(model, fw, B, T, N, solver, impl, backprop, REPEATS, WARMUP, sweep)

    out = []
    adjoint_max_t = TORCH_ADJOINT_MAX_T[device_class]
    for T in T_SWEEP:
        for fw in ("torch", "jax"):
            too_long = fw == "torch" and adjoint_max_t < T
            for backprop in MODES:
                if not (backprop == "adjoint" and too_long):
                    out.append(point("gnode", fw, 32, T, 64, "T", backprop=backprop))
        out.append(point("gru", "torch", 32, T, 64, "T", impl="reference"))
    for N in N_SWEEP:
        out += [point("gnode", fw, 100, 100, N, "N") for fw in ("torch", "jax")]
        out.append(point("gru", "torch", 100, 100, N, "N", impl="reference"))
    return out
