"""The argument parser of ``python -m bench``: every command, its options and defaults."""

from __future__ import annotations

import argparse
from typing import Any

from bench.cli import maintenance, reporting, running
from bench.models import impl


class _Help(argparse.HelpFormatter):
    """Each option's help ends with its default, unless it says it already or has none."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if (action.option_strings and "default" not in text.lower()
                and default not in (None, False, [], argparse.SUPPRESS)):
            text += " (default: %(default)s)"
        return text


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line, like every other user error, and every
    command's help shows the defaults."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _Help)
        super().__init__(*args, **kwargs)

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"error: {message} (see `{self.prog} --help`)\n")


def _common(r: argparse.ArgumentParser) -> None:
    """The options ``run`` and ``sweep`` share."""
    r.add_argument("--framework", default="all", help="torch, jax, or all")
    r.add_argument("--device", default="cpu", help="cpu, cuda, or auto")
    r.add_argument("--profile", default="quick", help="smoke, quick or paper")
    r.add_argument("--seeds", default="0", help="e.g. 0,1,2 or 0-4")
    r.add_argument("--results-dir", default="results", help="the folder of result files")
    r.add_argument("--force", action="store_true", help="rerun cells that are done already")
    r.add_argument("--open", action="store_true",
                   help="an open run: score on the task files' public test seeds (reproducible "
                        "data; a submission's open result is listed, never ranked). Default: "
                        "an official run, whose test data come from secret seeds")
    r.add_argument("--time-limit", type=float, metavar="SECONDS",
                   help="wall-clock limit of one cell (default: the profile's)")
    r.add_argument("--memory-limit", type=float, metavar="GB",
                   help="host memory limit of one cell's process (default: the profile's)")
    x = r.add_argument_group("where the cells run (bench/run/executors.py)")
    x.add_argument("--executor", default="local", help="local (the default) or ray")
    x.add_argument("--jobs", type=int, default=1,
                   help="local: cells at once (default 1; more share the machine, and their "
                        "results say so)")
    x.add_argument("--ensemble", type=int, default=27, metavar="N",
                   help="cells that differ only in seed, learning rate and weight decay "
                        "(and a capacity search's seeds, K by K) train as one vmapped program "
                        "of up to N members (default 27; 1: every cell alone); each keeps its "
                        "own result (bench/run/ensembles.py)")
    x.add_argument("--ray-address", help="ray: a cluster to join (default: $RAY_ADDRESS, else "
                   "a local Ray instance)")
    x.add_argument("--retries", type=int, default=2,
                   help="ray: retries of a cell whose worker dies (default 2)")
    x.add_argument("--share", action="store_true",
                   help="ray: one CPU per CPU cell instead of a whole node (timings are then "
                        "marked as shared)")
    r.add_argument("--impl", choices=impl.IMPLS, default="fast",
                   help="fast (the default) or reference: the plain code path of the suite's "
                        "own models, for checking; both compute the same function")
    g = r.add_argument_group("overrides of the task's training defaults")
    g.add_argument("--epochs", type=int)
    g.add_argument("--lr", type=float)
    g.add_argument("--batch-size", type=int)
    g.add_argument("--weight-decay", type=float)
    r.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override the model config, e.g. --set solver=dopri5 --set N=16; "
                        "results are stored as a variant of the model")


def parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m bench",
                description="Train, evaluate and rank continuous-time recurrent models under "
                            "one protocol. `python -m bench COMMAND --help` shows a command's "
                            "options and their defaults; docs/commands.md has them all.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND",
                           parser_class=_Parser)
    r = sub.add_parser("run", help="train and evaluate cells, write result files")
    r.add_argument("--model", default="baselines",
                   help="names, comma-separated; or baselines, submissions, all")
    r.add_argument("--task", default="flipflop-*", help="names or globs, comma-separated; or all")
    _common(r)
    r.set_defaults(func=running.cmd_run)
    w = sub.add_parser("sweep", help="capacity searches over model sizes (expressivity)")
    w.add_argument("study", help="expressivity: every expressivity-* task")
    w.add_argument("--models", help="names, comma-separated (default: the task's grid)")
    w.add_argument("--N", help="phase-space dimensions, e.g. 2,4,8 (default: the grid)")
    w.add_argument("--L", help="depths of F, e.g. 1,2 (default: the grid); models without "
                   "depth (GRU, LSTM) ignore it")
    w.add_argument("--task", help="names or globs (default: every task of the study)")
    _common(w)
    w.set_defaults(func=running.cmd_sweep)
    t = sub.add_parser("tune", help="external tuning: a declared grid on tuning seeds, then "
                       "the selected setting on the evaluation seeds (bench/run/tuning.py)")
    t.add_argument("--model", default="gnode,node", help="names, comma-separated")
    t.add_argument("--task", default="flipflop-2bit-square,flipflop-2bit-ring",
                   help="names or globs, comma-separated")
    t.add_argument("--grid", default="paper", help="the task's declared grid (default paper: "
                   "the authors' 27 settings)")
    t.add_argument("--tuning-seeds", default="0", help="seeds the grid is searched on")
    _common(t)
    # evaluation seeds apart from the tuning seed: a selection is never scored on its own run
    t.set_defaults(func=running.cmd_tune, profile="paper", framework="jax", seeds="1-5")
    f = sub.add_parser("perf", help="time one training step of every baseline (make perf)")
    f.add_argument("--model", default="gnode,node,gru,lstm,mgru,rnn", help="names, comma-separated")
    f.add_argument("--framework", default="all", help="torch, jax, or all")
    f.add_argument("--device", default="cpu", help="cpu, cuda, or auto")
    f.add_argument("--results-dir", default="results", help="the folder of result files")
    f.add_argument("--out", default="leaderboard", help="where the pages and plots go")
    f.add_argument("--no-sweeps", action="store_true",
                   help="only the fixed sizes, not the sweeps over T and N")
    f.add_argument("--part", choices=("all", "steps", "ensembles", "side-by-side"),
                   default="all",
                   help="steps: the step times (and sweeps); ensembles: cells per hour of "
                        "ensembles of 1, 9 and 27; side-by-side: two cells at once, default "
                        "threads against a share of the cores each (default: all)")
    f.set_defaults(func=reporting.cmd_perf)
    c = sub.add_parser("check", help="check a submission folder against the contract")
    c.add_argument("folder", help="e.g. submissions/example-ctrnn")
    c.set_defaults(func=maintenance.cmd_check)
    d = sub.add_parser("data", help="prepare the real data sets into the data cache (offline)")
    d.add_argument("--task", default="all", help="names or globs (default: every task)")
    d.add_argument("--force", action="store_true", help="prepare again even if cached")
    d.set_defaults(func=maintenance.cmd_data)
    a = sub.add_parser("analyze", help="slow points, Jacobians, coverage and phase portraits "
                       "of trained models (from their checkpoints)")
    a.add_argument("--result", action="append", default=[], metavar="FILE",
                   help="a result file (repeatable); default: every ok result in --results-dir")
    a.add_argument("--results-dir", default="results", help="the folder of result files")
    a.add_argument("--task", default="all", help="with --results-dir: names or globs")
    a.add_argument("--force", action="store_true",
                   help="with --results-dir: also redo results this version analysed")
    a.add_argument("--device", default="cpu", help="cpu or cuda")
    a.set_defaults(func=reporting.cmd_analyze)
    ms = sub.add_parser("migrate-store", help="move the trials results share to one file per "
                        "task (bench/results/store.py) and shrink the portraits; safe to rerun")
    ms.add_argument("--results-dir", default="results", help="the folder of result files")
    ms.set_defaults(func=maintenance.cmd_migrate_store)
    rs = sub.add_parser("restamp", help="update code hashes of results the present code "
                        "provably reproduces (docs/security.md); the rest stay stale")
    rs.add_argument("--results-dir", default="results", help="the folder of result files")
    rs.set_defaults(func=maintenance.cmd_restamp)
    gc = sub.add_parser("gpu-check", help="every CUDA path in one command: smoke cells, perf "
                        "at GPU sizes, the GPU tests (docs/performance.md)")
    gc.add_argument("--out", required=True, help="the folder for results, pages and the log")
    gc.set_defaults(func=maintenance.cmd_gpu_check)
    sh = sub.add_parser("screenshots", help="open the HTML leaderboard in headless Chromium; "
                        "fail on a console error; save screenshots of two pages")
    sh.add_argument("--site", default="leaderboard/site", help="the site's folder")
    sh.add_argument("--out", default="docs/img", help="where the screenshots go")
    sh.set_defaults(func=reporting.cmd_screenshots)
    ls = sub.add_parser("list", help="tasks (with versions) and models")
    ls.set_defaults(func=maintenance.cmd_list)
    lb = sub.add_parser("leaderboard", help="regenerate the leaderboard from result files")
    lb.add_argument("--results-dir", default="results", help="the folder of result files")
    lb.add_argument("--out", default="leaderboard", help="where the pages and plots go")
    lb.set_defaults(func=reporting.cmd_leaderboard)
    return p
