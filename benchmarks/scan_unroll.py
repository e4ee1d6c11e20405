"""Which ``lax.scan`` unroll makes the JAX gnODE's training step fastest on this device?

    python benchmarks/scan_unroll.py [--device cpu|cuda] [--B 100 --T 100 --N 100]

Times one training step (forward + backward + AdamW, Euler, fast path) for several unroll
factors, in this one process, and prints the medians and their ratio to unroll 1. The
suite's choice per platform is ``bench.models.ode_jax_fast.UNROLL``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.models import ode_jax_fast
from bench.perf import step_time
from bench.spec.registry import select_models


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--B", type=int, default=100)
    p.add_argument("--T", type=int, default=100)
    p.add_argument("--N", type=int, default=100)
    p.add_argument("--unrolls", default="1,2,4,8,16")
    args = p.parse_args()
    spec = select_models("gnode")[0]
    times = {}
    for u in map(int, args.unrolls.split(",")):
        ode_jax_fast.UNROLL = {k: u for k in ode_jax_fast.UNROLL}
        case = step_time.Case("gnode", "jax", args.B, args.T, args.N, "euler")
        times[u] = step_time.measure(case, spec, args.device)["step_median_ms"]
    first = times[min(times)]
    print(f"gnODE/JAX Euler step, B={args.B} T={args.T} N={args.N} on {args.device}")
    for u, t in times.items():
        print(f"unroll {u:3d}: {t:8.2f} ms  ({t / first:.2f} x unroll {min(times)})")


if __name__ == "__main__":
    main()
