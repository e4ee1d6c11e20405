"""Checkpoints (``bench.train.checkpoints``): round trips in both frameworks, errors, atomic
writes."""

from __future__ import annotations

import hashlib
import os
import stat

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from bench.errors import UserError
from bench.train import checkpoints

CONFIG = {"N": 4, "widths": [8], "tau": 0.01, "solver": "euler"}
I_IN, O_OUT = 2, 3


@pytest.fixture(scope="module")
def gnode(models):
    return models["gnode"]


def inputs():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 9, I_IN)).astype(np.float32)
    return x, np.full((2, 9), 0.01, np.float32)


def run(model, framework):
    x, dt = inputs()
    if framework == "torch":
        with torch.no_grad():
            return model(torch.from_numpy(x), torch.from_numpy(dt)).numpy()
    return np.asarray(jax.vmap(model)(jnp.asarray(x), jnp.asarray(dt)))


def trained_like(gnode, framework):
    """A model whose parameters differ from what ``load`` builds before reading the file."""
    mod = gnode.load(framework)
    if framework == "torch":
        torch.manual_seed(123)
        model = mod.build(CONFIG, I_IN, O_OUT)
        with torch.no_grad():
            model.h0.normal_(0, 0.5)  # a learned initial state, not the built zeros
        return mod, model
    model = mod.build(CONFIG, I_IN, O_OUT, key=jax.random.PRNGKey(123))
    model = jax.tree_util.tree_map(lambda a: a + 0.1 if isinstance(a, jax.Array) else a, model)
    return mod, model


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".")
                  or p.suffix == ".tmp")


@pytest.mark.slow
@pytest.mark.parametrize("framework", ["torch", "jax"])
def test_round_trip_gives_identical_outputs(gnode, framework, tmp_path):
    mod, model = trained_like(gnode, framework)
    path = checkpoints.path_for(tmp_path / "gnode-x-seed0.json", framework)
    checkpoints.save(model, framework, path)
    assert path.is_file()
    loaded = checkpoints.load(mod, framework, CONFIG, I_IN, O_OUT, path)
    expected = run(model, framework)
    np.testing.assert_array_equal(run(loaded, framework), expected)
    # the load did not just rebuild the model: a fresh build computes something else
    fresh = (mod.build(CONFIG, I_IN, O_OUT) if framework == "torch"
             else mod.build(CONFIG, I_IN, O_OUT, key=jax.random.PRNGKey(0)))
    assert np.abs(run(fresh, framework) - expected).max() > 1e-3
    if framework == "torch":
        assert not loaded.training  # ready for evaluation
        for k, v in model.state_dict().items():
            assert torch.equal(loaded.state_dict()[k], v), k


def test_path_for_uses_the_framework_suffix(tmp_path):
    res = tmp_path / "t@v1" / "smoke" / "cpu" / "gnode-torch-seed0.json"
    assert checkpoints.path_for(res, "torch") == res.with_name("gnode-torch-seed0.pt")
    assert checkpoints.path_for(res, "jax") == res.with_name("gnode-torch-seed0.eqx")


@pytest.mark.parametrize("framework", ["torch", "jax"])
def test_save_creates_folders_is_readable_and_leaves_no_temporary_file(gnode, framework,
                                                                        tmp_path):
    _, model = trained_like(gnode, framework)
    path = tmp_path / "a" / "b" / f"m{checkpoints.SUFFIX[framework]}"
    checkpoints.save(model, framework, path)
    assert leftovers(path.parent) == []
    assert list(path.parent.iterdir()) == [path]
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644  # not mkstemp's private 0600
    assert checkpoints.sha256(path) == hashlib.sha256(path.read_bytes()).hexdigest()
    # saving again replaces the file in place
    checkpoints.save(model, framework, path)
    assert list(path.parent.iterdir()) == [path]
    assert leftovers(path.parent) == []


def test_jax_checkpoint_bytes_depend_only_on_the_parameters(gnode, tmp_path):
    _, model = trained_like(gnode, "jax")
    checkpoints.save(model, "jax", tmp_path / "a.eqx")
    checkpoints.save(model, "jax", tmp_path / "b.eqx")
    assert checkpoints.sha256(tmp_path / "a.eqx") == checkpoints.sha256(tmp_path / "b.eqx")


def test_torch_checkpoint_bytes_depend_only_on_the_parameters(gnode, tmp_path):
    _, model = trained_like(gnode, "torch")
    checkpoints.save(model, "torch", tmp_path / "m.pt")
    first = checkpoints.sha256(tmp_path / "m.pt")
    checkpoints.save(model, "torch", tmp_path / "m.pt")
    assert checkpoints.sha256(tmp_path / "m.pt") == first


