"""LSTM in PyTorch: torch.nn.LSTM (cuDNN on a GPU) and a linear readout."""

from bench.models.rnn_torch import StandardRNN


def build(config: dict, n_inputs: int, n_outputs: int):
    return StandardRNN("lstm", n_inputs, n_outputs, N=config["N"])
