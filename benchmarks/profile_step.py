"""Where does one training step's time go? A profiler summary of one perf case.

    python benchmarks/profile_step.py --model gnode --framework torch --device cuda \
        [--impl fast|reference] [--B 100 --T 100 --N 100] [--steps 5]

PyTorch: ``torch.profiler`` over ``--steps`` steps after warm-up; prints the busiest operators,
the number of operator calls and of GPU kernels per step, and the host (CPU) time per step
beside the wall-clock. JAX: the compiled step's HLO op count and the wall-clock per step (use
``jax.profiler`` traces with TensorBoard for kernels). For a missed ``make perf`` target, this is
the summary to report.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.models import impl
from bench.perf import step_time
from bench.spec.registry import select_models


def torch_profile(case: step_time.Case, device: str, steps: int) -> None:
    import torch
    from torch.profiler import ProfilerActivity, profile

    from bench.train.cuda_graph import GraphedStep, wants_graphs

    spec = select_models(case.model)[0]
    model = spec.load("torch").build(case.config(spec), step_time.IO, step_time.IO).to(device)
    x, dt, y = (torch.as_tensor(a, device=device) for a in step_time._data(case))
    batch = {"inputs": x, "dt": dt, "targets": y}
    graphed = wants_graphs(model, device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, capturable=graphed)
    step = GraphedStep(model, opt, lambda b: torch.mean((model(b["inputs"], b["dt"])
                                                         - b["targets"]) ** 2))
    run = (lambda: step(batch)) if graphed else (lambda: step._eager(batch))
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    for _ in range(3):
        run()
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device == "cuda" else [])
    sync()
    t0 = time.perf_counter()
    with profile(activities=activities) as prof:
        for _ in range(steps):
            run()
        sync()
    wall = (time.perf_counter() - t0) / steps
    events = prof.key_averages()
    print(events.table(sort_by="self_cuda_time_total" if device == "cuda"
                       else "self_cpu_time_total", row_limit=15))
    ops = sum(e.count for e in events if not e.key.startswith(("ProfilerStep", "cuda")))
    kernels = sum(1 for e in prof.events() if e.device_type.name == "CUDA")
    host = sum(e.self_cpu_time_total for e in events) / 1e3 / steps
    print(f"{case.label}, CUDA graph: {graphed}")
    print(f"per step: wall {1e3 * wall:.2f} ms (profiled), host (CPU) time {host:.2f} ms, "
          f"{ops / steps:.0f} operator calls, {kernels / steps:.0f} GPU kernels")


def jax_profile(case: step_time.Case, device: str, steps: int) -> None:
    import equinox as eqx
    import jax
    import jax.numpy as jnp
    import optax

    spec = select_models(case.model)[0]
    model = spec.load("jax").build(case.config(spec), step_time.IO, step_time.IO,
                                   key=jax.random.PRNGKey(0))
    params, static = eqx.partition(model, eqx.is_inexact_array)
    optim = optax.adamw(1e-3)
    x, dt, y = step_time._data(case)

    def step(p, s):
        g = jax.grad(lambda p: jnp.mean((jax.vmap(eqx.combine(p, static))(x, dt) - y) ** 2))(p)
        u, s = optim.update(g, s, p)
        return optax.apply_updates(p, u), s

    lowered = jax.jit(step).lower(params, optim.init(params))
    compiled = lowered.compile()
    hlo = compiled.as_text() or ""
    state = optim.init(params)
    for _ in range(3):
        params, state = compiled(params, state)
    jax.block_until_ready(params)
    t0 = time.perf_counter()
    for _ in range(steps):
        params, state = compiled(params, state)
    jax.block_until_ready(params)
    wall = (time.perf_counter() - t0) / steps
    print(f"{case.label}: {1e3 * wall:.2f} ms a step; the optimised HLO has "
          f"{hlo.count(' = ')} instructions, {hlo.count('fusion')} fusion mentions, "
          f"{hlo.count('while')} 'while' mentions")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="gnode")
    p.add_argument("--framework", default="torch", choices=["torch", "jax"])
    p.add_argument("--device", default="cpu")
    p.add_argument("--impl", default="fast", choices=impl.IMPLS)
    p.add_argument("--solver", default="euler")
    for dim, default in (("B", 100), ("T", 100), ("N", 100)):
        p.add_argument(f"--{dim}", type=int, default=default)
    p.add_argument("--steps", type=int, default=5)
    a = p.parse_args()
    solver = a.solver if a.model in step_time.SOLVERS else None
    case = step_time.Case(a.model, a.framework, a.B, a.T, a.N, solver, a.impl)
    with impl.using(a.impl):
        (torch_profile if a.framework == "torch" else jax_profile)(case, a.device, a.steps)


if __name__ == "__main__":
    main()
