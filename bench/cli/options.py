"""Reading the command line's values: seeds, frameworks, ``--set`` overrides, sizes, limits.

Each reader raises a one-line ``UserError`` naming the flag and what to write instead.
"""

from __future__ import annotations

import argparse
import re

from bench.errors import UserError, unknown
from bench.spec.registry import FRAMEWORKS


def seeds(text: str) -> list[int]:
    try:
        seeds: list[int] = []
        for part in (p.strip() for p in text.split(",") if p.strip()):
            lo, _, hi = part.partition("-")
            seeds += list(range(int(lo), int(hi) + 1)) if hi else [int(lo)]
    except ValueError:
        raise UserError(f"--seeds {text!r}: give integers like 0,1,2 or a range 0-4") from None
    if not seeds or min(seeds) < 0:
        raise UserError(f"--seeds {text!r}: give non-negative integers like 0,1,2")
    return sorted(set(seeds))


def settings(pairs: list[str]) -> dict[str, object]:
    """``--set KEY=VALUE`` model-config overrides; values are read as YAML (numbers, lists)."""
    import yaml

    out: dict[str, object] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UserError(f"--set {pair!r}: write KEY=VALUE, e.g. --set solver=dopri5")
        try:
            out[key.strip()] = float(value) if re.fullmatch(r"[-+]?[\d.]+[eE][-+]?\d+", value) \
                else yaml.safe_load(value)  # YAML 1.1 reads 1e-4 as text
        except (yaml.YAMLError, ValueError):
            raise UserError(f"--set {pair!r}: cannot read the value {value!r}") from None
    return out


def frameworks(text: str) -> list[str]:
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if parts == ["all"]:
        return list(FRAMEWORKS)
    for p in parts:
        if p not in FRAMEWORKS:
            raise unknown("framework", p, FRAMEWORKS, "Use torch, jax or all.")
    if not parts:
        raise UserError("no framework given; use torch, jax or all")
    return [f for f in FRAMEWORKS if f in parts]


def sizes(flag: str, text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        values = [int(p) for p in text.split(",") if p.strip()]
    except ValueError:
        values = []
    if not values or min(values) < 1:
        raise UserError(f"{flag} {text!r}: give integers >= 1, comma-separated, like 2,4,8")
    return sorted(set(values))


def limits(args: argparse.Namespace):
    """The profile's limits on one cell, with the command line's changes."""
    from bench.run.model_process import LIMITS, Limits

    base = LIMITS[args.profile]
    for flag, value in (("--time-limit", args.time_limit), ("--memory-limit", args.memory_limit)):
        if value is not None and not value > 0:
            raise UserError(f"{flag} {value}: must be a positive number")
    return Limits(args.time_limit or base.wall_s, args.memory_limit or base.memory_gb)
