"""The UEA/UCR generator (``tasks/uea.py``) on a small archive written into a temporary data
cache: partitions, standardisation, the irregular variants' dropped fraction and times."""

from __future__ import annotations

import numpy as np
import pytest

from bench.data import datasets
from tasks import uea

N_TRAIN, N_TEST, T, C = 40, 12, 20, 3
DATA = {"dataset": "Toy", "n_classes": 4, "dt": 0.01, "validation_fraction": 0.25,
        "split_seed": 0, "drop": 0.0}


@pytest.fixture
def archive(tmp_path, monkeypatch):
    """A toy archive in a temporary cache: lengths 5-20, values offset by class."""
    monkeypatch.setenv("CTRNN_BENCH_DATA", str(tmp_path))
    rng = np.random.default_rng(0)
    raw = {}
    for split, n in (("train", N_TRAIN), ("test", N_TEST)):
        lengths = rng.integers(5, T + 1, size=n)
        labels = rng.integers(0, 4, size=n)
        values = np.zeros((n, T, C), np.float32)
        for i, L in enumerate(lengths):
            values[i, :L] = 3.0 + labels[i] + 2.0 * rng.standard_normal((L, C))
        raw.update({f"{split}_values": values, f"{split}_lengths": lengths,
                    f"{split}_labels": labels})
    raw["classes"] = np.array(["a", "b", "c", "d"])
    datasets.store(datasets.key(uea.SOURCE, uea.cache_params(DATA)), raw, {}, ())
    return raw


def gen(split, size, seed=5, **change):
    return uea.generate({**DATA, **change}, size, seed, split)


def test_train_and_validation_partition_the_archive_train_split(archive):
    tr, va = gen("train", 30), gen("validation", 10)
    assert len(tr["targets"]) + len(va["targets"]) == N_TRAIN
    te = gen("test", N_TEST)
    np.testing.assert_array_equal(te["targets"], archive["test_labels"])
    np.testing.assert_array_equal(te["lengths"], archive["test_lengths"])
    with pytest.raises(ValueError, match="says 31"):
        gen("train", 31)


def test_values_are_standardised_with_the_training_part_only(archive):
    tr = gen("train", 30)
    mask = np.arange(tr["inputs"].shape[1])[None, :] < tr["lengths"][:, None]
    points = tr["inputs"][mask]
    np.testing.assert_allclose(points.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(points.std(axis=0), 1.0, atol=1e-4)
    assert np.all(tr["inputs"][~mask] == 0.0)  # padding is zero


def test_regular_series_have_unit_steps_and_their_own_lengths(archive):
    te = gen("test", N_TEST)
    for i, L in enumerate(archive["test_lengths"]):
        np.testing.assert_allclose(te["dt"][i, :L], 0.01)
        np.testing.assert_allclose(te["times"][i, :L], 0.01 * np.arange(L), rtol=1e-6)


@pytest.mark.parametrize("drop", [0.3, 0.5, 0.7])
def test_irregular_variants_drop_the_stated_fraction(archive, drop):
    te = gen("test", N_TEST, drop=drop)
    for i, L in enumerate(archive["test_lengths"]):
        kept = te["lengths"][i]
        assert kept == max(1, L - round(drop * L))
        times = te["times"][i, :kept]
        assert np.all(np.diff(times) > 0) and times[-1] <= 0.01 * (L - 1) + 1e-7
        # dt: the time from each kept point to the next (one frame after the last)
        np.testing.assert_allclose(te["dt"][i, :kept],
                                   np.diff(np.concatenate([times, [times[-1] + 0.01]])),
                                   atol=1e-7)
        # the kept values are the original points at the kept times, standardised alike
        idx = np.rint(times / 0.01).astype(int)
        full = gen("test", N_TEST)["inputs"][i]
        np.testing.assert_allclose(te["inputs"][i, :kept], full[idx], atol=1e-6)


def test_the_dropped_points_depend_on_the_split_seed_only(archive):
    a, b = gen("test", N_TEST, seed=1, drop=0.5), gen("test", N_TEST, seed=1, drop=0.5)
    c = gen("test", N_TEST, seed=2, drop=0.5)
    np.testing.assert_array_equal(a["times"], b["times"])
    assert not np.array_equal(a["times"], c["times"])


def test_keep_points_over_many_draws():
    rng = np.random.default_rng(0)
    for L in (7, 10, 29):
        for drop in (0.3, 0.5, 0.7):
            k = uea.keep_points(L, drop, rng)
            assert len(k) == L - round(drop * L) and len(set(k)) == len(k)
            assert np.all(np.diff(k) > 0) and k.min() >= 0 and k.max() < L


def test_class_count_mismatch_is_reported(archive):
    with pytest.raises(ValueError, match="4 classes"):
        gen("test", N_TEST, n_classes=5)
