"""Variable-length sequences, classification and elapsed time (``bench.data.sequences``, the
trainers' losses and the metrics): padding never enters a loss or a metric."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from bench.data import sequences
from bench.spec import metrics
from bench.spec.tasks import get_task
from bench.train.train_jax import loss_of as jax_loss
from bench.train.train_torch import loss_of as torch_loss

CONFIG = {"N": 6, "widths": [8], "activation": "tanh", "tau": 0.01, "solver": "euler",
          "steps_per_interval": 2, "rtol": 1e-6, "atol": 1e-6, "h0": "learned",
          "max_steps": 1000, "linear_output": True}
LENGTHS = np.array([5, 9, 3])


def padded(T: int, rng: np.random.Generator, garbage: float) -> dict[str, np.ndarray]:
    """Three sequences of LENGTHS (the same values for any T), then ``garbage`` padding."""
    base = np.random.default_rng(0)
    x = base.standard_normal((3, 9, 4)).astype(np.float32)
    y = base.standard_normal((3, 9, 2)).astype(np.float32)
    dt = base.uniform(0.01, 0.03, (3, 9)).astype(np.float32)
    out = {"inputs": garbage * rng.standard_normal((3, T, 4)).astype(np.float32),
           "targets": garbage * rng.standard_normal((3, T, 2)).astype(np.float32),
           "dt": rng.uniform(0.01, 0.03, (3, T)).astype(np.float32),
           "lengths": LENGTHS, "labels": np.array([1, 0, 2])}
    for i, n in enumerate(LENGTHS):
        out["inputs"][i, :n], out["targets"][i, :n] = x[i, :n], y[i, :n]
        out["dt"][i, :n] = dt[i, :n]
    return out


def torch_models():
    from bench.models.ode_torch import ode_from_config

    torch.manual_seed(0)
    reg = ode_from_config(CONFIG, 4, 2, gated=True)
    torch.manual_seed(0)
    return reg, ode_from_config(CONFIG, 4, 3, gated=True)


def torch_losses(batch: dict[str, np.ndarray]) -> tuple[float, float]:
    reg, cls = torch_models()
    t = {k: torch.as_tensor(v) for k, v in batch.items()}
    with torch.no_grad():
        mse = torch_loss(reg(t["inputs"], t["dt"]), t, "mse")
        ce = torch_loss(cls(t["inputs"], t["dt"]),
                        {"targets": t["labels"], "lengths": t["lengths"]}, "cross_entropy")
    return float(mse), float(ce)


def jax_losses(batch: dict[str, np.ndarray]) -> tuple[float, float]:
    """The same models as :func:`torch_losses`: the PyTorch weights, copied."""
    from bench.models.ode_jax import load_state, ode_from_config

    reg, cls = (load_state(ode_from_config(CONFIG, 4, m.readout.out_features, gated=True,
                                           key=jax.random.PRNGKey(0)),
                           {k: v.numpy() for k, v in m.state_dict().items()})
                for m in torch_models())
    x, dt = jnp.asarray(batch["inputs"]), jnp.asarray(batch["dt"])
    w, n = jnp.ones(3), jnp.asarray(batch["lengths"])
    mse = jax_loss(jax.vmap(reg)(x, dt), jnp.asarray(batch["targets"]), n, w, "mse")
    ce = jax_loss(jax.vmap(cls)(x, dt), jnp.asarray(batch["labels"]), n, w, "cross_entropy")
    return float(mse), float(ce)


@pytest.mark.slow
@pytest.mark.parametrize("losses", [torch_losses, jax_losses], ids=["torch", "jax"])
def test_the_same_series_padded_two_ways_gives_the_same_loss(losses):
    a = losses(padded(9, np.random.default_rng(1), 0.0))
    b = losses(padded(30, np.random.default_rng(2), 3.0))  # longer, with other padding
    np.testing.assert_allclose(a, b, rtol=1e-5)
    assert np.isfinite(a).all() and a[0] > 0 and a[1] > 0


def test_masked_losses_agree_across_frameworks():
    batch = padded(12, np.random.default_rng(3), 5.0)
    np.testing.assert_allclose(torch_losses(batch), jax_losses(batch), rtol=1e-4)


def test_masked_mse_by_hand():
    pred = np.zeros((2, 4, 1), np.float32)
    target = np.array([[1, 2, 99, 99], [3, 99, 99, 99]], np.float32)[..., None]
    lengths = np.array([2, 1])
    expected = (1 + 4 + 9) / 3
    assert metrics.mse(pred, target, lengths) == pytest.approx(expected)
    t = {"targets": torch.as_tensor(target), "lengths": torch.as_tensor(lengths)}
    assert float(torch_loss(torch.as_tensor(pred), t, "mse")) == pytest.approx(expected)
    j = jax_loss(jnp.asarray(pred), jnp.asarray(target), jnp.asarray(lengths), jnp.ones(2),
                 "mse")
    assert float(j) == pytest.approx(expected)


def test_accuracy_reads_the_last_valid_step():
    logits = np.zeros((2, 5, 3))
    logits[0, 1, 2] = 1.0  # sequence 0 ends at step 1: class 2
    logits[0, 4, 0] = 9.0  # padding says class 0: must be ignored
    logits[1, 4, 1] = 1.0  # sequence 1 uses every step: class 1
    assert metrics.accuracy(logits, np.array([2, 1]), np.array([2, 5])) == 1.0
    assert metrics.accuracy(logits, np.array([0, 1]), np.array([2, 5])) == 0.5


def test_elapsed_time_is_appended_for_models_that_ask_for_it(models):
    vowels, flipflop = get_task("vowels-irregular-50"), get_task("flipflop-3bit")
    assert sequences.gets_elapsed_time(vowels, models["gru"])
    assert sequences.gets_elapsed_time(vowels, models["lstm"])
    assert not sequences.gets_elapsed_time(vowels, models["gnode"])  # integrates over dt
    assert not sequences.gets_elapsed_time(flipflop, models["gru"])  # no such task feature
    split = {"inputs": np.ones((2, 3, 4), np.float32),
             "dt": np.array([[0.01, 0.03, 0.02], [0.05, 0.01, 0.01]], np.float32)}
    out = sequences.with_elapsed_time(split, 0.01)
    assert out["inputs"].shape == (2, 3, 5)
    np.testing.assert_allclose(out["inputs"][..., -1], [[1, 3, 2], [5, 1, 1]], rtol=1e-6)
    np.testing.assert_array_equal(out["inputs"][..., :4], split["inputs"])


def test_output_size_and_shape_checks():
    vowels = get_task("vowels")
    assert sequences.is_classification(vowels)
    assert sequences.n_outputs(vowels, {}) == 9
    test = {"inputs": np.zeros((4, 7, 12)), "targets": np.zeros(4, int)}
    assert sequences.shape_problem(np.zeros((4, 7, 9)), test, 9) is None
    assert "expected (4, 7, 9)" in sequences.shape_problem(np.zeros((4, 9)), test, 9)
    assert sequences.example_trial(vowels, "smoke") is None  # classification: no trial drawn
    t = {"inputs": np.zeros((2, 6, 2)), "targets": np.ones((2, 6, 1)), "dt": np.ones((2, 6)),
         "lengths": np.array([4, 6])}
    trial = sequences.first_trial(t)  # its valid steps only
    assert trial["inputs"].shape == (1, 4, 2) and trial["dt"].shape == (1, 4)
    ex = sequences.example_record(trial, np.zeros((1, 4, 1)))
    assert len(ex["inputs"]) == len(ex["targets"]) == len(ex["outputs"]) == 4
