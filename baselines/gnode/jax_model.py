"""gnODE in JAX: tau dh/dt = G(h, x) * (-h + F(h, x))."""

from bench.models.ode_jax import load_state as load_torch_state  # noqa: F401  (parity hook)
from bench.models.ode_jax import ode_from_config


def build(config: dict, n_inputs: int, n_outputs: int, *, key):
    return ode_from_config(config, n_inputs, n_outputs, gated=True, key=key)
