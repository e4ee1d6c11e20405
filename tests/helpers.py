"""Plain helpers shared by several test modules (fixtures live in conftest.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def write_docs(results_dir: Path, docs) -> None:
    """Write result documents as the harness would: where it puts them (a variant joins the
    name), and entered in the ledger."""
    from bench import results
    from bench.results import ledger

    for d in docs:
        label = d["model"] + (f"+{d['variant']}" if d.get("variant") else "")
        path = results.cell_path(results_dir, d["task"], d["task_version"], d["profile"],
                                 d["device_class"], label, d["framework"], d["seed"])
        ledger.write_result(results_dir, path, d)


def runs_of(mask: np.ndarray) -> list[tuple[int, int]]:
    """Maximal runs of True in a 1-D boolean array, as (start, stop) half-open intervals."""
    padded = np.concatenate([[False], mask, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist()))


# Model configurations that the fast path's parity tests run in both frameworks: gating, depth
# and width of F, activations, substeps, no linear output, a fixed h0, h0 from the first input.
FAST_PATH_CONFIGS = [
    {}, {"gated": False}, {"widths": [6, 4], "activation": "relu"}, {"steps_per_interval": 3},
    {"widths": [5], "linear_output": False, "gated": False}, {"h0": "zeros", "activation": "gelu"},
    {"h0": "first-input"},
]


def with_requirements(spec, *values):
    """``pytest.param(*values)`` for a model, skipped (with the reason) where its own
    requirements are not installed."""
    import pytest

    from bench.spec import requirements

    return pytest.param(*values, marks=pytest.mark.skipif(
        bool(requirements.missing(spec.requirements)),
        reason=f"{spec.name}'s requirements are not installed (make setup MODEL={spec.name})"))
