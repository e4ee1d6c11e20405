"""JAX's persistent compilation cache (``bench.train.compile_cache``): a program compiled in one
process is found by the next, and the cells of one shape report their hit counts."""

from __future__ import annotations

import subprocess
import sys

import pytest

from bench.run import harness, isolation
from bench.spec.cells import Cell
from bench.spec.tasks import get_task

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


@pytest.mark.slow
def test_cells_of_one_shape_in_separate_processes_hit_the_cache(models, tmp_path, monkeypatch):
    monkeypatch.setattr(isolation, "compile_cache_root", lambda: tmp_path / "jax-compile")
    cells = [Cell(models["gru"], "jax", get_task("flipflop-2bit-ring"), seed) for seed in (0, 1)]
    harness.run(cells, "smoke", "cpu", tmp_path / "results", ensemble=1, echo=lambda s: None)
    first, second = (harness.results.read(harness.locate(c, "smoke", "cpu", tmp_path / "results",
                                                         {})[1])["timing"] for c in cells)
    assert first["compile_cache_hits"] == 0 and first["compile_cache_misses"] > 0
    assert second["compile_cache_hits"] > 0  # the same programs, compiled once
    assert (tmp_path / "jax-compile" / "baseline-gru").is_dir()
