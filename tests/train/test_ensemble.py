"""What both frameworks' ensemble trainers share (``bench.train.ensemble``): cells that cannot
share a program are refused, and a member that diverges fails alone with its solo message."""

from __future__ import annotations

import dataclasses

import pytest
from test_ensemble_jax import assert_member_is_solo
from test_trainers import JAX, TORCH
from test_trainers import splits as constant_splits

from bench.train import ensemble, ensemble_jax, ensemble_torch, train_jax, train_torch
from bench.train.training import Diverged, TrainSpec

FRAMEWORKS = [  # (solo trainer, ensemble trainer, the constant model of test_trainers)
    pytest.param(train_jax, ensemble_jax, JAX, id="jax"),
    pytest.param(train_torch, ensemble_torch, TORCH, id="torch"),
]
BASE = TrainSpec(config={}, device="cpu", seed=0, n_inputs=1, n_outputs=1,
                 training={"lr": 0.01, "betas": [0.9, 0.999], "weight_decay": 0.0,
                           "batch_size": 8, "epochs": 4})


@pytest.mark.parametrize("solo,together,module", FRAMEWORKS)
def test_a_diverging_member_fails_alone(solo, together, module):
    """The constant model of ``test_trainers``: at lr 1e30 the first AdamW step sends w to
    about 1e30, and its squared loss overflows float32 to infinity. (torch.optim refuses a
    step size beyond float32's range, so not larger.)"""
    wild = dataclasses.replace(BASE, training={**BASE.training, "lr": 1e30})
    train, validation, evaluate = constant_splits()
    calm_alone = solo.fit_predict(module, BASE, train, validation, evaluate)
    with pytest.raises(Diverged) as alone:
        solo.fit_predict(module, wild, train, validation, evaluate)
    calm, diverged, calm_again = together.fit_predict_ensemble(
        module, [BASE, wild, BASE], train, validation, evaluate)
    assert isinstance(diverged, Diverged)
    assert str(diverged) == str(alone.value)
    for member in (calm, calm_again):
        assert not isinstance(member, Diverged)
        assert_member_is_solo(member, calm_alone)
        assert member.curve["best_epoch"] == 1  # the known path of test_trainers


@pytest.mark.parametrize("change,why", [
    ({"config": {"N": 3}}, "model configs differ"),
    ({"training": {**BASE.training, "batch_size": 4}}, "'batch_size' differs"),
    ({"n_outputs": 2}, "input and output sizes differ"),
])
@pytest.mark.parametrize("solo,together,module", FRAMEWORKS)
def test_cells_that_cannot_share_a_program_are_refused(change, why, solo, together, module):
    other = dataclasses.replace(BASE, **change)
    assert why in ensemble.incompatibility([BASE, other])
    with pytest.raises(ValueError, match="cannot train as one program"):
        together.fit_predict_ensemble(module, [BASE, other], *constant_splits())
    assert ensemble.incompatibility([BASE, dataclasses.replace(
        BASE, seed=3, training={**BASE.training, "lr": 0.5, "weight_decay": 0.1})]) is None
