"""Vanilla RNN in PyTorch: the nODE with a one-layer tanh F (no output layer)."""

from bench.models.ode_torch import ode_from_config


def build(config: dict, n_inputs: int, n_outputs: int):
    one_layer_tanh = {**config, "widths": [config["N"]], "activation": "tanh",
                      "linear_output": False}
    return ode_from_config(one_layer_tanh, n_inputs, n_outputs, gated=False)
