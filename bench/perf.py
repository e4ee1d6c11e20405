"""``python -m bench perf``: the time of one training step (forward + backward + AdamW update)
for every baseline in both frameworks, at fixed sizes, beside ``torch.nn.GRU`` measured in the
same run (issue 6; this is its measuring half, the fast paths are still to come).

Every configuration runs in its own process (so its peak memory is its own), is warmed up,
then timed over ``repeats`` steps with the device synchronised around each; the record keeps
the median and interquartile range, the compile time (JAX), peak memory and, for adaptive
solvers, the number of field evaluations. Records are result files under ``results/perf``.
"""

from __future__ import annotations

import multiprocessing
import resource
import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from bench.registry import ModelSpec

SIZES = {"cpu": [(100, 100, 100)],  # (B, T, N)
         "gpu": [(100, 100, 100), (256, 500, 256), (32, 5000, 64)]}
IO = 3  # inputs and outputs per step: the flip-flop's
WARMUP, REPEATS = 3, 20
ODE = {"activation": "tanh", "tau": 0.01, "steps_per_interval": 1, "rtol": 1e-3,
       "atol": 1e-4, "h0": "learned", "max_steps": 100_000, "linear_output": True}
SOLVERS = {"gnode": ("euler", "dopri5"), "node": ("euler", "dopri5")}


@dataclass(frozen=True)
class Case:
    model: str
    framework: str
    B: int
    T: int
    N: int
    solver: str | None = None  # ODE models only

    def config(self, spec: ModelSpec) -> dict[str, Any]:
        config = {**spec.metadata["config"], "N": self.N}
        if self.solver is not None:
            # F: one hidden layer of width N
            config.update({k: v for k, v in ODE.items() if k in config}, widths=[self.N],
                          solver=self.solver)
        return config

    @property
    def label(self) -> str:
        solver = f" {self.solver}" if self.solver else ""
        return f"{self.model}/{self.framework}{solver} B={self.B} T={self.T} N={self.N}"


def cases(models: dict[str, ModelSpec], frameworks: list[str], sizes) -> list[Case]:
    out = []
    for B, T, N in sizes:
        for name, spec in models.items():
            for fw in frameworks:
                if fw not in spec.frameworks:
                    continue
                for solver in SOLVERS.get(name, (None,)):
                    out.append(Case(name, fw, B, T, N, solver))
    return out


def _data(case: Case) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((case.B, case.T, IO)).astype(np.float32)
    y = rng.standard_normal((case.B, case.T, IO)).astype(np.float32)
    return x, np.full((case.B, case.T), 0.01, np.float32), y


def _stats(times: list[float]) -> dict[str, float]:
    q1, med, q3 = np.percentile(np.asarray(times) * 1e3, [25, 50, 75])
    return {"step_median_ms": float(med), "step_iqr_ms": float(q3 - q1)}


def _torch(case: Case, spec: ModelSpec, device: str) -> dict[str, Any]:
    import torch

    torch.manual_seed(0)
    model = spec.load("torch").build(case.config(spec), IO, IO).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x, dt, y = (torch.as_tensor(a, device=device) for a in _data(case))
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)

    def step() -> None:
        loss = torch.mean((model(x, dt) - y) ** 2)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    times = []
    for i in range(WARMUP + REPEATS):
        sync()
        t0 = time.perf_counter()
        step()
        sync()
        if i >= WARMUP:
            times.append(time.perf_counter() - t0)
    nfe = getattr(model, "nfe_forward", None) if getattr(model, "reports_nfe", False) else None
    return {**_stats(times), "compile_s": None, "nfe_forward": nfe,
            "peak_gpu_mb": torch.cuda.max_memory_allocated() / 2**20 if device == "cuda"
            else None}


def _jax(case: Case, spec: ModelSpec, device: str) -> dict[str, Any]:
    import equinox as eqx
    import jax
    import jax.numpy as jnp
    import optax

    from bench.train_jax import MATMUL_PRECISION, jax_device

    dev = jax_device(device)
    with jax.default_matmul_precision(MATMUL_PRECISION), jax.default_device(dev):
        model = spec.load("jax").build(case.config(spec), IO, IO, key=jax.random.PRNGKey(0))
        params, static = eqx.partition(model, eqx.is_inexact_array)
        optim = optax.adamw(1e-3)
        state = optim.init(params)
        x, dt, y = (jax.device_put(a, dev) for a in _data(case))

        def loss_fn(p):
            return jnp.mean((jax.vmap(eqx.combine(p, static))(x, dt) - y) ** 2)

        @eqx.filter_jit
        def step(p, s):
            grads = jax.grad(loss_fn)(p)
            updates, s = optim.update(grads, s, p)
            return optax.apply_updates(p, updates), s

        t0 = time.perf_counter()
        compiled = step.lower(params, state).compile()  # type: ignore[attr-defined]
        compile_s = time.perf_counter() - t0
        times = []
        for i in range(WARMUP + REPEATS):
            t0 = time.perf_counter()
            params, state = compiled(params, state)
            jax.block_until_ready(params)
            if i >= WARMUP:
                times.append(time.perf_counter() - t0)
        peak = (dev.memory_stats() or {}).get("peak_bytes_in_use") if device != "cpu" else None
        nfe = None
        trained = eqx.combine(params, static)
        if getattr(trained, "reports_nfe", False):  # mean over the batch: own grid per sequence
            _, stats = eqx.filter_jit(jax.vmap(lambda a, b: trained(a, b, return_stats=True)))(
                x, dt)
            nfe = float(jnp.mean(stats["nfe_forward"]))
    return {**_stats(times), "compile_s": compile_s, "nfe_forward": nfe,
            "peak_gpu_mb": peak / 2**20 if peak else None}


def measure(case: Case, spec: ModelSpec, device: str) -> dict[str, Any]:
    """One case, in this process."""
    run = _torch if case.framework == "torch" else _jax
    out = run(case, spec, device)
    out["peak_host_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {**asdict(case), **out, "repeats": REPEATS, "warmup": WARMUP}


def _child(conn, case: Case, spec: ModelSpec, device: str) -> None:
    try:
        conn.send(measure(case, spec, device))
    except Exception as e:  # recorded, and the other cases go on
        conn.send({**asdict(case), "error": f"{type(e).__name__}: {e}"})
    finally:
        conn.close()


def measure_isolated(case: Case, spec: ModelSpec, device: str) -> dict[str, Any]:
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(child, case, spec, device))
    proc.start()
    child.close()
    try:
        record = parent.recv()
    except EOFError:
        record = {**asdict(case), "error": f"the process died (exit code {proc.exitcode})"}
    proc.join()
    return record


def with_ratios(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each record's median step time over torch.nn.GRU's at the same size, this run."""
    gru = {(r["B"], r["T"], r["N"]): r["step_median_ms"] for r in records
           if r["model"] == "gru" and r["framework"] == "torch" and "error" not in r}
    out = []
    for r in records:
        ref = gru.get((r["B"], r["T"], r["N"]))
        ok = ref and "error" not in r
        out.append({**r, "ratio_to_torch_gru": r["step_median_ms"] / ref if ok else None})
    return out
