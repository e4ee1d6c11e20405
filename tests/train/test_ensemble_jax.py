"""Many JAX cells as one program (``bench.train.ensemble_jax``): each member must come out as its
own solo cell (``bench.train.train_jax.fit_predict``) would, to float32 tolerance, and a member
that diverges must fail alone."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from bench.train import ensemble_jax, train_jax
from bench.train.training import Diverged, TrainSpec

N_TRAIN, T, I, O = 24, 12, 3, 2


def sequences(n: int, seed: int, lengths: bool = False) -> dict:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, T, I)).astype(np.float32)
    split = {"inputs": x, "dt": rng.uniform(0.005, 0.02, size=(n, T)).astype(np.float32),
             "targets": np.tanh(np.cumsum(x[..., :O], axis=1) / 4).astype(np.float32)}
    if lengths:
        split["lengths"] = rng.integers(T // 2, T + 1, size=n).astype(np.int32)
    return split


def data(lengths: bool = False):
    train, validation, test = (sequences(n, s, lengths) for n, s in ((N_TRAIN, 0), (8, 1), (6, 2)))
    probe = sequences(3, 3)
    return train, validation, {"test": {k: test[k] for k in ("inputs", "dt")},
                               "probe": {k: probe[k] for k in ("inputs", "dt")}}


def member_specs(models, name: str, device: str = "cpu", **config_changes) -> list[TrainSpec]:
    config, _ = models[name].resolve("flipflop-3bit", "smoke")
    base = TrainSpec(config={**config, **config_changes}, device=device, seed=0, n_inputs=I,
                     n_outputs=O,
                     training={"lr": 1e-2, "betas": [0.9, 0.999], "weight_decay": 0.0,
                               "batch_size": 10, "epochs": 3})
    grid = [(0, 1e-2, 0.0), (1, 3e-3, 1e-2)]  # seed, lr and weight decay all differ
    return [dataclasses.replace(base, seed=s, training={**base.training, "lr": lr,
                                                        "weight_decay": wd})
            for s, lr, wd in grid]


def assert_member_is_solo(member, solo) -> None:
    for name in solo.predictions:
        np.testing.assert_allclose(member.predictions[name], solo.predictions[name],
                                   rtol=1e-4, atol=1e-5, err_msg=name)
    assert member.curve["best_epoch"] == solo.curve["best_epoch"]
    np.testing.assert_allclose(member.curve["val_loss"], solo.curve["val_loss"], rtol=1e-4)
    np.testing.assert_allclose(member.curve["train_loss"], solo.curve["train_loss"], rtol=1e-4)
    assert member.n_params == solo.n_params
    assert member.nfe == solo.nfe


@pytest.mark.slow
def test_each_member_is_its_solo_cell(models, name="gnode"):
    """Seeds, learning rates and weight decays differ across the members (the authors' grid
    varies exactly these); the batches are shuffled by each member's own seed."""
    module = models[name].load("jax")
    specs = member_specs(models, name)
    train, validation, evaluate = data()
    members = ensemble_jax.fit_predict_ensemble(module, specs, train, validation, evaluate)
    assert len(members) == len(specs)
    outputs = set()
    for spec, member in zip(specs, members, strict=True):
        assert not isinstance(member, Diverged)
        assert_member_is_solo(member, train_jax.fit_predict(module, spec, train, validation,
                                                             evaluate))
        assert member.timing["ensemble_members"] == len(specs)
        outputs.add(member.predictions["test"].tobytes())
    assert len(outputs) == len(specs)  # the members really differ


@pytest.mark.slow
def test_variable_lengths_and_classification_loss(models):
    """Sequences of their own lengths under the cross-entropy loss (the vowels tasks), on a
    discrete-time baseline."""
    module = models["gru"].load("jax")
    specs = [dataclasses.replace(s, n_outputs=3, training={**s.training, "loss": "cross_entropy"})
             for s in member_specs(models, "gru")[:2]]
    train, validation, evaluate = data(lengths=True)
    for split in (train, validation):
        split["targets"] = (split["inputs"][:, 0, 0] > 0).astype(np.int32) + (
            split["inputs"][:, 0, 1] > 0).astype(np.int32)
    members = ensemble_jax.fit_predict_ensemble(module, specs, train, validation, evaluate)
    for spec, member in zip(specs, members, strict=True):
        assert_member_is_solo(member, train_jax.fit_predict(module, spec, train, validation,
                                                             evaluate))
