"""gnODE in PyTorch: tau dh/dt = G(h, x) * (-h + F(h, x))."""

from bench.models.ode_torch import ode_from_config


def build(config: dict, n_inputs: int, n_outputs: int):
    return ode_from_config(config, n_inputs, n_outputs, gated=True)
