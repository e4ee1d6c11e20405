"""What the two frameworks' ensemble trainers share (``bench.train.ensemble_jax`` and
``bench.train.ensemble_torch``): which cells may train as one program, and how a model says it
cannot. Their epoch loop is the solo trainers' (:func:`bench.train.training.fit_members`)."""

from __future__ import annotations

from collections.abc import Sequence

from bench.train.training import ENSEMBLE_VARIED, TrainSpec


class CannotEnsemble(Exception):
    """This model cannot train as one program (its cells train one by one instead)."""


def incompatibility(specs: Sequence[TrainSpec]) -> str | None:
    """Why ``specs`` cannot train as one program, or None when they can."""
    if not specs:
        return "an ensemble needs at least one member"
    first = specs[0]
    for s in specs[1:]:
        if s.config != first.config:
            return "the members' model configs differ"
        if (s.device, s.n_inputs, s.n_outputs) != (first.device, first.n_inputs, first.n_outputs):
            return "the members' device or input and output sizes differ"
        for key in set(s.training) | set(first.training):
            if key not in ENSEMBLE_VARIED and s.training.get(key) != first.training.get(key):
                return f"the members' training setting {key!r} differs"
    return None