@pytest.mark.parametrize("framework", ["torch", "jax"])
def test_failed_save_keeps_the_old_checkpoint_and_no_temporary_file(gnode, framework,
                                                                     tmp_path, monkeypatch):
    """A write that dies half-way (a full disk, say) must not touch the existing file."""
    import equinox as eqx

    mod, model = trained_like(gnode, framework)
    path = tmp_path / f"m{checkpoints.SUFFIX[framework]}"
    checkpoints.save(model, framework, path)
    before = path.read_bytes()

    def half_write(*args, **kwargs):  # torch.save(obj, f), tree_serialise_leaves(f, obj)
        f = next(a for a in args if isinstance(a, str | os.PathLike) or hasattr(a, "write"))
        if hasattr(f, "write"):
            f.write(b"partial")
        else:
            with open(f, "wb") as fh:
                fh.write(b"partial")
        raise OSError("No space left on device")

    if framework == "torch":
        monkeypatch.setattr(torch, "save", half_write)
    else:
        monkeypatch.setattr(eqx, "tree_serialise_leaves", half_write)
    with pytest.raises(OSError, match="No space"):
        checkpoints.save(model, framework, path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert leftovers(tmp_path) == []
    loaded = checkpoints.load(mod, framework, CONFIG, I_IN, O_OUT, path)
    np.testing.assert_array_equal(run(loaded, framework), run(model, framework))


def test_interrupted_save_leaves_no_temporary_file(gnode, tmp_path, monkeypatch):
    """KeyboardInterrupt during the write: cleaned up too (BaseException, not Exception)."""

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    _, model = trained_like(gnode, "torch")
    monkeypatch.setattr(torch, "save", interrupted)
    with pytest.raises(KeyboardInterrupt):
        checkpoints.save(model, "torch", tmp_path / "m.pt")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("framework", ["torch", "jax"])
def test_missing_checkpoint_is_a_user_error(gnode, framework, tmp_path):
    with pytest.raises(UserError, match="no checkpoint"):
        checkpoints.load(gnode.load(framework), framework, CONFIG, I_IN, O_OUT,
                         tmp_path / f"none{checkpoints.SUFFIX[framework]}")


@pytest.mark.slow
@pytest.mark.parametrize("framework", ["torch", "jax"])
def test_checkpoint_of_another_size_is_a_user_error(gnode, framework, tmp_path):
    mod, model = trained_like(gnode, framework)
    path = tmp_path / f"m{checkpoints.SUFFIX[framework]}"
    checkpoints.save(model, framework, path)
    with pytest.raises(UserError, match="does not load") as e:
        checkpoints.load(mod, framework, {**CONFIG, "N": 5}, I_IN, O_OUT, path)
    assert "\n" not in str(e.value)


def corrupt(data: bytes, how: str) -> bytes:
    return {"truncated": data[: len(data) // 2], "header only": data[:10]}[how]


@pytest.mark.parametrize("framework", ["torch", "jax"])
@pytest.mark.parametrize("how", ["truncated", "header only"])
def test_truncated_checkpoint_is_a_user_error(gnode, framework, how, tmp_path):
    mod, model = trained_like(gnode, framework)
    path = tmp_path / f"m{checkpoints.SUFFIX[framework]}"
    checkpoints.save(model, framework, path)
    path.write_bytes(corrupt(path.read_bytes(), how))
    with pytest.raises(UserError, match="does not load"):
        checkpoints.load(mod, framework, CONFIG, I_IN, O_OUT, path)


def test_garbage_jax_checkpoint_is_a_user_error(gnode, tmp_path):
    path = tmp_path / "m.eqx"
    for data in (b"", b"this is not a checkpoint" * 20):
        path.write_bytes(data)
        with pytest.raises(UserError, match="does not load"):
            checkpoints.load(gnode.load("jax"), "jax", CONFIG, I_IN, O_OUT, path)


def test_garbage_torch_checkpoint_is_a_user_error(gnode, tmp_path):
    path = tmp_path / "m.pt"
    path.write_bytes(b"this is not a checkpoint" * 20)
    with pytest.raises(UserError, match="does not load"):
        checkpoints.load(gnode.load("torch"), "torch", CONFIG, I_IN, O_OUT, path)


def test_empty_torch_checkpoint_is_a_user_error(gnode, tmp_path):
    path = tmp_path / "m.pt"
    path.write_bytes(b"")
    with pytest.raises(UserError, match="does not load"):
        checkpoints.load(gnode.load("torch"), "torch", CONFIG, I_IN, O_OUT, path)
