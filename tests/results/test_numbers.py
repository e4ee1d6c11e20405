"""Short numbers in result files (``bench.results.numbers``): every float32 reads back as the
same float32, values that are not float32s are left alone, and outputs keep their decimals."""

from __future__ import annotations

import json

import numpy as np

from bench.results import numbers


def test_shortest_reads_back_as_the_same_float32_and_is_short():
    rng = np.random.default_rng(0)
    values = np.concatenate([rng.normal(size=2000), 10.0 ** rng.uniform(-9, 6, 2000)])
    for v in values.astype(np.float32):
        s = numbers.shortest(v)
        assert np.float32(s) == v
        assert len(repr(s)) <= len(repr(float(v)))
        assert len(repr(s)) <= 15  # nine significant digits and an exponent at most


def test_values_that_are_not_float32s_and_non_finite_ones_are_left_alone():
    assert numbers.shortest(0.1) == 0.1  # a float64 that no float32 equals
    assert numbers.shortest(np.float64(1 / 3)) == 1 / 3
    assert np.isnan(numbers.shortest(float("nan")))
    assert numbers.shortest(np.float32(np.inf)) == np.inf
    doc = {"curve": {"val_loss": [0.1, 1 / 3], "train_loss": [2.0]}, "metrics": {"mse": 1 / 7}}
    assert numbers.shorten(doc) is False
    assert doc == {"curve": {"val_loss": [0.1, 1 / 3], "train_loss": [2.0]},
                   "metrics": {"mse": 1 / 7}}


def test_shorten_rewrites_curves_and_outputs_and_nothing_else():
    pred = np.random.default_rng(1).normal(size=(6, 3)).astype(np.float32)
    loss = np.float32([0.7511748, 0.5, 1e-5])
    doc = {"curve": {"train_loss": loss.astype(np.float64).tolist(), "best_epoch": 2},
           "example": {"outputs": pred.round(4).astype(np.float64).tolist(), "trial": 0},
           "metrics": {"mse": float(np.float32(0.1))}}
    metrics = dict(doc["metrics"])
    before = len(json.dumps(doc))
    assert numbers.shorten(doc) is True
    assert doc["curve"]["train_loss"] == [0.7511748, 0.5, 1e-05]
    assert doc["curve"]["best_epoch"] == 2 and doc["metrics"] == metrics  # metrics untouched
    out = np.asarray(doc["example"]["outputs"])
    assert np.array_equal(out, out.round(4))
    assert np.array_equal(out.astype(np.float32), pred.round(4))
    assert len(json.dumps(doc)) < 0.7 * before
    assert numbers.shorten(doc) is False  # nothing left to shorten
