"""Task files (``bench.spec.tasks``): ``include:`` merging, validation errors, selection."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import ROOT

from bench.errors import UserError
from bench.spec import tasks as bt

VALID = {
    "name": "t",
    "version": 1,
    "generator": "flipflop",
    "data": {"n_bins": 10, "dt": 0.1, "pulse_rate": 2, "pulse_width": 2, "channels": 1,
             "pulse_mode": "channel", "amplitude": {"dist": "sign"}, "initial": [0]},
    "splits": {"train": {"size": 4, "seed": 0}, "validation": {"size": 3, "seed": 1},
               "test": {"size": 2, "seed": 2}},
    "metrics": ["mse", "r2"],
    "primary_metric": "mse",
    "higher_is_better": {"mse": False, "r2": True},
    "training": {"optimizer": "adamw", "lr": 0.001},
    "profiles": {"smoke": {"epochs": 1}, "quick": {"epochs": 2}, "paper": {"epochs": 3}},
}


def write(folder: Path, name: str, doc) -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(doc if isinstance(doc, str) else yaml.safe_dump(doc))
    return path


def one_line_error(path: Path) -> str:
    with pytest.raises(UserError) as e:
        bt.load_task_file(path)
    msg = str(e.value)
    assert "\n" not in msg and msg.strip() == msg and msg
    return msg


# -- the real task files ---------------------------------------------------------------------

FAMILY = ["flipflop-2bit-disk", "flipflop-2bit-original", "flipflop-2bit-rectangle",
          "flipflop-2bit-ring", "flipflop-2bit-square", "flipflop-3bit", "flipflop-3bit-fixed"]
CAPACITY = ["expressivity-rough", "expressivity-smooth"]
REAL = ["pickup-gesture", "vowels", "vowels-irregular-30", "vowels-irregular-50",
        "vowels-irregular-70", "walker2d"]
IDEAL_SETS = {  # the paper's memory sets, per task
    "flipflop-2bit-original": ("corners", 2), "flipflop-2bit-square": ("box", 2),
    "flipflop-2bit-rectangle": ("box", 2), "flipflop-2bit-disk": ("annulus", 2),
    "flipflop-2bit-ring": ("circle", 2), "flipflop-3bit": ("box", 3),
    "flipflop-3bit-fixed": ("corners", 3),
}


@pytest.mark.parametrize("name", FAMILY)
def test_every_task_declares_its_ideal_memory_set_and_memory_metrics(name):
    task = bt.get_task(name)
    kind, channels = IDEAL_SETS[name]
    assert task.extra["memory_set"]["kind"] == kind
    assert task.data["channels"] == channels
    assert {"long_delay_r2", "drift"} <= set(task.metrics)
    assert task.extra["memory"]["long_delay"]["n_bins"] == 10 * task.data["n_bins"]
    assert task.extra["memory"]["long_delay"]["silent_bins"] == 500
    assert task.extra["memory"]["drift"]["bins"] == 1000


def test_disk_task_has_the_papers_pulse_rate_and_start():
    disk = bt.get_task("flipflop-2bit-disk")
    assert disk.data["pulse_rate"] == 6 and disk.data["initial"] == [1.5, 0]
    assert bt.get_task("flipflop-2bit-ring").data["pulse_rate"] == 12


@pytest.mark.parametrize("change, words", [
    ({"memory_set": {"kind": "sphere"}}, "memory_set"),
    ({"memory_set": {"kind": "circle", "radius": 2.0}}, "planar"),
    ({"memory_set": {"kind": "box", "low": [1, 1, 1], "high": [0, 0, 0]}}, "low < high"),
    ({"memory": None}, "memory block"),
])
def test_bad_memory_definitions_are_one_line_errors(tmp_path, change, words):
    raw = {**yaml.safe_load((ROOT / "tasks" / "flipflop-3bit.yaml").read_text())}
    template = yaml.safe_load((ROOT / "tasks" / "_flipflop.yaml").read_text())
    raw.pop("include")
    raw = {**template, **raw, "memory": template["memory"], **change}
    raw = {k: v for k, v in raw.items() if v is not None}
    assert words in one_line_error(write(tmp_path, "flipflop-3bit", raw))

def test_real_task_files_load_with_their_versions():
    files = sorted(p.stem for p in (ROOT / "tasks").glob("*.yaml") if not p.name.startswith("_"))
    assert files == sorted(FAMILY + CAPACITY + REAL)
    for name in files:
        raw = yaml.safe_load((ROOT / "tasks" / f"{name}.yaml").read_text())
        task = bt.get_task(name)
        assert task.name == name and task.version == raw["version"]
        assert task.key == f"{name}@v{raw['version']}"


def test_include_merges_the_template_key_by_key():
    task = bt.get_task("flipflop-3bit")
    template = yaml.safe_load((ROOT / "tasks" / "_flipflop.yaml").read_text())
    own = yaml.safe_load((ROOT / "tasks" / "flipflop-3bit.yaml").read_text())
    # the task's own nested key wins; its siblings from the template survive
    assert task.profiles["paper"] == own["profiles"]["paper"]
    assert task.profiles["smoke"] == template["profiles"]["smoke"]
    assert task.data["channels"] == own["data"]["channels"]
    assert task.data["n_bins"] == template["data"]["n_bins"]
    assert task.metrics == template["metrics"]
    assert task.extra["memory_set"] == own["memory_set"]
    # nested memory settings merge too: the task's coverage wins, the template's drift stays
    assert task.extra["memory"]["coverage"] == own["memory"]["coverage"]
    assert task.extra["memory"]["drift"] == template["memory"]["drift"]
    assert task.description.startswith("3-bit flip-flop")


def test_include_semantics_in_a_tmp_folder(tmp_path):
    base = {k: v for k, v in VALID.items() if k != "name"}
    base["data"] = {**base["data"], "channels": 5, "extra_list": [1, 2, 3]}
    write(tmp_path, "_base", base)
    own = {"name": "child", "version": 2, "include": "_base.yaml",
           "data": {"channels": 1, "extra_list": [9]},
           "profiles": {"paper": {"epochs": 7}}}
    task = bt.load_task_file(write(tmp_path, "child", own))
    assert task.version == 2
    assert task.data["channels"] == 1
    assert task.data["extra_list"] == [9]  # lists are replaced, not concatenated
    assert task.data["pulse_width"] == 2  # kept from the template
    assert task.profiles == {"smoke": {"epochs": 1}, "quick": {"epochs": 2},
                             "paper": {"epochs": 7}}
    # the template itself is not a task
    assert "_base" not in bt.task_files()


def test_nested_include_chain(tmp_path):
    write(tmp_path, "_a", {k: v for k, v in VALID.items() if k != "name"})
    write(tmp_path, "_b", {"include": "_a.yaml", "training": {"lr": 0.5}})
    task = bt.load_task_file(write(tmp_path, "c", {"name": "c", "include": "_b.yaml"}))
    assert task.training == {"optimizer": "adamw", "lr": 0.5}


def test_a_valid_tmp_task_generates_its_splits(tmp_path):
    task = bt.load_task_file(write(tmp_path, "t", VALID))
    train = task.load_split("train", "smoke")
    assert train["inputs"].shape == (4, 10, 1)
    assert set(np.unique(train["inputs"])) <= {-1.0, 0.0, 1.0}


# -- malformed task files: one-line UserErrors -----------------------------------------------

def test_invalid_yaml(tmp_path):
    msg = one_line_error(write(tmp_path, "t", "name: t\nversion: [1, 2\n"))
    assert "not valid YAML" in msg and "line" in msg


def test_not_a_mapping(tmp_path):
    assert "mapping" in one_line_error(write(tmp_path, "t", "- just\n- a list\n"))


@pytest.mark.parametrize("key", ["version", "splits", "metrics", "primary_metric", "profiles"])
def test_missing_key(tmp_path, key):
    doc = {k: v for k, v in VALID.items() if k != key}
    msg = one_line_error(write(tmp_path, "t", doc))
    assert "missing" in msg and key in msg


@pytest.mark.parametrize("version", ["1", 0, -3, 1.5, True])
def test_wrong_version(tmp_path, version):
    msg = one_line_error(write(tmp_path, "t", {**VALID, "version": version}))
    assert "version" in msg


def test_name_must_match_the_file(tmp_path):
    msg = one_line_error(write(tmp_path, "other", VALID))
    assert "'t'" in msg and "other" in msg


def test_primary_metric_must_be_a_metric(tmp_path):
    msg = one_line_error(write(tmp_path, "t", {**VALID, "primary_metric": "accuracy"}))
    assert "accuracy" in msg


def test_unknown_metric_name_is_rejected(tmp_path):
    doc = {**VALID, "metrics": ["mse", "mae"], "primary_metric": "mae",
           "higher_is_better": {"mse": False, "mae": False}}
    msg = one_line_error(write(tmp_path, "t", doc))
    assert "mae" in msg


def test_higher_is_better_must_cover_every_metric(tmp_path):
    msg = one_line_error(write(tmp_path, "t", {**VALID, "higher_is_better": {"mse": False}}))
    assert "higher_is_better" in msg


@pytest.mark.parametrize("splits,word", [
    ({"train": {"size": 4, "seed": 0}, "test": {"size": 2, "seed": 2}}, "exactly"),
    ({"train": {"size": 4, "seed": 0}, "validation": {"size": 3, "seed": 0},
      "test": {"size": 2, "seed": 2}}, "different seeds"),
    ({"train": {"size": 0, "seed": 0}, "validation": {"size": 3, "seed": 1},
      "test": {"size": 2, "seed": 2}}, "size"),
    ({"train": {"size": 4, "seed": -1}, "validation": {"size": 3, "seed": 1},
      "test": {"size": 2, "seed": 2}}, "seed"),
])
def test_bad_splits(tmp_path, splits, word):
    assert word in one_line_error(write(tmp_path, "t", {**VALID, "splits": splits}))


def test_profiles_must_all_exist_with_epochs(tmp_path):
    msg = one_line_error(write(tmp_path, "t", {**VALID, "profiles": {"smoke": {"epochs": 1}}}))
    assert "profiles" in msg
    bad = {**VALID["profiles"], "quick": {"epochs": 0}}
    assert "epochs" in one_line_error(write(tmp_path, "t", {**VALID, "profiles": bad}))


def test_unknown_generator(tmp_path):
    assert "nosuch" in one_line_error(write(tmp_path, "t", {**VALID, "generator": "nosuch"}))


def test_generator_is_looked_up_in_tasks_dir(tmp_path, monkeypatch):
    """The generator must be a module in TASKS_DIR (here a folder without flipflop.py)."""
    monkeypatch.setattr(bt, "TASKS_DIR", tmp_path)
    msg = one_line_error(write(tmp_path, "t", VALID))
    assert "flipflop" in msg and "generator" in msg


def test_include_cycle(tmp_path):
    write(tmp_path, "a", {**VALID, "name": "a", "include": "b.yaml"})
    write(tmp_path, "b", {"include": "a.yaml"})
    assert "cycle" in one_line_error(tmp_path / "a.yaml")
    write(tmp_path, "self", {**VALID, "name": "self", "include": "self.yaml"})
    assert "cycle" in one_line_error(tmp_path / "self.yaml")


def test_include_of_a_missing_file(tmp_path):
    msg = one_line_error(write(tmp_path, "t", {**VALID, "include": "nowhere.yaml"}))
    assert "nowhere.yaml" in msg


# -- lookup and selection --------------------------------------------------------------------

def test_get_task_unknown_suggests_close_name():
    with pytest.raises(UserError) as e:
        bt.get_task("flipflop-3bt")
    assert "flipflop-3bit" in str(e.value)


def test_select_tasks_globs_all_and_dedup():
    assert [t.name for t in bt.select_tasks("flipflop-*")] == FAMILY
    assert [t.name for t in bt.select_tasks("all")] == sorted(FAMILY + CAPACITY + REAL)
    assert [t.name for t in bt.select_tasks("flipflop-3bit, flipflop-2bit-*,flipflop-3bit")] \
        == ["flipflop-3bit", *[n for n in FAMILY if n.startswith("flipflop-2bit")]]
    with pytest.raises(UserError, match="flipflop-3bit"):
        bt.select_tasks("flipflop-3bits")
    with pytest.raises(UserError, match="no task"):
        bt.select_tasks(" , ")


def test_task_dir_listing_follows_tasks_dir(tmp_path, monkeypatch):
    write(tmp_path, "t", VALID)
    write(tmp_path, "_template", {"data": {}})
    monkeypatch.setattr(bt, "TASKS_DIR", tmp_path)
    assert set(bt.task_files()) == {"t"}


def test_unknown_profile_of_a_task():
    with pytest.raises(UserError, match="smok"):
        bt.get_task("flipflop-3bit").profile("smok")


def test_include_cycle_through_parent_folder(tmp_path):
    sub = tmp_path / "sub"
    sub.mkdir()
    write(sub, "a", {**VALID, "name": "a", "include": "../sub/a.yaml"})
    assert "cycle" in one_line_error(sub / "a.yaml")


def test_data_parameters_the_generator_rejects_are_one_line_errors(tmp_path):
    doc = {**VALID, "data": {**VALID["data"], "amplitude": {"dist": "gamma"}}}
    task = bt.load_task_file(write(tmp_path, "t", doc))  # the schema cannot know the generator's
    with pytest.raises(UserError) as e:
        task.load_split("train")
    assert "gamma" in str(e.value) and "\n" not in str(e.value)
    missing = {**VALID, "data": {k: v for k, v in VALID["data"].items() if k != "n_bins"}}
    with pytest.raises(UserError, match="n_bins"):
        bt.load_task_file(write(tmp_path, "t", missing)).load_split("test")


# -- capacity tasks ----------------------------------------------------------------------------

def _capacity_raw() -> dict:
    from conftest import CAPACITY_TASK

    return {**CAPACITY_TASK, "name": "c"}


def test_expressivity_tasks_follow_the_protocol():
    for name, ell in (("expressivity-smooth", 1.0), ("expressivity-rough", 0.25)):
        task = bt.get_task(name)
        assert task.data["length_scale"] == ell
        assert (task.data["n_steps"], task.data["dt"], task.data["dims"]) == (200, 0.05, 2)
        assert (task.data["cue_dim"], task.data["cue_steps"]) == (16, 5)
        assert task.capacity["sizes"] == [1, 2, 4, 8, 16, 32, 64, 128]
        assert task.capacity["threshold"] == 0.9 and task.primary_metric == "trajectory_r2"
        assert task.training["batch_size"] >= max(task.capacity["sizes"])  # full batch
        paper = task.profile("paper")["grid"]
        assert paper["N"] == [2, 4, 8, 16, 32, 64] and paper["L"] == [1, 2, 3]
        assert paper["width"] == 100 and {"gnode", "node", "gru", "lstm"} <= set(paper["models"])


def test_capacity_task_splits_are_the_same_k_targets(tmp_path):
    task = bt.load_task_file(write(tmp_path, "c", _capacity_raw()))
    assert task.capacity is not None
    splits = [task.load_split(s, "smoke", size=3) for s in bt.SPLITS]
    for other in splits[1:]:
        for key in ("inputs", "targets", "dt"):
            np.testing.assert_array_equal(splits[0][key], other[key])
    assert splits[0]["targets"].shape == (3, 40, 2)
    with pytest.raises(UserError, match="needs K"):
        task.load_split("train", "smoke")


def test_held_out_tasks_have_no_capacity_and_ignore_k():
    task = bt.get_task("flipflop-3bit")
    assert task.capacity is None
    assert "capacity" not in vars(task)  # fingerprints of existing results are unchanged


@pytest.mark.parametrize("change, words", [
    ({"capacity": {"sizes": [2, 1], "threshold": 0.9, "metric": "trajectory_r2", "seed": 0}},
     "increasing"),
    ({"capacity": {"sizes": [1, 2], "threshold": "high", "metric": "trajectory_r2",
                   "seed": 0}}, "threshold"),
    ({"capacity": {"sizes": [1, 2], "threshold": 0.9, "metric": "accuracy", "seed": 0}},
     "not among metrics"),
    ({"capacity": {"sizes": [1, 2], "threshold": 0.9, "metric": "mse", "seed": -1}}, "seed"),
    ({"capacity": [1, 2]}, "mapping"),
    ({"splits": VALID["splits"]}, "no splits"),
    ({"profiles": {"smoke": {"epochs": 1}, "quick": {"epochs": 1}, "paper": {"epochs": 1}}},
     "grid"),
    ({"profiles": {p: {"epochs": 1, "grid": {"models": ["gnode"], "N": [0], "L": [1],
                                             "width": 8}} for p in bt.PROFILES}}, "N"),
    ({"profiles": {p: {"epochs": 1, "grid": {"models": [], "N": [2], "L": [1], "width": 8}}
                   for p in bt.PROFILES}}, "models"),
])
def test_bad_capacity_definitions_are_one_line_errors(tmp_path, change, words):
    assert words in one_line_error(write(tmp_path, "c", {**_capacity_raw(), **change}))


def test_list_goes_on_past_a_broken_task_file(tmp_path):
    """`bench list` with one broken task file: the other tasks are listed, one error line
    names the file and the field, and the exit status is non-zero."""
    import shutil
    import subprocess
    import sys

    folder = tmp_path / "tasks"
    folder.mkdir()
    for f in [*(ROOT / "tasks").glob("*.yaml"), *(ROOT / "tasks").glob("*.py")]:
        shutil.copy(f, folder / f.name)
    ring = folder / "flipflop-2bit-ring.yaml"
    ring.write_text(ring.read_text().replace("channels: 2", "channels: two"))
    run = subprocess.run(
        [sys.executable, "-c", POINTED, str(folder), "list"], cwd=ROOT, capture_output=True,
        text=True, timeout=120)
    assert run.returncode != 0 and "Traceback" not in run.stderr
    (line,) = run.stderr.splitlines()
    assert line.startswith(f"error: task file {ring}: data.channels must be an integer")
    listed = {row.split()[0] for row in run.stdout.splitlines() if row.strip()}
    assert {"flipflop-2bit-square", "vowels", "expressivity-smooth", "gnode"} <= listed
    assert "flipflop-2bit-ring" not in listed


# `python -m bench` with the task folder pointed elsewhere (argv: the folder, then the command)
POINTED = ("import sys; from pathlib import Path; import bench.spec.tasks as t; "
           "t.TASKS_DIR = Path(sys.argv[1]); from bench.cli import main; "
           "sys.exit(main(sys.argv[2:]))")
