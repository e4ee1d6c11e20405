"""Train, select on validation, and predict with a JAX (equinox) model, optimised by optax."""

from __future__ import annotations

import resource
import time
from collections.abc import Callable
from types import ModuleType
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

from bench.spec.contract import has_nfe_counts
from bench.train import compile_cache
from bench.train.timing import StepTimer
from bench.train.training import EVAL_BATCH, Outcome, TrainSpec, batches, fit_epochs, median_time

# PyTorch computes float32 matmuls in full float32 on a GPU (no TF32); JAX's default may
# use TF32 there. Same arithmetic in both frameworks, for parity and for fair timing.
MATMUL_PRECISION = "highest"


def jax_device(device: str) -> jax.Device:
    return jax.devices("cpu" if device == "cpu" else "gpu")[0]


def host_batch(split: dict, idx: np.ndarray, size: int) -> tuple:
    """A fixed-shape batch (so nothing recompiles) and a weight of 0 on the padding rows, as
    numpy arrays; lengths None when every step is valid."""
    pad = size - len(idx)
    full = np.concatenate([idx, np.repeat(idx[:1], pad)]) if pad else idx
    weight = np.concatenate([np.ones(len(idx)), np.zeros(pad)]).astype(np.float32)
    arrays = [split[k][full] for k in ("inputs", "dt", "targets") if k in split]
    lengths = split["lengths"][full] if "lengths" in split else None
    return (*arrays, lengths, weight)


def padded_batch(split: dict, idx: np.ndarray, size: int, dev) -> tuple:
    """:func:`host_batch` on the device."""
    return tuple(jax.device_put(a, dev) for a in host_batch(split, idx, size))


def eval_batches(split: dict, dev) -> list[tuple]:
    """(x, dt, n_real) batches of one fixed shape, placed on the device once."""
    n = len(split["inputs"])
    size = min(EVAL_BATCH, n)
    return [(*padded_batch(split, idx, size, dev)[:2], len(idx)) for idx in batches(n, size, None)]


def loss_of(pred, y, lengths, w, kind: str):
    """The training loss on a padded batch (weights ``w`` 0 on padding rows): ``mse`` over the
    valid steps, or ``cross_entropy`` at each sequence's last valid step; as in
    ``bench.train.train_torch.loss_of``."""
    if kind == "cross_entropy":
        last = pred[:, -1] if lengths is None else pred[jnp.arange(len(y)), lengths - 1]
        per_seq = -jnp.take_along_axis(jax.nn.log_softmax(last), y[:, None], axis=1)[:, 0]
        return jnp.sum(w * per_seq) / jnp.sum(w)
    if lengths is None:
        return jnp.sum(w * jnp.mean((pred - y) ** 2, axis=(1, 2))) / jnp.sum(w)
    mask = (jnp.arange(pred.shape[1])[None, :] < lengths[:, None])[..., None]
    sq = jnp.sum(jnp.where(mask, (pred - y) ** 2, 0.0), axis=(1, 2))
    return jnp.sum(w * sq) / (jnp.sum(w * lengths) * y.shape[-1])


def model_loss(model, x, dt, y, lengths, w, kind):
    return loss_of(jax.vmap(model)(x, dt), y, lengths, w, kind)


def evaluate_best(predict_all: Callable[[Any, list], jax.Array], best: Any,
                  test_batches: list[tuple], evaluate: dict[str, dict], dev
                  ) -> tuple[np.ndarray, float, dict[str, np.ndarray]]:
    """The test predictions of the best parameters, their timed pass (median of 3, after a
    warm-up), and the predictions on the other evaluation sets."""
    def predict_test() -> jax.Array:
        return jax.block_until_ready(predict_all(best, test_batches))

    predictions = np.asarray(predict_test())  # also the warm-up
    eval_s = median_time(predict_test, lambda: None)
    outputs = {name: np.asarray(predict_all(best, eval_batches(inputs, dev)))
               for name, inputs in evaluate.items() if name != "test"}
    return predictions, eval_s, outputs


def nfe_of(model: Any, first_batch: tuple) -> dict[str, float] | None:
    """Field evaluations per test sequence of a model that counts them (None otherwise)."""
    if not has_nfe_counts(model):
        return None
    x, dt, n = first_batch
    _, stats = eqx.filter_jit(jax.vmap(lambda a, b: model(a, b, return_stats=True)))(x, dt)
    return {"eval_forward": float(jnp.mean(stats["nfe_forward"][:n]))}  # per sequence


