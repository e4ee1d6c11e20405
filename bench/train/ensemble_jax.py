"""Many JAX cells of one shape trained as one ``vmap``-ped program.

The authors' protocol trains each model on each task under 27 optimiser settings and then on
several seeds: many small programs that differ only in numbers. Here they run as one. The
members of an ensemble share the model's config, the task's data, the batch size, the betas
and the number of epochs; each has its own seed (initialisation and batch order), learning rate
and weight decay.

Each member follows the arithmetic of :func:`bench.train.train_jax.fit_predict` step for step:
the same initial parameters, batches, AdamW update and best-validation selection. Only the
floating-point order inside the batched kernels may differ, so a member's predictions match its
solo cell's to float32 tolerance (``tests/train/test_ensemble_jax.py``).

A member whose loss goes non-finite fails alone: vmapped members share no arithmetic, so its
NaNs never reach the others; it is reported as :class:`Diverged` with the solo message and
the rest train on.

Timing is the whole program's: every member's ``timing`` holds the ensemble's wall-clock and
``ensemble_members``; one member's share of it is not a measured number.
"""

from __future__ import annotations

import resource
import time
from collections.abc import Sequence
from types import ModuleType
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

from bench.train import compile_cache
from bench.train.ensemble import incompatibility
from bench.train.timing import StepTimer
from bench.train.train_jax import (
    MATMUL_PRECISION,
    eval_batches,
    evaluate_best,
    host_batch,
    jax_device,
    loss_of,
    model_loss,
    nfe_of,
)
from bench.train.training import Diverged, Outcome, TrainSpec, batches, fit_members


def _stack(trees: list) -> Any:
    return jax.tree_util.tree_map(lambda *a: jnp.stack(a), *trees)


def _where(mask: jax.Array, new: Any, old: Any) -> Any:
    """Per member (leading axis): ``new`` where ``mask``, else ``old``."""
    return jax.tree_util.tree_map(
        lambda a, b: jnp.where(mask.reshape(mask.shape + (1,) * (a.ndim - 1)), a, b), new, old)


def _member(tree: Any, i: int) -> Any:
    return jax.tree_util.tree_map(lambda a: a[i], tree)


def fit_predict_ensemble(module: ModuleType, specs: Sequence[TrainSpec], train: dict,
                         validation: dict, evaluate: dict[str, dict]
                         ) -> list[Outcome | Diverged]:
    """Train every member of ``specs`` as one program; per member its :class:`Outcome`, or the
    :class:`Diverged` it ended with, in the order given."""
    why = incompatibility(specs)
    if why:
        raise ValueError(f"these cells cannot train as one program: {why}")
    dev = jax_device(specs[0].device)
    cached = compile_cache.enable()
    with jax.default_matmul_precision(MATMUL_PRECISION), jax.default_device(dev):
        outs = _fit_predict(module, list(specs), train, validation, evaluate, dev)
    for out in outs if cached else []:
        if isinstance(out, Outcome):
            out.timing.update(compile_cache.stats())
    return outs


def _build(module: ModuleType, specs: list[TrainSpec], dev) -> tuple[Any, Any, int]:
    """The members' parameters stacked on a leading axis, their shared static part, and one
    member's parameter count."""
    parts = [eqx.partition(jax.device_put(module.build(s.config, s.n_inputs, s.n_outputs,
                                                       key=jax.random.PRNGKey(s.seed)), dev),
                           eqx.is_inexact_array) for s in specs]
    static = parts[0][1]
    for _, other in parts[1:]:
        if not eqx.tree_equal(static, other):
            raise ValueError("the members' models differ in structure, not only in their "
                             "parameters: they cannot train as one program")
    params = [p for p, _ in parts]
    n_params = sum(x.size for x in jax.tree_util.tree_leaves(params[0]))
    return _stack(params), static, int(n_params)


