"""The command line (``python -m bench``): bad input ends as exactly one ``error:`` line on
stderr and a non-zero exit, never a traceback; ``list``; a diverging run."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml
from conftest import BASELINES, ROOT

from bench import cli, results
from bench.cli import options, running
from bench.errors import UserError
from bench.spec import tasks as bench_tasks

pytestmark = pytest.mark.slow  # real processes: the harness, its children, Ray

SMOKE = ["--task", "flipflop-2bit-ring", "--profile", "smoke"]


def bench(*args: str, timeout: int = 180) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bench", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


def assert_one_error_line(stderr: str) -> str:
    assert "Traceback" not in stderr
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: ")
    return lines[0]


@pytest.mark.parametrize("args,expected", [
    (["--model", "gnod"], ["'gnod'", "gnode"]),
    (["--model", "gnode,lsmt"], ["'lsmt'", "lstm"]),
    (["--task", "flipflop-3bt"], ["'flipflop-3bt'", "flipflop-3bit"]),
    (["--framework", "tensorflow"], ["'tensorflow'", "torch", "jax"]),
    (["--framework", ","], ["no framework"]),
    (["--seeds", "a,b"], ["--seeds", "'a,b'"]),
    (["--seeds=-1"], ["--seeds", "'-1'"]),
    (["--seeds", "3-1"], ["--seeds", "'3-1'"]),
    (["--profile", "smok"], ["'smok'", "smoke"]),
    (["--device", "tpu"], ["'tpu'", "cpu, cuda or auto"]),
], ids=["model", "model-in-list", "task", "framework", "no-framework", "seeds-text",
        "seeds-negative", "seeds-empty-range", "profile", "device"])
def test_bad_run_arguments(tmp_path, args, expected):
    # --model first: a later --model in args wins; a broken submission folder elsewhere in the
    # repository (warned about when a group is expanded) cannot add lines to stderr
    r = bench("run", "--model", "gru", "--results-dir", str(tmp_path / "res"), *args)
    assert r.returncode == 2
    line = assert_one_error_line(r.stderr)
    for word in expected:
        assert word in line
    assert not (tmp_path / "res").exists()  # nothing ran


def test_cuda_on_a_machine_without_gpu(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU")
    r = bench("run", "--model", "gru", "--device", "cuda", "--results-dir", str(tmp_path / "res"))
    assert r.returncode == 2
    line = assert_one_error_line(r.stderr)
    assert "cuda" in line and "no CUDA GPU" in line


def test_leaderboard_with_missing_results_folder(tmp_path):
    r = bench("leaderboard", "--results-dir", str(tmp_path / "nowhere"),
              "--out", str(tmp_path / "lb"))
    assert r.returncode == 2
    assert str(tmp_path / "nowhere") in assert_one_error_line(r.stderr)
    assert not (tmp_path / "lb").exists()


def test_screenshots_of_a_site_not_built_yet(tmp_path):
    r = bench("screenshots", "--site", str(tmp_path / "site"), "--out", str(tmp_path / "img"))
    assert r.returncode == 2
    line = assert_one_error_line(r.stderr)
    assert str(tmp_path / "site" / "index.html") in line and "make leaderboard" in line
    assert not (tmp_path / "img").exists()


def test_malformed_task_file_in_process(tmp_path, monkeypatch, capsys):
    (tmp_path / "flipflop-broken.yaml").write_text("name: flipflop-broken\nversion: [1\n")
    monkeypatch.setattr(bench_tasks, "TASKS_DIR", tmp_path)
    rc = cli.main(["run", "--task", "flipflop-broken", "--model", "gru", "--profile", "smoke",
                   "--results-dir", str(tmp_path / "res")])
    assert rc == 2
    line = assert_one_error_line(capsys.readouterr().err)
    assert "flipflop-broken.yaml" in line and "not valid YAML" in line
    rc = cli.main(["list"])
    assert rc == 2
    assert "not valid YAML" in assert_one_error_line(capsys.readouterr().err)


def test_list_shows_tasks_with_versions_and_baselines():
    r = bench("list")
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    lines = r.stdout.splitlines()
    task_files = sorted(p for p in (ROOT / "tasks").glob("*.yaml") if not p.name.startswith("_"))
    assert len(task_files) == 15  # flip-flop (7), expressivity (2) and real-world (6) tasks
    for path in task_files:
        raw = yaml.safe_load(path.read_text())
        (line,) = [ln for ln in lines if ln.split() and ln.split()[0] == raw["name"]]
        assert line.split()[1] == str(raw["version"])
    model_rows = {ln.split()[0]: ln.split()[1] for ln in lines if ln.split()
                  and ln.split()[0] in BASELINES}
    assert model_rows == dict.fromkeys(BASELINES, "baseline")
    assert "warning" not in r.stdout  # no configs/<task>.yaml names a missing task


def test_diverging_run_exits_nonzero_and_records_the_cell(tmp_path):
    res = tmp_path / "res"
    r = bench("run", "--model", "gru", "--framework", "torch", *SMOKE, "--lr", "1e30",
              "--results-dir", str(res))
    assert r.returncode == 1
    assert "Traceback" not in r.stderr and "error:" not in r.stderr
    assert "1 diverged or failed" in r.stdout
    (path,) = list(res.rglob("*.json"))
    doc = json.loads(path.read_text())
    assert doc["status"] == "diverged" and doc["model"] == "gru"
    assert doc["config"]["training"]["lr"] == 1e30


# -- argument parsing helpers ----------------------------------------------------------------

def test_seed_lists_and_ranges():
    assert options.seeds("0") == [0]
    assert options.seeds("0-2,5") == [0, 1, 2, 5]
    assert options.seeds(" 3, 1,3 ") == [1, 3]
    for bad in ("", "x", "1-x", "-2"):
        with pytest.raises(UserError):
            options.seeds(bad)


def test_framework_lists():
    assert options.frameworks("all") == ["torch", "jax"]
    assert options.frameworks("jax, torch") == ["torch", "jax"]
    assert options.frameworks("jax") == ["jax"]
    with pytest.raises(UserError, match="pytorch"):
        options.frameworks("pytorch")


def test_config_settings():
    assert options.settings(["solver=dopri5", "N=16", "rtol=1e-4", "widths=[8, 8]",
                          "tau= 0.5"]) == {"solver": "dopri5", "N": 16, "rtol": 1e-4,
                                           "widths": [8, 8], "tau": 0.5}
    with pytest.raises(UserError, match="KEY=VALUE"):
        options.settings(["novalue"])
    with pytest.raises(UserError, match="cannot read"):
        options.settings(["widths=[8,"])


def test_unreadable_exponent_setting_is_a_user_error():
    with pytest.raises(UserError):
        options.settings(["lr=1.2.3e4"])


def test_zero_epochs_is_a_user_error(tmp_path, capsys):
    rc = cli.main(["run", "--model", "gru", "--framework", "torch", *SMOKE, "--epochs", "0",
                   "--results-dir", str(tmp_path / "res")])
    assert rc == 2
    assert_one_error_line(capsys.readouterr().err)


def test_unknown_option_is_one_line():
    proc = bench("run", "--bogus")
    assert proc.returncode == 2
    assert "--bogus" in assert_one_error_line(proc.stderr)


@pytest.mark.parametrize("flag,value", [("--batch-size", "0"), ("--lr", "0"), ("--lr", "-1"),
                                        ("--weight-decay", "-0.1")])
def test_bad_training_overrides_are_user_errors(tmp_path, capsys, flag, value):
    rc = cli.main(["run", "--model", "gru", "--framework", "torch", *SMOKE, flag, value,
                   "--results-dir", str(tmp_path / "res")])
    assert rc == 2
    assert flag in assert_one_error_line(capsys.readouterr().err)
    assert not (tmp_path / "res").exists()


def test_unknown_config_key_names_the_known_ones(tmp_path, capsys):
    rc = cli.main(["run", "--model", "gnode", "--framework", "torch", *SMOKE,
                   "--set", "sovler=dopri5", "--results-dir", str(tmp_path / "res")])
    assert rc == 2
    line = assert_one_error_line(capsys.readouterr().err)
    assert "sovler" in line and "solver" in line


def test_variant_names_are_safe_file_names():
    from bench.spec.cells import variant

    name = variant({"lr": 0.01, "config": {"solver": "dopri5", "note": "a/b c"}})
    assert name == "lr=0.01,note=a_bc,solver=dopri5"
    assert variant({"lr": None, "config": {}}) == ""


def test_list_shows_whole_first_sentences():
    out = bench("list").stdout
    assert "torch.nn.GRU, cuDNN on a GPU" in out  # not cut at the dot in "torch.nn"


# -- analyze ---------------------------------------------------------------------------------

def copy_smoke_results(smoke_run, dest):
    import shutil

    shutil.copytree(smoke_run[0], dest)
    return dest


def test_analyze_reruns_the_analysis_from_the_checkpoint(tmp_path, smoke_run):
    res = copy_smoke_results(smoke_run, tmp_path / "res")
    (path,) = res.rglob("gnode-torch-seed0.json")
    before = json.loads(path.read_text())
    path.with_suffix(".png").unlink()
    r = bench("analyze", "--result", str(path))
    assert r.returncode == 0, r.stderr
    assert "slow points" in r.stdout and "coverage" in r.stdout
    after = json.loads(path.read_text())
    # the same trained model and the same seeded search give the same analysis
    assert after["attractor"]["n_slow_points"] == before["attractor"]["n_slow_points"]
    assert after["attractor"]["coverage"] == pytest.approx(before["attractor"]["coverage"])
    assert after["metrics"] == before["metrics"]  # training is not redone
    assert path.with_suffix(".png").is_file()
    points = json.loads(path.with_suffix(".slowpoints.json").read_text())
    assert len(points["points"]) == min(after["attractor"]["n_slow_points"],
                                        points["settings"]["max_points"])


def test_analyze_without_checkpoint_or_with_a_corrupt_one_is_one_line(tmp_path, smoke_run):
    res = copy_smoke_results(smoke_run, tmp_path / "res")
    (path,) = res.rglob("gru-torch-seed0.json")
    path.with_suffix(".pt").write_bytes(b"not a checkpoint")
    r = bench("analyze", "--result", str(path))
    assert r.returncode == 2
    assert "checksum" in assert_one_error_line(r.stderr)
    path.with_suffix(".pt").unlink()
    r = bench("analyze", "--result", str(path))
    assert r.returncode == 2
    line = assert_one_error_line(r.stderr)
    assert "local artifact" in line and "FORCE=1" in line


@pytest.mark.parametrize("args,expected", [
    (["--result", "nowhere.json"], "no result file"),
    (["--results-dir", "nowhere"], "no results folder"),
])
def test_analyze_bad_arguments(args, expected):
    r = bench("analyze", *args)
    assert r.returncode == 2
    assert expected in assert_one_error_line(r.stderr)


def test_declared_sweep_becomes_cells_and_the_command_line_wins(models):
    args = cli.parser().parse_args(["run", "--profile", "quick"])
    assert running._sweep(models["gru"], bench_tasks.get_task("flipflop-3bit-fixed"), args) == [
        {"N": 6}, {"N": 12}, {"N": 18}]
    assert running._sweep(models["gru"], bench_tasks.get_task("flipflop-3bit"), args) == [{}]
    args = cli.parser().parse_args(["run", "--profile", "quick", "--set", "N=4"])
    fixed = bench_tasks.get_task("flipflop-3bit-fixed")
    assert running._sweep(models["gru"], fixed, args) == [{}]  # one cell, N = 4


@pytest.mark.parametrize("args,expected", [
    (["expressivty"], ["'expressivty'", "expressivity"]),
    (["expressivity", "--N", "2,x"], ["--N", "'2,x'"]),
    (["expressivity", "--L", "0"], ["--L", "'0'"]),
    (["expressivity", "--task", "flipflop-3bit"], ["flipflop-3bit", "not a capacity task"]),
    (["expressivity", "--models", "gnod"], ["'gnod'", "gnode"]),
    (["expressivity", "--profile", "fast"], ["'fast'", "quick"]),
])
def test_bad_sweep_arguments(tmp_path, args, expected):
    r = bench("sweep", *args, "--results-dir", str(tmp_path / "res"))
    assert r.returncode == 2
    line = assert_one_error_line(r.stderr)
    for word in expected:
        assert word in line
    assert not (tmp_path / "res").exists()


def test_capacity_task_through_run_without_the_grid_is_a_search(tmp_path):
    """``run`` on a capacity task runs capacity searches over the task's grid."""
    r = bench("run", "--model", "gru", "--framework", "jax", "--task", "expressivity-smooth",
              "--profile", "smoke", "--results-dir", str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert "1 capacity search(es)" in r.stdout and "K* = 0" in r.stdout
    files = sorted(p.name for p in results.result_files(tmp_path))
    # smoke training cannot learn K = 1: the search tried K = 1 only, and stopped
    assert files == ["gru+N=4-jax-K1-seed0.json"]


def test_sweep_grid_comes_from_the_command_line(tmp_path):
    # the smoke grid is N = 4, L = 1: these cells can only come from the command line
    r = bench("sweep", "expressivity", "--models", "gnode", "--framework", "jax", "--N", "3",
              "--L", "1,2", "--task", "expressivity-rough", "--profile", "smoke",
              "--epochs", "1", "--results-dir", str(tmp_path))
    assert r.returncode == 0, r.stderr
    names = sorted(p.name for p in results.result_files(tmp_path))
    assert names == sorted(f"gnode+N=3,epochs=1,widths=[{','.join(['8'] * L)}]-jax-K1-seed0.json"
                           for L in (1, 2))
    doc = json.loads(next(p for p in results.result_files(tmp_path)
                          if "N=3," in p.name and "[8,8]" in p.name).read_text())
    assert doc["config"]["model"]["N"] == 3 and doc["config"]["model"]["widths"] == [8, 8]
    assert doc["K"] == 1 and doc["run_variant"] == "epochs=1" and not doc["standard"]


def test_a_python_without_the_suites_packages_gets_one_line_saying_which_to_use():
    """``-S`` leaves site-packages out: a Python outside the environment, as far as bench sees."""
    run = subprocess.run([sys.executable, "-S", "-m", "bench", "list"], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 2
    line = assert_one_error_line(run.stderr)
    assert "is not installed for" in line and ".venv/bin/python -m bench" in line


def test_help_lists_every_command_and_each_command_shows_its_defaults():
    top = bench("--help")
    assert top.returncode == 0
    commands = cli.parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    for name in commands:
        assert f"    {name}" in top.stdout, name
    assert "``" not in top.stdout  # prose, not reStructuredText
    run = bench("run", "--help").stdout
    for shown in ("(default: quick)", "(default: baselines)", "(default: results)",
                  "local (the default)", "{fast,reference}"):
        assert shown in run, shown
    tune = bench("tune", "--help").stdout
    assert "(default: paper)" in tune and "(default: jax)" in tune  # the tune's own defaults
