"""``python -m bench gpu-check --out DIR`` (``make gpu-check OUT=DIR``): every CUDA path of the
suite, in one prepared command for a machine lent for minutes.

It needs CUDA builds of torch and jax and the suite's other packages, and no network. It
checks that first and fails in one line naming what is missing, before spending any device
time. Then, each step a process of its own with its own time limit (8 minutes in all on an
H100 or H200):

1. ``smoke``: one smoke cell of every baseline in both frameworks with ``--device cuda``
   (the CUDA-graph capture of the graph-safe models included), on the 2-bit ring;
2. ``perf``: ``make perf DEVICE=cuda`` at the CPU and GPU sizes, without the sweeps;
3. ``ensembles``: cells per hour of the gnODE, in both frameworks, trained alone and as
   ensembles of 9, 27 and 81 (``make perf PART=ensembles``);
4. ``tests``: the tests marked ``gpu``, which skip on a CPU;
5. ``leaderboard``: the pages of what steps 1 to 3 wrote.

Everything goes under ``DIR``: ``results/`` (cells and ``perf/gpu`` records), ``leaderboard/``,
``tests.xml``, ``gpu-check.log`` (every step's output) and ``summary.json``. What to commit
afterwards: docs/performance.md, "The GPU check".
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bench.errors import UserError

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("torch", "jax", "diffrax", "equinox", "optax", "torchdiffeq", "numpy", "pandas",
            "yaml", "tabulate", "pytest", "matplotlib", "scipy")
BASELINES = "gnode,node,gru,lstm,mgru,rnn"
SMOKE_TASK = "flipflop-2bit-ring"


@dataclass(frozen=True)
class Step:
    name: str
    command: list[str]
    limit_s: int  # the step's wall-clock limit


def steps(out: Path) -> list[Step]:
    """The check's steps, in order, writing under ``out``."""
    py, results, board = sys.executable, out / "results", out / "leaderboard"
    return [
        Step("smoke", [py, "-m", "bench", "run", "--model", BASELINES, "--framework", "all",
                       "--device", "cuda", "--profile", "smoke", "--task", SMOKE_TASK,
                       "--seeds", "0", "--results-dir", str(results)], 175),
        Step("perf", [py, "-m", "bench", "perf", "--model", BASELINES, "--framework", "all",
                      "--device", "cuda", "--no-sweeps", "--part", "steps", "--results-dir",
                      str(results), "--out", str(board)], 150),
        Step("ensembles", [py, "-m", "bench", "perf", "--model", "gnode", "--framework", "all",
                           "--device", "cuda", "--part", "ensembles", "--results-dir",
                           str(results), "--out", str(board)], 85),
        Step("tests", [py, "-m", "pytest", "-q", "-m", "gpu", "-p", "no:cacheprovider",
                       f"--junitxml={out / 'tests.xml'}", "tests"], 45),
        Step("leaderboard", [py, "-m", "bench", "leaderboard", "--results-dir", str(results),
                             "--out", str(board)], 25),
    ]


def missing() -> str | None:
    """What this machine lacks for the check (None: nothing), in words."""
    absent = [p for p in PACKAGES if importlib.util.find_spec(p) is None]
    if absent:
        return f"the packages {', '.join(absent)} are not installed"
    import torch

    if not torch.cuda.is_available():
        return f"torch {torch.__version__} sees no CUDA GPU (a CUDA build and a GPU are needed)"
    import jax

    if not any(d.platform == "gpu" for d in jax.devices()):
        return (f"jax {jax.__version__} sees no GPU, only {jax.devices()[0].platform} "
                "(install a CUDA build of jax)")
    return None


def run(out: Path, echo=print) -> int:
    """Run every step into ``out``; 0 when all passed. A UserError before any step when the
    machine cannot run the check."""
    why = missing()
    if why:
        raise UserError(f"gpu-check: {why}; nothing was run")
    out.mkdir(parents=True, exist_ok=True)
    summary, failed = {}, 0
    with (out / "gpu-check.log").open("w") as log:
        for step in steps(out):
            start = time.monotonic()
            log.write(f"\n=== {step.name}: {' '.join(step.command)}\n")
            log.flush()
            try:
                code = subprocess.run(step.command, cwd=ROOT, stdout=log,
                                      stderr=subprocess.STDOUT, timeout=step.limit_s).returncode
            except subprocess.TimeoutExpired:
                code = None
            took = time.monotonic() - start
            ok = code == 0
            failed += not ok
            summary[step.name] = {"ok": ok, "exit_code": code, "seconds": round(took, 1)}
            verdict = "ok" if ok else ("TIMED OUT" if code is None else f"FAILED ({code})")
            echo(f"gpu-check: {step.name}: {verdict} in {took:.0f} s")
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    echo(f"gpu-check: {len(summary) - failed}/{len(summary)} steps passed; log in "
         f"{out / 'gpu-check.log'}")
    return 1 if failed else 0
