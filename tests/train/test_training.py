"""Trainer plumbing: ``bench.train.training.batches`` and the JAX trainer's padded batches."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from bench.train import train_jax
from bench.train.training import batches


def test_batches_in_order_with_a_short_last_batch():
    out = batches(10, 3, None)
    assert [b.tolist() for b in out] == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]


def test_shuffled_batches_cover_every_index_once():
    out = batches(103, 10, np.random.default_rng(0))
    assert [len(b) for b in out] == [10] * 10 + [3]
    flat = np.concatenate(out)
    assert sorted(flat.tolist()) == list(range(103))
    assert flat.tolist() != list(range(103))
    again = np.concatenate(batches(103, 10, np.random.default_rng(0)))
    np.testing.assert_array_equal(flat, again)  # seeded: reproducible


def test_jax_padding_rows_have_zero_weight_and_do_not_change_the_loss():
    import jax

    rng = np.random.default_rng(0)
    split = {"inputs": rng.normal(size=(7, 4, 2)).astype(np.float32),
             "dt": np.full((7, 4), 0.1, np.float32),
             "targets": rng.normal(size=(7, 4, 1)).astype(np.float32)}
    idx = np.array([5, 2, 6])
    x, dt, y, lengths, w = train_jax.padded_batch(split, idx, 5, jax.devices("cpu")[0])
    assert lengths is None  # equal lengths: every step counts, the plain mean
    assert x.shape == (5, 4, 2) and w.tolist() == [1, 1, 1, 0, 0]

    def model(xs, dts):  # a fixed "model": the sum of the inputs, per step
        return jnp.sum(xs, axis=-1, keepdims=True)

    expected = np.mean((split["inputs"][idx].sum(-1, keepdims=True) - split["targets"][idx]) ** 2)
    assert float(train_jax.model_loss(model, x, dt, y, lengths, w, "mse")) == pytest.approx(
        expected, rel=1e-6)
