"""Many PyTorch cells as one program (``bench.train.ensemble_torch``): each member must come out as
its own solo cell (``bench.train.train_torch.fit_predict``) would, to float32 tolerance, and a
model the program cannot run correctly must refuse itself. The diverging member and the refused
cells, for both frameworks: ``test_ensemble.py``."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from test_ensemble_jax import assert_member_is_solo, data, member_specs
from test_trainers import splits as constant_splits

from bench.train import ensemble_torch, train_torch
from bench.train.ensemble import CannotEnsemble
from bench.train.training import Diverged, TrainSpec


def test_stacked_adamw_is_torch_adamw():
    """Three members with their own learning rates and weight decays, stacked, against
    ``torch.optim.AdamW`` on each member alone, over 30 steps of random gradients."""
    rng = np.random.default_rng(0)
    lrs, wds = [1e-3, 3e-2, 0.5], [0.0, 1e-2, 0.3]
    start = torch.as_tensor(rng.normal(size=(3, 4, 5)), dtype=torch.float32)
    grads = torch.as_tensor(rng.normal(size=(30, 3, 4, 5)), dtype=torch.float32)
    stacked = {"w": start.clone()}
    opt = ensemble_torch.StackedAdamW(stacked, torch.tensor(lrs), torch.tensor(wds),
                                      (0.9, 0.999))
    for g in grads:
        opt.step(stacked, {"w": g})
    for i, (lr, wd) in enumerate(zip(lrs, wds, strict=True)):
        w = torch.nn.Parameter(start[i].clone())
        alone = torch.optim.AdamW([w], lr=lr, weight_decay=wd, betas=(0.9, 0.999))
        for g in grads:
            w.grad = g[i].clone()
            alone.step()
        torch.testing.assert_close(stacked["w"][i], w.detach(), rtol=1e-6, atol=1e-7)


def assert_same_parameters(member, solo) -> None:
    """The trained module each member returns (what is checkpointed and analysed) is its solo
    cell's."""
    mine = member.model.state_dict()
    for name, value in solo.model.state_dict().items():
        torch.testing.assert_close(mine[name].cpu(), value.cpu(), rtol=1e-4, atol=1e-5,
                                   msg=name)


def check_members_are_solo(models, name: str, device: str = "cpu", **config) -> None:
    module = models[name].load("torch")
    specs = member_specs(models, name, device, **config)
    train, validation, evaluate = data()
    members = ensemble_torch.fit_predict_ensemble(module, specs, train, validation, evaluate)
    outputs = set()
    for spec, member in zip(specs, members, strict=True):
        assert not isinstance(member, Diverged)
        solo = train_torch.fit_predict(module, spec, train, validation, evaluate)
        assert_member_is_solo(member, solo)
        assert_same_parameters(member, solo)
        assert member.timing["ensemble_members"] == len(specs)
        outputs.add(member.predictions["test"].tobytes())
    assert len(outputs) == len(specs)  # the members really differ


@pytest.mark.slow
@pytest.mark.parametrize("name,config", [
    ("gnode", {"h0": "first-input"}),  # the authors' h0, with a frozen h0 parameter beside it
    ("mgru", {}),
])
def test_each_member_is_its_solo_cell(models, name, config):
    """Seeds, learning rates and weight decays differ across the members; the batches are
    shuffled by each member's own seed."""
    check_members_are_solo(models, name, **config)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_each_member_is_its_solo_cell_on_a_gpu(models):
    """On a GPU the solo cell's step is a CUDA graph with a capturable AdamW."""
    check_members_are_solo(models, "gnode", "cuda")


@pytest.mark.slow
def test_variable_lengths_and_classification_loss(models):
    """Sequences of their own lengths under the cross-entropy loss (the vowels tasks)."""
    module = models["rnn"].load("torch")
    specs = [dataclasses.replace(s, n_outputs=3, training={**s.training, "loss": "cross_entropy"})
             for s in member_specs(models, "rnn")]
    train, validation, evaluate = data(lengths=True)
    for split in (train, validation):
        split["targets"] = (split["inputs"][:, 0, 0] > 0).astype(np.int64) + (
            split["inputs"][:, 0, 1] > 0).astype(np.int64)
    members = ensemble_torch.fit_predict_ensemble(module, specs, train, validation, evaluate)
    for spec, member in zip(specs, members, strict=True):
        assert_member_is_solo(member, train_torch.fit_predict(module, spec, train, validation,
                                                               evaluate))


class Counter(torch.nn.Module):
    """Runs under vmap without complaint but computes wrongly: it reads a Python-side count of
    its calls, which one vmapped call advances once for all members."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))
        self.calls = 0

    def forward(self, x, dt):
        self.calls += 1
        return torch.zeros(*x.shape[:2], 1) + self.w + self.calls


class Hidden(torch.nn.Module):
    """Reads its parameter through a dict of its own (as ncps's LTC does): functional_call swaps
    the registered parameter, not the dict's, so every member would use the first one's."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.randn(1))
        self.refs = {"w": self.w}

    def forward(self, x, dt):
        return torch.zeros(*x.shape[:2], 1) + self.refs["w"]


class Complex(torch.nn.Module):
    """A complex parameter, which torch.optim.AdamW updates through its real view."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1, dtype=torch.complex64))

    def forward(self, x, dt):
        return torch.zeros(*x.shape[:2], 1) + self.w.real


class Running(torch.nn.Module):
    """Updates a buffer as it trains (a running statistic)."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))
        self.register_buffer("seen", torch.zeros(1))

    def forward(self, x, dt):
        self.seen.add_(1.0)
        return torch.zeros(*x.shape[:2], 1) + self.w


@pytest.mark.parametrize("model,why", [
    (Counter, "computes a different"),
    (Hidden, "does not replace"),
    (Complex, "complex or integer parameters"),
    (Running, "updates its buffers"),
])
def test_a_model_the_program_would_run_wrongly_refuses_itself(model, why):
    """Each of these trains alone as it should; as one program it would silently not. The
    program refuses itself before training, naming why (the harness then trains the cells one
    by one)."""
    module = type("M", (), {"build": staticmethod(lambda config, n_in, n_out: model())})
    base = TrainSpec(config={}, device="cpu", seed=0, n_inputs=1, n_outputs=1,
                     training={"lr": 0.01, "betas": [0.9, 0.999], "weight_decay": 0.0,
                               "batch_size": 8, "epochs": 2})
    with pytest.raises(CannotEnsemble, match=why):
        ensemble_torch.fit_predict_ensemble(module, [base, dataclasses.replace(base, seed=1)],
                                            *constant_splits())


def test_a_model_vmap_cannot_run_refuses_itself(models):
    """``torch.nn.GRU`` has no batching rule: the program raises CannotEnsemble before it
    trains, naming why."""
    with pytest.raises(CannotEnsemble, match="vmap cannot run this model"):
        ensemble_torch.fit_predict_ensemble(models["gru"].load("torch"),
                                            member_specs(models, "gru"), *data())
