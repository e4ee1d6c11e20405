"""What things are: task definitions, the model registry and its contract, and cell identity.

The bottom layer: it imports no other part of the suite (``bench.errors`` aside).
"""
