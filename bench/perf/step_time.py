"""``python -m bench perf``: the time of one training step (forward + backward + AdamW update)
for every baseline in both frameworks, at fixed sizes, beside ``torch.nn.GRU`` measured in the
same run.

Every case runs in its own process (so its peak memory is its own), is warmed up, then timed
over ``repeats`` steps with the device synchronised around each; the record keeps the median
and interquartile range, the compile or CUDA-graph capture time, peak memory and, for adaptive
solvers, the number of field evaluations. Cases with a fast path (``bench.models.impl``) run under
both implementations, and the fast one is checked against the reference: the relative
difference of their gradients is in the record. Records are result files under
``results/perf``.
"""

from __future__ import annotations

import resource
import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from bench.models import impl
from bench.run import wire
from bench.run.isolation import Limits
from bench.spec.contract import has_nfe_counts
from bench.spec.registry import ModelSpec

SIZES = {"cpu": [(100, 100, 100)],  # (B, T, N)
         "gpu": [(100, 100, 100), (256, 500, 256), (32, 5000, 64)]}
IO = 3  # inputs and outputs per step: the flip-flop's
WARMUP, REPEATS = 3, 20
# The reference PyTorch path's backward is quadratic in T (see bench.models.ode_torch_fast): longer
# cases are not checked against it.
PARITY_MAX_T = 1000
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
    impl: str = "fast"
    backprop: str = "full"  # ODE models only: bench.models.backprop_modes.MODES
    repeats: int = REPEATS
    warmup: int = WARMUP
    sweep: str | None = None  # "T" or "N" for the points of a sweep (bench.perf.perf_sweeps)

    def config(self, spec: ModelSpec) -> dict[str, Any]:
        config = {**spec.metadata["config"], "N": self.N}
        if self.solver is not None:
            # F: one hidden layer of width N
            config.update({k: v for k, v in ODE.items() if k in config}, widths=[self.N],
                          solver=self.solver, backprop=self.backprop)
        return config

    @property
    def label(self) -> str:
        solver = f" {self.solver}" if self.solver else ""
        backprop = f" backprop={self.backprop}" if self.backprop != "full" else ""
        return (f"{self.model}/{self.framework}{solver} {self.impl}{backprop} "
                f"B={self.B} T={self.T} N={self.N}")

    @property
    def name(self) -> str:
        """The record's file name, without the extension."""
        backprop = "" if self.backprop == "full" else f"-{self.backprop}"
        sweep = f"sweep{self.sweep}-" if self.sweep else ""
        return (f"{sweep}{self.model}-{self.framework}-{self.solver or 'own'}-{self.impl}"
                f"{backprop}-{self.B}-{self.T}-{self.N}")


def has_fast_path(config: dict[str, Any], framework: str, device: str) -> bool:
    """Whether the two implementations differ: fixed-step ODE models (fused step, scan unroll),
    and on a GPU the PyTorch models without a solver (a CUDA graph of cuDNN's step)."""
    from bench.models.ode_torch import FIXED_SOLVERS

    if "solver" in config:
        return config["solver"] in FIXED_SOLVERS
    return framework == "torch" and device == "cuda"


def cases(models: dict[str, ModelSpec], frameworks: list[str], sizes,
          device: str = "cpu") -> list[Case]:
    """Every baseline at every size, under both implementations where they differ."""
    out = []
    for B, T, N in sizes:
        for name, spec in models.items():
            for fw in frameworks:
                if fw not in spec.frameworks:
                    continue
                for solver in SOLVERS.get(name, (None,)):
                    config = Case(name, fw, B, T, N, solver).config(spec)
                    both = has_fast_path(config, fw, device)
                    for which in impl.IMPLS if both else ("fast",):
                        out.append(Case(name, fw, B, T, N, solver, which))
    return out


def _data(case: Case) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((case.B, case.T, IO)).astype(np.float32)
    y = rng.standard_normal((case.B, case.T, IO)).astype(np.float32)
    return x, np.full((case.B, case.T), 0.01, np.float32), y


def _stats(times: list[float]) -> dict[str, float]:
    q1, med, q3 = np.percentile(np.asarray(times) * 1e3, [25, 50, 75])
    return {"step_median_ms": float(med), "step_iqr_ms": float(q3 - q1)}


