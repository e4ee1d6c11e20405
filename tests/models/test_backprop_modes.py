"""``bench.models.backprop_modes``: the backprop modes each solver offers, and the old config
key's one-line error."""

from __future__ import annotations

import pytest

from bench.errors import UserError
from bench.models import backprop_modes
from bench.spec import cells
from bench.spec.registry import discover
from bench.spec.tasks import get_task


def test_unknown_or_unoffered_modes_are_refused():
    with pytest.raises(ValueError, match="not a mode; choose one of full, checkpoint, adjoint"):
        backprop_modes.check("lots", "euler", ("euler",))
    with pytest.raises(ValueError, match="fixed-step solvers; with dopri5 use backprop: adjoint"):
        backprop_modes.check("checkpoint", "dopri5", ("euler",))
    with pytest.raises(ValueError, match="not offered with rk4"):
        backprop_modes.check("adjoint", "rk4", ("euler", "rk4"), no_adjoint=("rk4",))
    backprop_modes.check("adjoint", "dopri5", ("euler",))  # offered: no error
    backprop_modes.check("checkpoint", "euler", ("euler",))


def test_the_ode_baselines_declare_the_key_and_the_old_one_names_it():
    """``--set backprop=...`` works on every ODE baseline; ``--set memory=...``, the key's old
    name, is a one-line error that names the new key and the setting to write."""
    models, task = discover(), get_task("flipflop-2bit-square")
    for name in ("gnode", "node", "mgru", "rnn"):
        config, _ = cells.resolve_training(task, models[name], "smoke",
                                           {"config": {"backprop": "checkpoint"}})
        assert config["backprop"] == "checkpoint"
    with pytest.raises(UserError, match=r"--set memory: .* is now 'backprop'; write "
                                        r"--set backprop=adjoint"):
        cells.resolve_training(task, models["gnode"], "smoke", {"config": {"memory": "adjoint"}})
    with pytest.raises(UserError, match="has no such config key"):  # the GRU has no ODE solve
        cells.resolve_training(task, models["gru"], "smoke", {"config": {"memory": "adjoint"}})
