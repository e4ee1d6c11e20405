"""Training under the suite's protocol: what a trainer is handed, the PyTorch and JAX trainers,
CUDA-graph capture, honest timing, and checkpoints."""