def _rel_diff(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    """max |a - b| / max |b| over matching arrays (gradients of the same parameters)."""
    return max(float(np.max(np.abs(x - y)) / (np.max(np.abs(y)) or 1.0)) for x, y in zip(a, b))


def _torch(case: Case, spec: ModelSpec, device: str) -> dict[str, Any]:
    import copy

    import torch

    from bench.train.cuda_graph import GraphedStep, wants_graphs

    torch.manual_seed(0)
    model = spec.load("torch").build(case.config(spec), IO, IO).to(device)
    x, dt, y = (torch.as_tensor(a, device=device) for a in _data(case))
    batch = {"inputs": x, "dt": dt, "targets": y}
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)

    def loss_fn(b: dict[str, torch.Tensor], m: torch.nn.Module = model) -> torch.Tensor:
        return torch.mean((m(b["inputs"], b["dt"]) - b["targets"]) ** 2)

    parity, twin = None, None
    if (case.impl == "fast" and has_fast_path(case.config(spec), "torch", device)
            and case.T <= PARITY_MAX_T):
        with impl.using("reference"):  # the reference gradient at the same parameters
            twin = copy.deepcopy(model)
            if hasattr(twin, "backprop"):
                twin.backprop = "full"  # the reference path keeps every step
            loss_fn(batch, twin).backward()
    with impl.using(case.impl):
        graphed = wants_graphs(model, device)
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3, capturable=graphed)
        graph = GraphedStep(model, opt, loss_fn)

        def step() -> None:
            if graphed:
                graph(batch)
                return
            opt.zero_grad(set_to_none=True)
            loss_fn(batch).backward()
            opt.step()

        saved = _saved_mb(model, lambda: loss_fn(batch))
        if graphed:
            graph.prepare(batch)
        if device == "cuda":
            torch.cuda.reset_peak_memory_stats()
        times = []
        for i in range(case.warmup + case.repeats):
            sync()
            t0 = time.perf_counter()
            step()
            sync()
            if i == 0 and twin is not None:  # the fast gradient at the initial parameters
                parity = _rel_diff([p.grad.cpu().numpy() for p in model.parameters()],
                                   [p.grad.cpu().numpy() for p in twin.parameters()])
            if i >= case.warmup:
                times.append(time.perf_counter() - t0)
    nfe = getattr(model, "nfe_forward", None) if has_nfe_counts(model) else None
    return {**_stats(times), "compile_s": graph.capture_s if graphed else None,
            "cuda_graph": graphed, "nfe_forward": nfe, "parity_grad_rel": parity,
            "activations_mb": saved,
            "peak_gpu_mb": torch.cuda.max_memory_allocated() / 2**20 if device == "cuda"
            else None}


