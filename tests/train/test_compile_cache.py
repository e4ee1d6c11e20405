"""JAX's persistent compilation cache (``bench.train.compile_cache``): a program compiled in one
process is found by the next. Through the harness: ``tests/run/test_ensembles.py``; the
sandbox's side: ``tests/run/test_sandbox.py``."""

from __future__ import annotations

import subprocess
import sys

PROGRAM = """
import sys, jax, jax.numpy as jnp
from bench.train import compile_cache
assert compile_cache.enable(sys.argv[1])
jax.jit(lambda x: jnp.tanh(x @ x.T).sum())(jnp.ones((7, 5))).block_until_ready()
s = compile_cache.stats()
print(s["compile_cache_hits"], s["compile_cache_misses"])
"""


def _compile_in_a_fresh_process(folder) -> tuple[int, int]:
    out = subprocess.run([sys.executable, "-c", PROGRAM, str(folder)], check=True,
                         capture_output=True, text=True)
    hits, misses = map(int, out.stdout.split())
    return hits, misses


def test_the_second_process_finds_what_the_first_compiled(tmp_path):
    hits, misses = _compile_in_a_fresh_process(tmp_path)
    assert hits == 0 and misses >= 1
    assert any(tmp_path.iterdir())
    assert _compile_in_a_fresh_process(tmp_path) == (misses, 0)  # every lookup a hit


def test_no_folder_no_cache(monkeypatch):
    from bench.train import compile_cache

    monkeypatch.delenv(compile_cache.ENV, raising=False)
    assert compile_cache.enable() is False

