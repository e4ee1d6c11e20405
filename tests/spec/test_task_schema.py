"""What a task file may say (``bench.spec.task_schema``): a number of the wrong type or range
is a one-line error naming the file, the field and what it must be, also when it comes from an
include; limits take a prefix of a split."""

from __future__ import annotations

import pytest
from test_tasks import VALID, one_line_error, write

from bench.spec import tasks as bt


def _changed(path: tuple[str, ...], value) -> dict:
    """VALID with the field at ``path`` set to ``value``."""
    import copy

    doc = copy.deepcopy(VALID)
    node = doc
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node[path[-1]] = value
    return doc


@pytest.mark.parametrize("path, value, words", [
    (("data", "channels"), "two", "data.channels must be an integer >= 1, not 'two'"),
    (("profiles", "smoke", "max_test"), "ten", "profiles.smoke.max_test must be an integer >= 1"),
    (("profiles", "smoke", "max_test"), -5, "profiles.smoke.max_test must be an integer >= 1"),
    (("profiles", "smoke", "max_train"), 0, "profiles.smoke.max_train must be an integer >= 1"),
    (("profiles", "quick", "max_drift"), -3, "profiles.quick.max_drift must be an integer >= 1"),
    (("profiles", "smoke", "max_tset"), 3, "profiles.smoke.max_tset is not a limit"),
    (("profiles", "paper", "epochs"), "ten", "profiles.paper.epochs must be an integer >= 1"),
    (("data", "n_bins"), 2.5, "data.n_bins must be an integer >= 1"),
    (("data", "dt"), 0, "data.dt must be a number > 0"),
    (("data", "dt"), float("inf"), "data.dt must be a number > 0"),
    (("data", "pulse_rate"), "many", "data.pulse_rate must be a number >= 0"),
    (("data", "pulse_width"), True, "data.pulse_width must be an integer >= 1, not True"),
    (("data", "drop"), 1.5, "data.drop must be a number in [0, 1)"),
    (("data", "initial"), [0, 1], "data.initial must list 1 numbers"),
    (("data", "amplitude", "radius"), "two", "data.amplitude.radius must be a number > 0"),
    (("training", "lr"), -0.1, "training.lr must be a number > 0"),
    (("training", "batch_size"), 2.5, "training.batch_size must be an integer >= 1"),
    (("training", "weight_decay"), "none", "training.weight_decay must be a number >= 0"),
    (("training", "betas"), [0.9], "training.betas must be two numbers in [0, 1)"),
    (("splits", "train", "size"), True, "split train needs integer size >= 1"),
])
def test_wrong_numbers_are_one_line_errors_naming_the_field(tmp_path, path, value, words):
    msg = one_line_error(write(tmp_path, "t", _changed(path, value)))
    assert words in msg and str(tmp_path / "t.yaml") in msg


def test_a_wrong_number_from_an_include_names_the_included_file(tmp_path):
    base = {k: v for k, v in VALID.items() if k != "name"}
    base["profiles"] = {**VALID["profiles"], "smoke": {"epochs": 1, "max_drift": -8}}
    write(tmp_path, "_base", base)
    write(tmp_path, "t", "name: t\ninclude: _base.yaml\n")
    msg = one_line_error(tmp_path / "t.yaml")
    assert msg.startswith(f"task file {tmp_path / '_base.yaml'} (included by t.yaml): "
                          "profiles.smoke.max_drift must be an integer >= 1, not -8")


def test_positive_limits_take_a_prefix_of_the_split(tmp_path):
    task = bt.load_task_file(write(tmp_path, "t", _changed(("profiles", "smoke", "max_test"), 1)))
    assert len(task.load_split("test", "smoke")["inputs"]) == 1
    assert len(task.load_split("test", "paper")["inputs"]) == 2
