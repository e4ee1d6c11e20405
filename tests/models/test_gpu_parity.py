"""On a CUDA GPU every baseline computes, from the same weights, what it computes on the CPU
(both frameworks). Marked ``gpu``: it skips elsewhere, and ``make gpu-check`` runs it.

The tolerance allows TF32: cuDNN's recurrent kernels and JAX's default matmul precision on
recent GPUs round inputs to 10 mantissa bits, about 1e-3 relative.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bench.spec.registry import discover

MODELS = discover()
BASELINES = [n for n, m in sorted(MODELS.items()) if m.kind == "baseline"]


def _jax_gpu() -> bool:
    import jax

    return any(d.platform == "gpu" for d in jax.devices())


def _inputs() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return (rng.normal(size=(4, 30, 2)).astype(np.float32),
            np.full((4, 30), 0.01, np.float32))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("name", BASELINES)
def test_torch_on_cuda_matches_the_cpu(name):
    config, _ = MODELS[name].resolve("flipflop-2bit-ring", "quick")
    torch.manual_seed(0)
    model = MODELS[name].load("torch").build(config, 2, 2)
    x, dt = map(torch.tensor, _inputs())
    with torch.no_grad():
        cpu = model(x, dt).numpy()
        gpu = model.cuda()(x.cuda(), dt.cuda()).cpu().numpy()
    np.testing.assert_allclose(gpu, cpu, rtol=2e-2, atol=2e-3)


@pytest.mark.gpu
@pytest.mark.parametrize("name", BASELINES)
def test_jax_on_the_gpu_matches_the_cpu(name):
    import jax

    if not _jax_gpu():
        pytest.skip("jax sees no GPU")
    config, _ = MODELS[name].resolve("flipflop-2bit-ring", "quick")
    model = MODELS[name].load("jax").build(config, 2, 2, key=jax.random.PRNGKey(0))
    cpu, gpu = (_outputs_on(model, device) for device in (jax.devices("cpu")[0],
                                                          jax.devices("gpu")[0]))
    np.testing.assert_allclose(gpu, cpu, rtol=2e-2, atol=2e-3)


def _outputs_on(model, device) -> np.ndarray:
    """The JAX model's outputs on ``_inputs()``, computed on ``device``."""
    import equinox as eqx
    import jax

    arrays, static = eqx.partition(model, eqx.is_array)
    placed = eqx.combine(jax.device_put(arrays, device), static)
    x, dt = jax.device_put(_inputs(), device)
    return np.asarray(eqx.filter_jit(lambda m, a, b: jax.vmap(m)(a, b))(placed, x, dt))