def _saved_mb(model, loss) -> float:
    """MB of the tensors autograd keeps for backward over one forward pass (each storage
    once): the memory that grows with T and that the backprop modes cut."""
    import torch

    storages: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        storages[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        value = loss()
    value.backward()
    model.zero_grad(set_to_none=True)
    return sum(storages.values()) / 2**20


def _rss_mb() -> float:
    """This process's peak resident memory so far (MB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _jax(case: Case, spec: ModelSpec, device: str) -> dict[str, Any]:
    import equinox as eqx
    import jax
    import jax.numpy as jnp
    import optax

    from bench.train.train_jax import MATMUL_PRECISION, jax_device

    dev = jax_device(device)
    with jax.default_matmul_precision(MATMUL_PRECISION), jax.default_device(dev):
        model = spec.load("jax").build(case.config(spec), IO, IO, key=jax.random.PRNGKey(0))
        params, static = eqx.partition(model, eqx.is_inexact_array)
        optim = optax.adamw(1e-3)
        state = optim.init(params)
        x, dt, y = (jax.device_put(a, dev) for a in _data(case))

        def loss_fn(p, static=static):
            return jnp.mean((jax.vmap(eqx.combine(p, static))(x, dt) - y) ** 2)

        def grads(config: dict[str, Any]) -> list[np.ndarray]:
            m = spec.load("jax").build(config, IO, IO, key=jax.random.PRNGKey(0))
            p, s = eqx.partition(m, eqx.is_inexact_array)
            g = jax.jit(jax.grad(lambda p: loss_fn(p, s)))(p)
            return [np.asarray(a) for a in jax.tree_util.tree_leaves(g)]

        parity = None
        if (case.impl == "fast" and has_fast_path(case.config(spec), "jax", device)
                and case.T <= PARITY_MAX_T):
            with impl.using("fast"):
                fast = grads(case.config(spec))
            with impl.using("reference"):  # which keeps every step
                ref = grads({**case.config(spec), "backprop": "full"})
            parity = _rel_diff(fast, ref)

        @eqx.filter_jit
        def step(p, s):
            grads = jax.grad(loss_fn)(p)
            updates, s = optim.update(grads, s, p)
            return optax.apply_updates(p, updates), s

        with impl.using(case.impl):
            t0 = time.perf_counter()
            compiled = step.lower(params, state).compile()  # type: ignore[attr-defined]
            compile_s = time.perf_counter() - t0
        xla_memory = compiled.compiled.memory_analysis()  # the XLA executable under equinox
        times = []
        for i in range(case.warmup + case.repeats):
            t0 = time.perf_counter()
            params, state = compiled(params, state)
            jax.block_until_ready(params)
            if i >= case.warmup:
                times.append(time.perf_counter() - t0)
        peak = (dev.memory_stats() or {}).get("peak_bytes_in_use") if device != "cpu" else None
        nfe = None
        trained = eqx.combine(params, static)
        if has_nfe_counts(trained):  # mean over the batch: own grid per sequence
            _, stats = eqx.filter_jit(jax.vmap(lambda a, b: trained(a, b, return_stats=True)))(
                x, dt)
            nfe = float(jnp.mean(stats["nfe_forward"]))
    return {**_stats(times), "compile_s": compile_s, "cuda_graph": False, "nfe_forward": nfe,
            "parity_grad_rel": parity,
            # XLA's scratch buffers of the compiled step: where the saved activations live
            "activations_mb": xla_memory.temp_size_in_bytes / 2**20 if xla_memory else None,
            "peak_gpu_mb": peak / 2**20 if peak else None}


def measure(case: Case, spec: ModelSpec, device: str) -> dict[str, Any]:
    """One case, in this process."""
    run = _torch if case.framework == "torch" else _jax
    out = run(case, spec, device)
    out["peak_host_rss_mb"] = _rss_mb()
    return {**asdict(case), **out}


def case_main(job: tuple[Case, ModelSpec, str]) -> dict[str, Any]:
    """The isolated child's target (``bench.run.isolation``): one case's record, as plain data."""
    case, spec, device = job
    try:
        return measure(case, spec, device)
    except Exception as e:  # recorded, and the other cases go on
        return {**asdict(case), "error": f"{type(e).__name__}: {e}"}


PERF_LIMITS = Limits(3600, 64)  # one case: generous, it only stops a hung or runaway child


def measure_isolated(case: Case, spec: ModelSpec, device: str) -> dict[str, Any]:
    """:func:`measure` in a sandboxed child of its own (its peak memory is its own)."""
    from bench.run import isolation

    with isolation.scratch_folder() as scratch:
        out = isolation.run("bench.perf.step_time:case_main", (case, spec, device), scratch,
                            PERF_LIMITS, wire.MapOf(wire.JSON), framework=case.framework)
    if not out.returned:
        return {**asdict(case), "error": isolation.ended(out, PERF_LIMITS)[1]}
    return out.value


def with_ratios(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each record's median step time over eager torch.nn.GRU's at the same size, this run."""
    gru = {(r.get("sweep"), r["B"], r["T"], r["N"]): r["step_median_ms"] for r in records
           if r["model"] == "gru" and r["framework"] == "torch" and "error" not in r
           and not r.get("cuda_graph")}  # eager torch.nn.GRU (cuDNN on a GPU)
    out = []
    for r in records:
        ref = gru.get((r.get("sweep"), r["B"], r["T"], r["N"]))
        ok = ref and "error" not in r
        out.append({**r, "ratio_to_torch_gru": r["step_median_ms"] / ref if ok else None})
    return out


def record_name(record: dict[str, Any]) -> str:
    """The file name (without extension) of a record: its case's name."""
    from dataclasses import fields

    return Case(**{f.name: record[f.name] for f in fields(Case)}).name
