"""The framework trainers (``bench.train.train_torch``, ``bench.train.train_jax``) on a model whose
training path is known by hand.

The model predicts one learned constant w (starting at 0). Training targets are 1, validation
targets 0: every AdamW step moves w towards 1 by about lr (the first step by exactly lr, as
Adam's first update is lr * g / |g|), so the validation loss w^2 grows every epoch and the best
parameters are those after epoch 1. The trainers must return predictions from those.
"""

from __future__ import annotations

import types

import equinox as eqx
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from bench.train import train_jax, train_torch
from bench.train.training import Diverged, TrainSpec

LR, EPOCHS, N, T = 0.01, 4, 8, 3


class TorchConstant(torch.nn.Module):
    def __init__(self, value=0.0):
        super().__init__()
        self.w = torch.nn.Parameter(torch.full((1,), value))

    def forward(self, x, dt):
        return torch.zeros(*x.shape[:2], 1) + self.w


class JaxConstant(eqx.Module):
    w: jnp.ndarray

    def __call__(self, x, dt):
        return jnp.zeros((x.shape[0], 1)) + self.w


def splits(train_target=1.0):
    def make(n, target):
        return {"inputs": np.zeros((n, T, 1), np.float32), "dt": np.full((n, T), 0.1, np.float32),
                "targets": np.full((n, T, 1), target, np.float32)}

    train, validation, test = make(N, train_target), make(4, 0.0), make(5, 0.0)
    # evaluation sets: the test inputs, and an extra probe of another length (memory probes)
    probe = {"inputs": np.zeros((3, 2 * T, 1), np.float32),
             "dt": np.full((3, 2 * T), 0.1, np.float32)}
    return train, validation, {"test": {"inputs": test["inputs"], "dt": test["dt"]},
                               "probe": probe}


def spec(lr=LR):
    return TrainSpec(config={}, device="cpu", seed=0, n_inputs=1, n_outputs=1,
                     training={"lr": lr, "betas": [0.9, 0.999], "weight_decay": 0.0,
                               "batch_size": N, "epochs": EPOCHS})


TORCH = types.SimpleNamespace(build=lambda config, n_in, n_out: TorchConstant())
JAX = types.SimpleNamespace(build=lambda config, n_in, n_out, *, key: JaxConstant(jnp.zeros(1)))


@pytest.mark.parametrize("trainer,module", [(train_torch, TORCH), (train_jax, JAX)],
                         ids=["torch", "jax"])
def test_best_validation_parameters_are_kept(trainer, module):
    out = trainer.fit_predict(module, spec(), *splits())
    assert set(out.predictions) == {"test", "probe"}
    assert out.predictions["test"].shape == (5, T, 1)
    assert out.predictions["probe"].shape == (3, 2 * T, 1)
    # w after epoch 1, not 4, on every evaluation set; the trained model is returned
    np.testing.assert_allclose(out.predictions["test"], LR, rtol=1e-4)
    np.testing.assert_allclose(out.predictions["probe"], LR, rtol=1e-4)
    assert out.model is not None
    val = out.curve["val_loss"]
    assert len(val) == EPOCHS and np.all(np.diff(val) > 0)
    assert val[0] == pytest.approx(LR**2, rel=1e-3)
    assert out.curve["best_epoch"] == 1
    # the training loss (before each epoch's step) is (1 - w)^2, decreasing from 1
    assert out.curve["train_loss"][0] == pytest.approx(1.0)
    assert np.all(np.diff(out.curve["train_loss"]) < 0)
    assert out.n_params == 1
    assert out.timing["steps"] == EPOCHS  # one full batch per epoch


@pytest.mark.parametrize("trainer,module", [(train_torch, TORCH), (train_jax, JAX)],
                         ids=["torch", "jax"])
def test_non_finite_loss_raises_diverged(trainer, module):
    train, validation, test = splits(train_target=np.inf)
    with pytest.raises(Diverged, match="epoch 1"):
        trainer.fit_predict(module, spec(), train, validation, test)


class TorchNaNWhenEvaluated(TorchConstant):
    """Finite in training, NaN in eval mode: a validation loss that goes NaN on its own."""

    def forward(self, x, dt):
        out = super().forward(x, dt)
        return out if self.training else out * float("nan")


def test_torch_nan_validation_loss_is_divergence():
    module = types.SimpleNamespace(build=lambda config, n_in, n_out: TorchNaNWhenEvaluated())
    with pytest.raises(Diverged, match="validation loss is nan in epoch 1"):
        train_torch.fit_predict(module, spec(), *splits())
