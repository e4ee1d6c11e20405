"""The flip-flop generator (``tasks/flipflop.py``) and the three task files' data.

Statistics are checked against the task files' parameters within a few standard errors
(seeded, so the tests are deterministic), and the targets are recomputed from the inputs.
"""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from conftest import ROOT
from helpers import runs_of

from bench.spec.tasks import get_task
from tasks.flipflop import generate

TASKS = ("flipflop-2bit-ring", "flipflop-2bit-square", "flipflop-3bit")
N_STAT = 2000


@pytest.fixture(scope="module")
def big():
    """2000 trials of each task, generated once."""
    return {name: generate(get_task(name).data, N_STAT, 12345) for name in TASKS}


def raw_task(name):
    """The task file's data as written (template first, then the task's own keys)."""
    template = yaml.safe_load((ROOT / "tasks" / "_flipflop.yaml").read_text())["data"]
    own = yaml.safe_load((ROOT / "tasks" / f"{name}.yaml").read_text())["data"]
    return {**template, **own}


def last_pulse_targets(inputs, initial, vector):
    """Independent target: the last non-zero input at or before t, else the initial value."""
    n, T, _ = inputs.shape
    out = np.empty_like(inputs)
    for i in range(n):
        held = np.array(initial, np.float32)
        for t in range(T):
            if vector:
                if np.any(inputs[i, t] != 0):
                    held = inputs[i, t].copy()
            else:
                nz = inputs[i, t] != 0
                held = np.where(nz, inputs[i, t], held)
            out[i, t] = held
    return out


def segments(inputs, vector):
    """Constant-value pieces of each maximal non-zero run, per trial and channel.

    Yields (run_start, run_stop, [(seg_start, seg_stop, value), ...]). In vector mode a
    "channel" is the whole input vector.
    """
    n, _, C = inputs.shape
    for i in range(n):
        chans = [None] if vector else range(C)
        for c in chans:
            sig = inputs[i] if vector else inputs[i, :, c : c + 1]
            active = np.any(sig != 0, axis=1)
            for a, b in runs_of(active):
                segs, s = [], a
                for t in range(a + 1, b + 1):
                    if t == b or np.any(sig[t] != sig[t - 1]):
                        segs.append((s, t, sig[s].copy()))
                        s = t
                yield a, b, segs


@pytest.mark.parametrize("name", TASKS)
def test_task_data_match_files(name):
    data = get_task(name).data
    for key, value in raw_task(name).items():
        assert data[key] == value
    assert (data["pulse_rate"], data["pulse_width"], data["n_bins"]) == (12, 3, 100)


@pytest.mark.parametrize("name", TASKS)
def test_shapes_and_dtypes(name, big):
    d = big[name]
    C = raw_task(name)["channels"]
    assert d["inputs"].shape == (N_STAT, 100, C) and d["inputs"].dtype == np.float32
    assert d["targets"].shape == (N_STAT, 100, C) and d["targets"].dtype == np.float32
    assert d["dt"].shape == (N_STAT, 100)
    np.testing.assert_array_equal(d["dt"], np.float32(0.01))


@pytest.mark.parametrize("name", TASKS)
def test_pulse_count_is_poisson_with_the_task_rate(name, big):
    k = big[name]["n_pulses"]
    rate = raw_task(name)["pulse_rate"]
    se_mean = np.sqrt(rate / N_STAT)
    se_var = np.sqrt((rate + 2 * rate**2) / N_STAT)  # Var of the sample variance, Poisson
    assert abs(k.mean() - rate) < 4 * se_mean
    assert abs(k.var(ddof=1) - rate) < 4 * se_var
    # P(K = 0) = exp(-12) ~ 6e-6: essentially no empty trial, and such trials have no input
    silent = k == 0
    assert not np.any(big[name]["inputs"][silent])


@pytest.mark.parametrize("name", TASKS)
def test_visible_pulses_match_the_count(name, big):
    """Each constant piece of input is one pulse; only pulses hidden under a later pulse with
    the same start (and channel) are invisible, a few percent at 12 pulses in 100 bins."""
    d = big[name]
    vector = raw_task(name)["pulse_mode"] == "vector"
    n = 300
    visible = np.zeros(n, int)
    for i in range(n):
        visible[i] = sum(len(segs) for _, _, segs in segments(d["inputs"][i : i + 1], vector))
    assert np.all(visible <= d["n_pulses"][:n])
    assert visible.sum() >= 0.9 * d["n_pulses"][:n].sum()


@pytest.mark.parametrize("name", TASKS)
def test_pulse_widths(name, big):
    """Runs of input last >= pulse_width bins unless cut by the trial's end; the last pulse of
    a run (written last) is whole; an isolated pulse is exactly pulse_width bins."""
    d = big[name]
    width, T = raw_task(name)["pulse_width"], raw_task(name)["n_bins"]
    vector = raw_task(name)["pulse_mode"] == "vector"
    n_isolated = n_clipped = 0
    for a, b, segs in segments(d["inputs"][:500], vector):
        if b < T:
            assert b - a >= width
        else:
            n_clipped += 1
        for s0, s1, _ in segs:
            assert 1 <= s1 - s0 <= width
        last_start, last_stop, _ = segs[-1]
        assert last_stop - last_start == min(width, T - last_start)
        if len(segs) == 1:
            assert b - a == min(width, T - a)
            n_isolated += 1
    assert n_isolated > 1000
    assert n_clipped > 0  # pulses near the end exist, and are clipped, not wrapped


