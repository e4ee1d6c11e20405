"""Which cells of a run train as one program (``bench.train.ensemble_jax``,
``bench.train.ensemble_torch``).

Cells may share one ``vmap``-ped program when they differ only in their seed, learning rate
and weight decay: the same task and data size, model and config, profile, role, test data and
every other training setting. The authors' protocol is made of such cells: 9 optimiser settings
per batch size, and seeds. :func:`grouped` turns a run's cells into units of work: a cell alone,
or a :class:`Group` of at most ``max_members`` cells, in the run's order.

Cells alone in their shape run as before, one model process each. So do the cells of a
PyTorch model that ``torch.func.vmap`` cannot run (``torch.nn.GRU``, say): its program refuses
itself on the first batch and the harness trains the cells one by one.

A capacity search is not a list of cells known in advance (it stops at its first failure), so
the cells of a capacity task are grouped by ``bench.run.capacity`` instead: the seeds of one
configuration, K by K.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from bench.spec.cells import Cell, resolve_training
from bench.train.training import ENSEMBLE_VARIED

MAX_MEMBERS = 27  # the authors' grid for one model and task


@dataclass(frozen=True)
class Group:
    """Cells that train as one program; each still gets its own result and ledger line."""

    cells: tuple[Cell, ...]

    @property
    def label(self) -> str:
        c = self.cells[0]
        return f"{c.task.name} {c.model.name}/{c.framework} ensemble of {len(self.cells)}"


def shape(cell: Cell, profile: str, overrides: Mapping[str, Any]) -> str | None:
    """What a cell shares with the cells it can train beside in one program; None for a
    capacity task's cell (``bench.run.capacity`` groups those)."""
    if cell.task.capacity is not None:
        return None
    config, training = resolve_training(cell.task, cell.model, profile,
                                        cell.overrides(dict(overrides)))
    shared = {k: v for k, v in training.items() if k not in ENSEMBLE_VARIED}
    return json.dumps([cell.task.name, cell.task.version, cell.model.name, cell.framework,
                       cell.size, cell.role, cell.test_data, config, shared], sort_keys=True,
                      default=str)


def grouped(cells: list[Cell], profile: str, overrides: Mapping[str, Any],
            max_members: int = MAX_MEMBERS) -> list[Cell | Group]:
    """The run's units: groups of cells of one shape (at most ``max_members``; 1: none), and
    the other cells alone, in the order of each unit's first cell."""
    if max_members <= 1:
        return list(cells)
    by_shape: dict[str, list[Cell]] = {}
    order: list[Cell | str] = []
    for cell in cells:
        key = shape(cell, profile, overrides)
        if key is None:
            order.append(cell)
            continue
        if key not in by_shape:
            by_shape[key] = []
            order.append(key)
        by_shape[key].append(cell)
    units: list[Cell | Group] = []
    for item in order:
        if isinstance(item, Cell):
            units.append(item)
            continue
        units += chunked(by_shape[item], max_members, Group)
    return units


def chunked(members: list[Any], max_members: int, make: Callable[[tuple], Any]) -> list[Any]:
    """``members`` in runs of at most ``max_members``, each ``make(run)``; a run of one stays
    the member itself."""
    runs = [tuple(members[i : i + max_members]) for i in range(0, len(members), max_members)]
    return [run[0] if len(run) == 1 else make(run) for run in runs]
