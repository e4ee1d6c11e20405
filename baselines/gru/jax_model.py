"""GRU in JAX: equinox's GRUCell under lax.scan, and a linear readout."""

from bench.models.rnn_jax import ScanRNN
from bench.models.rnn_jax import load_torch_state as load_torch_state


def build(config: dict, n_inputs: int, n_outputs: int, *, key):
    return ScanRNN("gru", n_inputs, n_outputs, N=config["N"], key=key)