def fit_predict(module: ModuleType, spec: TrainSpec, train: dict, validation: dict,
                evaluate: dict[str, dict]) -> Outcome:
    dev = jax_device(spec.device)
    cached = compile_cache.enable()
    with jax.default_matmul_precision(MATMUL_PRECISION), jax.default_device(dev):
        out = _fit_predict(module, spec, train, validation, evaluate, dev)
    if cached:
        out.timing.update(compile_cache.stats())
    return out


def _fit_predict(module, spec, train, validation, evaluate, dev) -> Outcome:
    tr = spec.training
    kind = tr.get("loss", "mse")
    rng = np.random.default_rng(spec.seed)
    model = module.build(spec.config, spec.n_inputs, spec.n_outputs,
                         key=jax.random.PRNGKey(spec.seed))
    model = jax.device_put(model, dev)
    params, static = eqx.partition(model, eqx.is_inexact_array)
    optim = optax.adamw(tr["lr"], b1=tr["betas"][0], b2=tr["betas"][1],
                        weight_decay=tr["weight_decay"])
    opt_state = optim.init(params)
    n_params = sum(x.size for x in jax.tree_util.tree_leaves(params))

    @eqx.filter_jit
    def train_step(params, opt_state, x, dt, y, lengths, w):
        loss, grads = jax.value_and_grad(
            lambda p: model_loss(eqx.combine(p, static), x, dt, y, lengths, w, kind))(params)
        updates, opt_state = optim.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    @eqx.filter_jit
    def predict(params, x, dt):
        return jax.vmap(eqx.combine(params, static))(x, dt)

    def predict_all(params, prepared) -> jax.Array:
        return jnp.concatenate([predict(params, x, dt)[:n] for x, dt, n in prepared])

    val_batches = eval_batches(validation, dev)
    test_batches = eval_batches(evaluate["test"], dev)
    val_targets = jax.device_put(validation["targets"], dev)
    val_lengths = jax.device_put(validation.get("lengths"), dev)
    val_w = jnp.ones(len(val_targets))
    batch = min(tr["batch_size"], len(train["inputs"]))
    sync = lambda: jax.block_until_ready(params)  # noqa: E731
    timer = StepTimer(sync)
    t_start = time.perf_counter()
    first = padded_batch(train, np.arange(batch), batch, dev)
    step = train_step.lower(params, opt_state, *first).compile()  # type: ignore[attr-defined]
    compile_s = time.perf_counter() - t_start

    def run_epoch() -> float:
        nonlocal params, opt_state
        losses = []
        for idx in batches(len(train["inputs"]), batch, rng):
            args = padded_batch(train, idx, batch, dev)
            timer.start()
            params, opt_state, loss = step(params, opt_state, *args)
            timer.stop()
            losses.append(loss)
        return float(jnp.mean(jnp.stack(losses)))

    def validate() -> float:
        pred = predict_all(params, val_batches)
        if val_lengths is None and kind == "mse":  # the plain mean, as it always was
            return float(jnp.mean((pred - val_targets) ** 2))
        return float(loss_of(pred, val_targets, val_lengths, val_w, kind))

    # JAX arrays are immutable: the current params are their own snapshot.
    best_params, curve = fit_epochs(tr["epochs"], spec.label, run_epoch, validate,
                                    lambda: params)
    train_total = time.perf_counter() - t_start

    predictions, eval_s, outputs = evaluate_best(predict_all, best_params, test_batches,
                                                 evaluate, dev)
    model = eqx.combine(best_params, static)
    nfe = nfe_of(model, test_batches[0])

    peak_gpu = None
    if spec.device != "cpu":  # the process's peak: one cell per process (harness isolation)
        peak_gpu = (dev.memory_stats() or {}).get("peak_bytes_in_use", 0) / 2**20 or None
    return Outcome(
        predictions={"test": predictions, **outputs},
        model=model,
        n_params=int(n_params),
        timing={"train_total_s": train_total, "epochs": tr["epochs"],
                "steps": len(timer.times), "compile_s": compile_s, **timer.summary(),
                "eval_s": eval_s, "eval_seqs_per_s": len(predictions) / eval_s,
                "matmul_precision": MATMUL_PRECISION},
        peak_memory={"peak_gpu_mb": peak_gpu,
                "peak_host_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024},
        nfe=nfe,
        curve=curve,
    )
