"""Train, select on validation, and predict with a PyTorch model."""

from __future__ import annotations

import copy
import resource
import time
from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np
import torch

from bench.spec.contract import has_nfe_counts
from bench.train.cuda_graph import GraphedStep, wants_graphs
from bench.train.timing import StepTimer
from bench.train.training import EVAL_BATCH, Outcome, TrainSpec, batches, fit_epochs, median_time


def device_sync(device: torch.device):
    """A function that waits for ``device`` to finish its queued work (a no-op on a CPU)."""
    if device.type == "cuda":
        return lambda: torch.cuda.synchronize(device)
    return lambda: None


def on_device(split: dict, device: torch.device) -> dict[str, torch.Tensor]:
    """A split's arrays (inputs, dt, and targets and lengths where present) as tensors."""
    return {k: torch.as_tensor(split[k], device=device)
            for k in ("inputs", "dt", "targets", "lengths") if k in split}


def loss_of(pred: torch.Tensor, batch: dict[str, torch.Tensor], kind: str) -> torch.Tensor:
    """The training loss: ``mse`` over the valid steps, or ``cross_entropy`` of the output at
    each sequence's last valid step (``bench.spec.metrics`` scores the same steps)."""
    y = batch["targets"]
    lengths = batch.get("lengths")
    if kind == "cross_entropy":
        last = (torch.full_like(y, pred.shape[1] - 1) if lengths is None else lengths - 1)
        rows = torch.arange(len(y), device=pred.device)  # on the device: capturable
        return torch.nn.functional.cross_entropy(pred[rows, last], y)
    if lengths is None:
        return torch.mean((pred - y) ** 2)
    steps = torch.arange(pred.shape[1], device=pred.device)
    mask = (steps[None, :] < lengths[:, None])[..., None]
    sq = torch.where(mask, (pred - y) ** 2, torch.zeros((), dtype=pred.dtype, device=pred.device))
    return torch.sum(sq) / (mask.sum() * y.shape[-1])


def timed_predictions(predict: Callable[[dict[str, torch.Tensor]], torch.Tensor],
                      test: dict[str, torch.Tensor], sync: Callable[[], None]
                      ) -> tuple[torch.Tensor, float]:
    """The test split's predictions, and the median time of predicting it after a warm-up."""
    predict({k: v[:EVAL_BATCH] for k, v in test.items()})
    return predict(test), median_time(lambda: predict(test), sync)


@torch.no_grad()
def _predict(model, data: dict[str, torch.Tensor]) -> torch.Tensor:
    model.eval()
    n = data["inputs"].shape[0]
    out = [model(data["inputs"][i : i + EVAL_BATCH], data["dt"][i : i + EVAL_BATCH])
           for i in range(0, n, EVAL_BATCH)]
    model.train()
    return torch.cat(out)


def fit_predict(module: ModuleType, spec: TrainSpec, train: dict, validation: dict,
                evaluate: dict[str, dict]) -> Outcome:
    device = torch.device(spec.device)
    sync = device_sync(device)
    torch.manual_seed(spec.seed)
    rng = np.random.default_rng(spec.seed)
    model = module.build(spec.config, spec.n_inputs, spec.n_outputs).to(device)
    tr = spec.training
    graphed = wants_graphs(model, device)
    opt = torch.optim.AdamW(model.parameters(), lr=tr["lr"], betas=tuple(tr["betas"]),
                            weight_decay=tr["weight_decay"], capturable=graphed)
    kind = tr.get("loss", "mse")
    graph = GraphedStep(model, opt, lambda b: loss_of(model(b["inputs"], b["dt"]), b, kind))
    tr_data, va_data = on_device(train, device), on_device(validation, device)
    te_data = on_device(evaluate["test"], device)
    n_params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)

    timer = StepTimer(sync)
    nfe: dict[str, Any] | None = None

    def run_epoch() -> float:
        nonlocal nfe
        losses = []
        for idx in batches(len(tr_data["inputs"]), tr["batch_size"], rng):
            ib = torch.as_tensor(idx, device=device)
            if graphed:  # capturing is compilation: outside the step timer
                graph.prepare({k: v[ib] for k, v in tr_data.items()})
            timer.start()
            batch = {k: v[ib] for k, v in tr_data.items()}
            if graphed:
                loss = graph(batch)
            else:
                loss = loss_of(model(batch["inputs"], batch["dt"]), batch, kind)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            timer.stop()
            losses.append(loss.detach())
            if nfe is None and has_nfe_counts(model):
                nfe = {"train_forward": model.nfe_forward, "train_backward": model.nfe_backward}
        return float(torch.stack(losses).mean())

    def validate() -> float:
        return float(loss_of(_predict(model, va_data), va_data, kind))

    sync()
    t_start = time.perf_counter()
    best_state, curve = fit_epochs(tr["epochs"], spec.label, run_epoch, validate,
                                   lambda: copy.deepcopy(model.state_dict()))
    sync()
    train_total = time.perf_counter() - t_start
    model.load_state_dict(best_state)

    predictions, eval_s = timed_predictions(lambda d: _predict(model, d), te_data, sync)
    if nfe is not None:
        nfe["eval_forward"] = model.nfe_forward
    outputs = {name: _predict(model, on_device(inputs, device)).cpu().numpy()
               for name, inputs in evaluate.items() if name != "test"}

    return Outcome(
        predictions={"test": predictions.cpu().numpy(), **outputs},
        model=model.eval(),
        n_params=int(n_params),
        timing={"train_total_s": train_total, "epochs": tr["epochs"],
                "steps": len(timer.times), "compile_s": graph.capture_s if graphed else None,
                "cuda_graph": graphed, **timer.summary(),
                "eval_s": eval_s, "eval_seqs_per_s": len(predictions) / eval_s,
                "matmul_precision": torch.get_float32_matmul_precision()},
        peak_memory={
            "peak_gpu_mb": torch.cuda.max_memory_allocated(device) / 2**20
            if device.type == "cuda" else None,
            "peak_host_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        },
        nfe=nfe,
        curve=curve,
    )
