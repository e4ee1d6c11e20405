"""``bench.train.cuda_graph``: which training steps are captured, and (on a GPU) that a replayed
step trains exactly like the eager one."""

from __future__ import annotations

import copy

import pytest
import torch

from bench.models import impl
from bench.models.ode_torch import ODERNN
from bench.models.rnn_torch import StandardRNN
from bench.train.cuda_graph import GraphedStep, wants_graphs


def _ode(**kw) -> ODERNN:
    torch.manual_seed(0)
    return ODERNN(3, 2, N=6, widths=[6], activation="tanh", tau=0.5, **kw)


def test_only_graph_safe_models_on_a_gpu_under_the_fast_path():
    assert not wants_graphs(_ode(), "cpu")
    assert wants_graphs(_ode(), "cuda")
    assert wants_graphs(StandardRNN("gru", 3, 2, N=4), torch.device("cuda"))
    assert not wants_graphs(_ode(solver="dopri5"), "cuda")  # adaptive: data-dependent steps
    assert not wants_graphs(torch.nn.Linear(2, 2), "cuda")  # no opt-in
    with impl.using("reference"):
        assert not wants_graphs(_ode(), "cuda")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA graphs need a GPU")
@pytest.mark.parametrize("build", [_ode, lambda: StandardRNN("gru", 3, 2, N=6)])
def test_replayed_steps_train_like_eager_steps(build):
    eager = build().cuda()
    graphed = copy.deepcopy(eager)
    opts = [torch.optim.AdamW(m.parameters(), lr=1e-2, capturable=c)
            for m, c in ((eager, False), (graphed, True))]
    g = torch.Generator().manual_seed(1)
    batches = [{"inputs": torch.randn(b, 7, 3, generator=g).cuda(),
                "dt": torch.full((b, 7), 0.1).cuda(),
                "targets": torch.randn(b, 7, 2, generator=g).cuda()} for b in (5, 5, 3, 5)]

    def loss_fn(model):
        return lambda b: torch.mean((model(b["inputs"], b["dt"]) - b["targets"]) ** 2)

    step = GraphedStep(graphed, opts[1], loss_fn(graphed))
    for b in batches:  # two batch sizes: two graphs, the warm-ups undone each time
        opts[0].zero_grad()
        expected = loss_fn(eager)(b)
        expected.backward()
        opts[0].step()
        got = step(b)
        torch.testing.assert_close(got, expected.detach(), rtol=1e-5, atol=1e-6)
    for p, q in zip(graphed.parameters(), eager.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)
    assert len(step.graphs) == 2 and step.capture_s > 0
