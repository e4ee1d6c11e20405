"""The suite's own model building blocks: neural ODE and discrete RNN layers in PyTorch and
JAX, their fast and reference paths, and solvers. Baselines import these; so may submissions."""