def _fit_predict(module, specs: list[TrainSpec], train, validation, evaluate,
                 dev) -> list[Outcome | Diverged]:
    tr = specs[0].training
    kind = tr.get("loss", "mse")
    m = len(specs)
    rngs = [np.random.default_rng(s.seed) for s in specs]
    params, static, n_params = _build(module, specs, dev)
    lrs = jnp.asarray([s.training["lr"] for s in specs], jnp.float32)
    wds = jnp.asarray([s.training["weight_decay"] for s in specs], jnp.float32)
    b1, b2 = tr["betas"]
    opt_state = jax.vmap(optax.adamw(1.0, b1=b1, b2=b2).init)(params)  # lr, wd: not in the state

    def member_step(params, opt_state, lr, wd, x, dt, y, lengths, w):
        optim = optax.adamw(lr, b1=b1, b2=b2, weight_decay=wd)
        loss, grads = jax.value_and_grad(
            lambda p: model_loss(eqx.combine(p, static), x, dt, y, lengths, w, kind))(params)
        updates, opt_state = optim.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    @jax.jit
    def predict(params, x, dt):  # every member on the same inputs
        return jax.vmap(lambda p: jax.vmap(eqx.combine(p, static))(x, dt))(params)

    def predict_all(params, prepared) -> jax.Array:  # (M, n, T, O)
        return jnp.concatenate([predict(params, x, dt)[:, :n] for x, dt, n in prepared], axis=1)

    val_batches = eval_batches(validation, dev)
    test_batches = eval_batches(evaluate["test"], dev)
    val_targets = jax.device_put(validation["targets"], dev)
    val_lengths = jax.device_put(validation.get("lengths"), dev)
    val_w = jnp.ones(len(val_targets))
    n_train = len(train["inputs"])
    batch = min(tr["batch_size"], n_train)
    timer = StepTimer(lambda: jax.block_until_ready(params))

    def member_batches(step_idx: list[np.ndarray]) -> tuple:  # stacked on the host, put once
        parts = zip(*(host_batch(train, idx, batch) for idx in step_idx), strict=True)
        return tuple(None if p[0] is None else jax.device_put(np.stack(p), dev) for p in parts)

    t_start = time.perf_counter()
    first = member_batches([np.arange(batch)] * m)
    step = jax.jit(jax.vmap(member_step)).lower(params, opt_state, lrs, wds, *first).compile()
    compile_s = time.perf_counter() - t_start

    def validate(params) -> np.ndarray:  # one transfer for all members
        pred = predict_all(params, val_batches)
        if val_lengths is None and kind == "mse":  # the solo trainer's plain mean
            losses = [jnp.mean((pred[i] - val_targets) ** 2) for i in range(m)]
        else:
            losses = [loss_of(pred[i], val_targets, val_lengths, val_w, kind) for i in range(m)]
        return np.asarray(jnp.stack(losses))

    def run_epoch() -> np.ndarray:
        nonlocal params, opt_state
        order = [batches(n_train, batch, rng) for rng in rngs]
        losses = []
        for k in range(len(order[0])):
            args = member_batches([o[k] for o in order])
            timer.start()
            params, opt_state, loss = step(params, opt_state, lrs, wds, *args)
            timer.stop()
            losses.append(loss)
        return np.asarray(jnp.mean(jnp.stack(losses), axis=0))

    best_params = params

    def keep(improved: np.ndarray) -> None:
        nonlocal best_params
        best_params = _where(jnp.asarray(improved), params, best_params)

    members = fit_members(tr["epochs"], m, f"ensemble of {m}", run_epoch,
                          lambda: validate(params), keep)
    train_total = time.perf_counter() - t_start

    predictions, eval_s, outputs = evaluate_best(predict_all, best_params, test_batches,
                                                 evaluate, dev)  # (M, n, T, O) each
    timing = {"train_total_s": train_total, "epochs": tr["epochs"], "steps": len(timer.times),
              "compile_s": compile_s, **timer.summary(), "eval_s": eval_s,
              "eval_seqs_per_s": m * predictions.shape[1] / eval_s,
              "matmul_precision": MATMUL_PRECISION, "ensemble_members": m}
    peak_gpu = None
    if specs[0].device != "cpu":
        peak_gpu = (dev.memory_stats() or {}).get("peak_bytes_in_use", 0) / 2**20 or None
    peak = {"peak_gpu_mb": peak_gpu,
            "peak_host_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    out: list[Outcome | Diverged] = []
    for i, mb in enumerate(members):
        if mb.failure is not None:
            out.append(mb.failure)
            continue
        model = eqx.combine(_member(best_params, i), static)
        out.append(Outcome(
            predictions={"test": predictions[i], **{k: v[i] for k, v in outputs.items()}},
            model=model, n_params=n_params, timing=dict(timing), peak_memory=dict(peak),
            nfe=nfe_of(model, test_batches[0]), curve=mb.curve))
    return out

