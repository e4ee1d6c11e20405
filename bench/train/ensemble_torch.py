"""Many PyTorch cells of one shape trained as one program, with ``torch.func``.

The PyTorch twin of :mod:`bench.train.ensemble_jax`: the members' parameters are stacked on a
leading axis (``torch.func.stack_module_state``) and one ``vmap`` of ``grad`` over
``functional_call`` trains them all at once. Each member has its own seed (initialisation and
batch order), learning rate and weight decay, and follows the arithmetic of
:func:`bench.train.train_torch.fit_predict` step for step: the same initial parameters (built
under the same ``torch.manual_seed``), batches, AdamW update and best-validation selection.

Not every module survives ``vmap``: ``torch.nn.GRU`` and ``torch.nn.LSTM`` have no batching rule,
in-place updates of a captured tensor and data-dependent control flow (adaptive solvers) raise,
and a module that computes with tensors ``functional_call`` does not swap (parameters kept in a
dict of its own) runs but computes wrongly. So the program checks itself before training: on
its first batch, each member's training loss, prediction loss and gradients from the vmapped
program must equal those of the member's own module, and the buffers must stay as they are. If
not, :class:`~bench.train.ensemble.CannotEnsemble` is raised, naming why, and the harness trains
the cells one by one.

The AdamW update is written out here because ``torch.optim.AdamW`` takes one learning rate and
weight decay per parameter group, not one per slice of a stacked tensor; it is torch's own
single-tensor AdamW, with the two hyperparameters as per-member tensors
(``tests/train/test_ensemble_torch.py`` holds it to ``torch.optim.AdamW``). CUDA graphs are not
used: on a GPU the ensemble already launches each kernel once for all members.
"""

from __future__ import annotations

import copy
import math
import resource
import time
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

import numpy as np
import torch
from torch.func import functional_call, grad_and_value, stack_module_state, vmap

from bench.errors import is_out_of_memory
from bench.spec.contract import has_nfe_counts
from bench.train.ensemble import CannotEnsemble, incompatibility
from bench.train.timing import StepTimer
from bench.train.train_torch import device_sync, loss_of, on_device, timed_predictions
from bench.train.training import (
    EVAL_BATCH,
    Diverged,
    Outcome,
    TrainSpec,
    batches,
    fit_members,
)

Params = dict[str, torch.Tensor]
# The first-batch check: vmapped and solo losses and gradients agree to this relative tolerance.
CHECK_RTOL = 1e-4


class StackedAdamW:
    """AdamW over parameters stacked on a leading member axis, each member with its own
    learning rate and weight decay: the arithmetic of ``torch.optim.AdamW`` (decoupled weight
    decay, bias-corrected moments, ``eps`` added after the square root)."""

    def __init__(self, params: Params, lr: torch.Tensor, weight_decay: torch.Tensor,
                 betas: Sequence[float], eps: float = 1e-8) -> None:
        self.lr, self.wd = lr.double(), weight_decay.double()  # torch.optim: Python floats
        self.b1, self.b2 = float(betas[0]), float(betas[1])
        self.eps, self.t = eps, 0
        self.m = {k: torch.zeros_like(p) for k, p in params.items()}
        self.v = {k: torch.zeros_like(p) for k, p in params.items()}

    @torch.no_grad()
    def step(self, params: Params, grads: Params) -> None:
        """Update ``params`` in place from ``grads`` (both stacked, shape (M, ...))."""
        self.t += 1
        c1 = 1 - self.b1**self.t
        c2 = math.sqrt(1 - self.b2**self.t)
        for k, p in params.items():
            g, shape = grads[k], (-1,) + (1,) * (p.ndim - 1)
            p.mul_((1 - self.lr * self.wd).to(p.dtype).view(shape))
            self.m[k].lerp_(g, 1 - self.b1)
            self.v[k].mul_(self.b2).addcmul_(g, g, value=1 - self.b2)
            denom = (self.v[k].sqrt() / c2).add_(self.eps)
            p.sub_((self.lr / c1).to(p.dtype).view(shape) * (self.m[k] / denom))


