"""How result files write numbers measured in float32: each in the shortest decimal form that
reads back as the same float32 (0.7511748, not its float64 expansion 0.751174807548523), and
model outputs with the decimals they are rounded to. The numbers stay the same float32s; the
files shrink by a fifth to a half.
"""

from __future__ import annotations

from typing import Any

import numpy as np

# field of a result -> the decimals its model's outputs are recorded to (bench.data.sequences,
# bench.run.cell)
OUTPUT_DECIMALS = {"example": 4, "trajectories": 3}
CURVES = ("train_loss", "val_loss")


def shortest(value: Any) -> float:
    """``value`` as a Python float; where it is a float32, its shortest decimal form that
    reads back as that float32 (numpy's shortest round-trip representation)."""
    x = float(value)
    if not np.isfinite(x) or float(np.float32(x)) != x:  # compared as float64s
        return x  # not a float32: written as it is
    short = float(str(np.float32(x)))
    return short if np.float32(short) == np.float32(x) else x


def shorten(doc: dict[str, Any]) -> bool:
    """Write ``doc``'s loss curves and recorded outputs (in place) in their short forms. Results
    before 2026-12 stored float32s as float64 expansions (outputs rounded in float32 too:
    2.141900062561035 for 2.1419). A value is rewritten only where its float32 stays the same,
    so nothing recorded changes. Returns whether any value was rewritten."""
    changed = False

    def each(values: Any, short) -> Any:
        nonlocal changed
        if isinstance(values, list):
            return [each(v, short) for v in values]
        if isinstance(values, float) and np.isfinite(values):
            new = short(values)
            if new != values and np.float32(new) == np.float32(values):
                changed = True
                return new
        return values

    curve = doc.get("curve")
    if isinstance(curve, dict):
        for key in CURVES:
            if isinstance(curve.get(key), list):
                curve[key] = each(curve[key], shortest)
    for name, decimals in OUTPUT_DECIMALS.items():
        part = doc.get(name)
        if isinstance(part, dict) and isinstance(part.get("outputs"), list):
            part["outputs"] = each(part["outputs"], lambda v, d=decimals: round(v, d))
    return changed