@pytest.mark.parametrize("name", ["flipflop-2bit-square", "flipflop-3bit"])
def test_uniform_amplitudes(name, big):
    values = np.array([seg[2][0] for _, _, segs in segments(big[name]["inputs"][:1000], False)
                       for seg in segs])
    n = len(values)
    assert n > 5000
    assert np.all(np.abs(values) <= 1.0)
    assert abs(values.mean()) < 4 * np.sqrt(1 / 3 / n)
    assert values.var() == pytest.approx(1 / 3, abs=4 * np.sqrt(4 / 45 / n))  # Var(U^2)=4/45
    counts, _ = np.histogram(values, bins=10, range=(-1, 1))
    assert np.all(np.abs(counts - n / 10) < 5 * np.sqrt(n / 10))


@pytest.mark.parametrize("name", ["flipflop-2bit-square", "flipflop-3bit"])
def test_channel_pulses_hit_one_channel_each_and_channels_equally(name, big):
    d = big[name]
    C = raw_task(name)["channels"]
    per_channel = np.zeros(C, int)
    for c in range(C):
        for i in range(1000):
            per_channel[c] += len(runs_of(d["inputs"][i, :, c] != 0))
    expected = per_channel.sum() / C
    assert np.all(np.abs(per_channel - expected) < 5 * np.sqrt(expected))


def test_ring_pulses_have_radius_two_and_uniform_angle(big):
    d = big["flipflop-2bit-ring"]
    x = d["inputs"][:1000]
    active = np.any(x != 0, axis=-1)
    np.testing.assert_allclose(np.linalg.norm(x[active], axis=-1), 2.0, rtol=1e-6)
    vecs = np.array([seg[2] for _, _, segs in segments(x, True) for seg in segs])
    n = len(vecs)
    assert n > 5000
    angle = np.arctan2(vecs[:, 1], vecs[:, 0])
    counts, _ = np.histogram(angle, bins=8, range=(-np.pi, np.pi))
    assert np.all(np.abs(counts - n / 8) < 5 * np.sqrt(n / 8))
    # mean of cos and sin of a uniform angle is 0, each with variance 1/2
    assert abs(np.cos(angle).mean()) < 4 * np.sqrt(0.5 / n)
    assert abs(np.sin(angle).mean()) < 4 * np.sqrt(0.5 / n)
    # targets live on the same circle
    np.testing.assert_allclose(np.linalg.norm(d["targets"][:1000], axis=-1), 2.0, rtol=1e-6)


@pytest.mark.parametrize("name", TASKS)
def test_targets_hold_the_last_pulse(name, big):
    raw = raw_task(name)
    x = big[name]["inputs"][:300]
    expected = last_pulse_targets(x, raw["initial"], raw["pulse_mode"] == "vector")
    np.testing.assert_array_equal(big[name]["targets"][:300], expected)


@pytest.mark.parametrize("name", TASKS)
def test_initial_values_before_the_first_pulse(name, big):
    initial = np.asarray(raw_task(name)["initial"], np.float32)
    d = big[name]
    # t = 0 before any pulse on that channel: the target is the task's initial value
    checked = 0
    for i in range(300):
        for c in range(len(initial)):
            nz = np.flatnonzero(d["inputs"][i, :, c])
            first = nz[0] if len(nz) else 100
            np.testing.assert_array_equal(d["targets"][i, :first, c], initial[c])
            checked += first
    assert checked > 0


@pytest.mark.parametrize("name", TASKS)
def test_same_seed_same_data_other_seed_other_data(name):
    data = get_task(name).data
    a, b, c = generate(data, 20, 7), generate(data, 20, 7), generate(data, 20, 8)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    assert not np.array_equal(a["inputs"], c["inputs"])


@pytest.mark.parametrize("name", TASKS)
def test_splits_differ_and_small_profiles_take_a_prefix(name):
    task = get_task(name)
    split = {s: task.load_split(s, "smoke") for s in ("train", "validation", "test")}
    assert split["train"]["inputs"].shape[0] == 100  # max_train in the smoke profile
    assert split["validation"]["inputs"].shape[0] == 50
    assert split["test"]["inputs"].shape[0] == 100
    n = 50
    for a, b in (("train", "validation"), ("train", "test"), ("validation", "test")):
        assert not np.array_equal(split[a]["inputs"][:n], split[b]["inputs"][:n])
    full = task.load_split("validation", "paper")
    assert full["inputs"].shape[0] == 100  # the split's full size
    np.testing.assert_array_equal(full["inputs"][:50], split["validation"]["inputs"])
    np.testing.assert_array_equal(full["targets"][:50], split["validation"]["targets"])
    # a split is the generator at the split's own seed and size
    direct = generate(task.data, task.splits["validation"]["size"],
                      task.splits["validation"]["seed"])
    np.testing.assert_array_equal(direct["inputs"], full["inputs"])


def test_unknown_amplitude_distribution_is_an_error():
    data = {**get_task("flipflop-3bit").data, "amplitude": {"dist": "gauss"}}
    with pytest.raises(ValueError, match="gauss"):
        generate(data, 2, 0)


def test_sign_and_annulus_amplitudes():
    base = get_task("flipflop-2bit-ring").data
    sign = generate({**base, "pulse_mode": "channel", "initial": [0, 0],
                     "amplitude": {"dist": "sign"}}, 200, 0)
    vals = sign["inputs"][sign["inputs"] != 0]
    assert set(np.unique(vals)) == {-1.0, 1.0}
    ann = generate({**base, "amplitude": {"dist": "annulus", "inner": 1.0, "outer": 2.0}}, 500, 0)
    r = np.linalg.norm(ann["inputs"], axis=-1)
    r = r[r > 0]
    assert r.min() >= 1.0 - 1e-6 and r.max() <= 2.0 + 1e-6
    # uniform in area: P(r < sqrt(2.5)) = (2.5 - 1) / (4 - 1) = 1/2
    assert abs(np.mean(r < np.sqrt(2.5)) - 0.5) < 0.05