def fit_predict_ensemble(module: ModuleType, specs: Sequence[TrainSpec], train: dict,
                         validation: dict, evaluate: dict[str, dict]
                         ) -> list[Outcome | Diverged]:
    """Train every member of ``specs`` as one program; per member its :class:`Outcome`, or the
    :class:`Diverged` it ended with, in the order given. Raises :class:`CannotEnsemble` when
    the model does not survive ``vmap``."""
    why = incompatibility(specs)
    if why:
        raise ValueError(f"these cells cannot train as one program: {why}")
    specs = list(specs)
    device = torch.device(specs[0].device)
    sync = device_sync(device)
    tr = specs[0].training
    kind = tr.get("loss", "mse")
    m = len(specs)

    models = []
    for s in specs:  # as the solo trainer builds them
        torch.manual_seed(s.seed)
        models.append(module.build(s.config, s.n_inputs, s.n_outputs).to(device))
    rngs = [np.random.default_rng(s.seed) for s in specs]
    names = [n for n, p in models[0].named_parameters() if p.requires_grad]
    stacked, buffers = stack_module_state(models)
    params = {k: v.detach() for k, v in stacked.items() if k in names}
    frozen = {k: v.detach() for k, v in stacked.items() if k not in names}
    base = copy.deepcopy(models[0]).to("meta")
    n_params = sum(p.numel() for n, p in models[0].named_parameters() if n in names)
    if any(not p.is_floating_point() for p in params.values()):
        raise CannotEnsemble("the model has complex or integer parameters, which the stacked "
                             "AdamW does not update as torch.optim.AdamW does")
    hyper = {k: torch.tensor([s.training[k] for s in specs], dtype=torch.float64, device=device)
             for k in ("lr", "weight_decay")}
    opt = StackedAdamW(params, hyper["lr"], hyper["weight_decay"], tr["betas"])

    def member_loss(p: Params, f: Params, b: Params, batch: dict[str, torch.Tensor]
                    ) -> torch.Tensor:  # f, b: the member's frozen parameters and buffers
        return loss_of(functional_call(base, (p, f, b), (batch["inputs"], batch["dt"])),
                       batch, kind)

    step = vmap(grad_and_value(member_loss))  # (grads, loss) of every member

    @torch.no_grad()
    def predict(p, data: dict[str, torch.Tensor]) -> torch.Tensor:  # (M, n, T, O)
        def one(p, f, b, x, dt):
            return functional_call(base, (p, f, b), (x, dt))
        base.eval()
        n = data["inputs"].shape[0]
        out = [vmap(one, in_dims=(0, 0, 0, None, None))(
            p, frozen, buffers, data["inputs"][i : i + EVAL_BATCH], data["dt"][i : i + EVAL_BATCH])
            for i in range(0, n, EVAL_BATCH)]
        base.train()
        return torch.cat(out, dim=1)

    tr_data, va_data = on_device(train, device), on_device(validation, device)
    te_data = on_device(evaluate["test"], device)
    n_train = len(tr_data["inputs"])

    def member_batches(idx: torch.Tensor) -> dict[str, torch.Tensor]:  # idx (M, B): one gather
        return {k: v[idx] for k, v in tr_data.items()}

    def member_index(step_idx: list[np.ndarray]) -> torch.Tensor:
        return torch.as_tensor(np.stack(step_idx), device=device)

    _check(models, step, predict, params, frozen, buffers,
           member_batches(member_index([np.arange(min(tr["batch_size"], n_train))] * m)), kind)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    timer = StepTimer(sync)
    nfe: dict[str, Any] | None = None

    def run_epoch() -> np.ndarray:
        nonlocal nfe
        order = [batches(n_train, tr["batch_size"], rng) for rng in rngs]
        losses = []
        for k in range(len(order[0])):
            idx = member_index([o[k] for o in order])  # as the solo trainer: made untimed
            timer.start()
            batch = member_batches(idx)
            grads, loss = step(params, frozen, buffers, batch)
            opt.step(params, grads)
            timer.stop()
            losses.append(loss)
            if nfe is None and has_nfe_counts(base):
                nfe = {"train_forward": base.nfe_forward, "train_backward": base.nfe_backward}
        return torch.stack(losses).mean(0).cpu().numpy()

    def validate() -> np.ndarray:  # one transfer for all members
        pred = predict(params, va_data)
        return torch.stack([loss_of(pred[i], va_data, kind) for i in range(m)]).cpu().numpy()

    best = {k: v.clone() for k, v in params.items()}

    def keep(improved: np.ndarray) -> None:
        mask = torch.as_tensor(improved, device=device)
        for k, v in params.items():
            best[k][mask] = v[mask]

    sync()
    t_start = time.perf_counter()
    members = fit_members(tr["epochs"], m, f"ensemble of {m}", run_epoch, validate, keep)
    sync()
    train_total = time.perf_counter() - t_start

    predictions, eval_s = timed_predictions(lambda d: predict(best, d), te_data, sync)
    if nfe is not None:
        nfe["eval_forward"] = base.nfe_forward
    outputs = {name: predict(best, on_device(inputs, device)).cpu().numpy()
               for name, inputs in evaluate.items() if name != "test"}
    timing = {"train_total_s": train_total, "epochs": tr["epochs"], "steps": len(timer.times),
              "compile_s": None, "cuda_graph": False, **timer.summary(), "eval_s": eval_s,
              "eval_seqs_per_s": m * predictions.shape[1] / eval_s,
              "matmul_precision": torch.get_float32_matmul_precision(), "ensemble_members": m}
    peak = {"peak_gpu_mb": torch.cuda.max_memory_allocated(device) / 2**20
            if device.type == "cuda" else None,
            "peak_host_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    test = predictions.cpu().numpy()
    out: list[Outcome | Diverged] = []
    for i, (mb, model) in enumerate(zip(members, models, strict=True)):
        if mb.failure is not None:
            out.append(mb.failure)
            continue
        with torch.no_grad():
            for name, p in model.named_parameters():
                if name in best:
                    p.copy_(best[name][i])
        out.append(Outcome(
            predictions={"test": test[i], **{k: v[i] for k, v in outputs.items()}},
            model=model.eval(), n_params=int(n_params), timing=dict(timing),
            peak_memory=dict(peak), nfe=None if nfe is None else dict(nfe), curve=mb.curve))
    return out


def _check(models: list[torch.nn.Module], step: Callable, predict: Callable, params: Params,
           frozen: Params, buffers: Params, batch: dict[str, torch.Tensor], kind: str) -> None:
    """Raise :class:`CannotEnsemble` unless the vmapped program gives every member the loss and
    the gradients its own module gives on ``batch`` (the same sequences for each member), and
    the same predictions, and leaves the buffers as they are (they are not trained here)."""
    before = {k: v.clone() for k, v in buffers.items()}
    first = {k: v[0] for k, v in batch.items()}
    try:
        grads, losses = step(params, frozen, buffers, batch)
        predicted = predict(params, first)
    except Exception as e:
        if is_out_of_memory(e):
            raise  # out of memory is not a refusal: the harness reports it as such
        first_sentence = (str(e).splitlines() or [""])[0].split(". ")[0].rstrip(".")
        raise CannotEnsemble(f"torch.func.vmap cannot run this model "
                             f"({type(e).__name__}: {first_sentence})") from e
    if any(not torch.equal(before[k], v) for k, v in buffers.items()):
        raise CannotEnsemble("the model updates its buffers in training, which the program "
                             "does not carry from step to step")
    if losses.requires_grad:  # a value functional_call did not swap is still in the graph
        raise CannotEnsemble("the model computes with tensors torch.func.functional_call does "
                             "not replace (parameters kept outside its registered parameters)")
    for i, model in enumerate(models):
        model.zero_grad(set_to_none=True)
        alone = loss_of(model(first["inputs"], first["dt"]), first, kind)
        alone.backward()
        for what, value in (("training", losses[i]),
                            ("prediction", loss_of(predicted[i], first, kind))):
            a, b = float(value), float(alone.detach())
            if not math.isfinite(a) and not math.isfinite(b):
                continue  # the member diverges either way; its training reports it
            if not abs(a - b) <= CHECK_RTOL * max(abs(b), 1e-6):
                raise CannotEnsemble(f"under torch.func.vmap this model computes a different "
                                     f"{what} loss (member {i + 1}: {a:.6g}, alone {b:.6g})")
        for name, p in model.named_parameters():
            if name not in grads:
                continue
            own = torch.zeros_like(p) if p.grad is None else p.grad
            gap, scale = float((grads[name][i] - own).norm()), float(own.norm())
            if not gap <= CHECK_RTOL * max(scale, 1e-6) + 1e-7:
                raise CannotEnsemble(f"under torch.func.vmap this model computes a different "
                                     f"gradient for {name} (member {i + 1}: off by {gap:.3g}, "
                                     f"its norm {scale:.3g})")
        model.zero_grad(set_to_none=True)
