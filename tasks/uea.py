"""UCR/UEA classification archives (aeon's bundled copies), regularly or irregularly sampled.

``prepare`` (``make data``) reads the archive's own train and test splits from aeon into the
data cache (``bench.data.datasets``); ``generate`` reads only the cache. Train and validation are a
seeded partition of the archive's train split, test is the archive's test split. Values are
standardised per channel with the training part's statistics. With ``drop`` > 0 each series
keeps a random (1 - drop) fraction of its time points, drawn from the split's seed, and ``dt``
gives the actual gaps: the model sees the observation times through them. As on every task,
input k is held over an interval of ``dt[k]`` and output k read at its end; here that interval
runs from observation k to the next one (one frame after the last), so each observation
drives the state until the next arrives, and the state never sees an observation early.

Arrays: ``inputs`` (n, T, C) padded with zeros after each series' end, ``dt`` (n, T),
``lengths`` (n,), ``targets`` (n,) class indices, ``times`` (n, T) observation times.
"""

from __future__ import annotations

import numpy as np

SOURCE = "uea"
FORMAT = 1  # of the arrays prepare() stores: a change rebuilds the cache
PACKAGES = ("aeon",)  # what prepare() imports
PIP = ("aeon",)


def cache_params(data: dict) -> dict:
    return {"dataset": data["dataset"], "format": FORMAT}


def _label_order(labels: np.ndarray) -> list[str]:
    names = sorted({str(v) for v in labels})
    return sorted(names, key=int) if all(n.isdigit() for n in names) else names


def bundled(dataset: str) -> bool:
    """Whether aeon ships the data set (aeon downloads any other one: the suite never does)."""
    from pathlib import Path

    import aeon.datasets

    return (Path(aeon.datasets.__file__).parent / "data" / dataset).is_dir()


def prepare(params: dict) -> dict[str, np.ndarray]:
    from aeon.datasets import load_classification  # reads the copy bundled with aeon

    if not bundled(params["dataset"]):
        raise ValueError(f"{params['dataset']} is not bundled with aeon, and the suite never "
                         "downloads data; choose a bundled UCR/UEA data set")
    out: dict[str, np.ndarray] = {}
    splits = {s: load_classification(params["dataset"], split=s) for s in ("train", "test")}
    classes = _label_order(np.concatenate([y for _, y in splits.values()]))
    for split, (X, y) in splits.items():
        series = [np.asarray(x, np.float32).T for x in X]  # (length, channels)
        lengths = np.array([len(s) for s in series], np.int64)
        values = np.zeros((len(series), int(lengths.max()), series[0].shape[1]), np.float32)
        for i, s in enumerate(series):
            values[i, : len(s)] = s
        out[f"{split}_values"] = values
        out[f"{split}_lengths"] = lengths
        out[f"{split}_labels"] = np.array([classes.index(str(v)) for v in y], np.int64)
    out["classes"] = np.array(classes)
    return out


def _partition(n: int, data: dict) -> dict[str, np.ndarray]:
    order = np.random.default_rng(data["split_seed"]).permutation(n)
    n_val = round(n * data["validation_fraction"])
    return {"validation": np.sort(order[:n_val]), "train": np.sort(order[n_val:])}


def keep_points(length: int, drop: float, rng: np.random.Generator) -> np.ndarray:
    """Sorted indices of the time points a series keeps: round(drop * length) are dropped
    (at least one point stays)."""
    n_keep = max(1, length - round(drop * length))
    return np.sort(rng.choice(length, size=n_keep, replace=False))


def generate(data: dict, size: int, seed: int, split: str | None = None) -> dict[str, np.ndarray]:
    from bench.data import datasets

    raw = datasets.load(datasets.key(SOURCE, cache_params(data)))
    part = _partition(len(raw["train_labels"]), data)
    if split == "test":
        values, lengths, labels = raw["test_values"], raw["test_lengths"], raw["test_labels"]
    elif split in part:
        idx = part[split]
        values, lengths = raw["train_values"][idx], raw["train_lengths"][idx]
        labels = raw["train_labels"][idx]
    else:
        raise ValueError(f"unknown split {split!r}")
    if len(labels) != size:
        raise ValueError(f"the {split} split has {len(labels)} series, the task says {size}")
    if len(raw["classes"]) != data["n_classes"]:
        raise ValueError(f"{data['dataset']} has {len(raw['classes'])} classes, the task says "
                         f"{data['n_classes']}")
    train = part["train"]  # standardise with the training part's statistics only
    valid = np.arange(raw["train_values"].shape[1])[None, :] < raw["train_lengths"][train, None]
    points = raw["train_values"][train][valid]
    mean, std = points.mean(axis=0), points.std(axis=0) + 1e-8

    rng = np.random.default_rng(seed)
    unit, drop = float(data["dt"]), float(data.get("drop", 0.0))
    kept = [keep_points(int(n), drop, rng) for n in lengths]
    T = max(len(k) for k in kept)
    n, C = len(labels), values.shape[-1]
    inputs = np.zeros((n, T, C), np.float32)
    times = np.zeros((n, T), np.float32)
    dt = np.full((n, T), unit, np.float32)  # padding: nominal steps, never read
    for i, k in enumerate(kept):
        inputs[i, : len(k)] = (values[i, k] - mean) / std
        times[i, : len(k)] = k * unit
        dt[i, : len(k)] = np.diff(k, append=k[-1] + 1) * unit  # until the next observation
    return {"inputs": inputs, "dt": dt, "lengths": np.array([len(k) for k in kept], np.int64),
            "targets": labels.astype(np.int64), "times": times}
