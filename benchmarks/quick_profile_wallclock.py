"""How long does a slice of the quick profile take, before and after a change, and how much of
each cell is start-up rather than training?

    python benchmarks/quick_profile_wallclock.py --before 231e5d8 [--after HEAD]
        [--models gnode,gru,lstm,mgru,node,rnn] [--task flipflop-2bit-ring] [--seeds 0-2]

Each revision is checked out into a worktree of its own, with an empty JAX compile cache, and
runs the same command from cold: ``python -m bench run --framework jax --open`` on the slice,
into a results folder of its own. The newer revision then runs it once more into a new results
folder, its compile cache now warm (``after_warm``: a rerun, or further seeds of one shape).
The wall-clock is the whole command's. Outside training is the wall-clock less the training the
results record (a program shared by M cells counted once), per cell. The compile-cache hit rate
is over each run's results.

The record goes to ``results/perf/cpu/wallclock-<after>-over-<before>.json``; ``make perf`` and
``make leaderboard`` show it in ``leaderboard/perf.md``. Run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import atomic  # noqa: E402
from bench.results import environment, read, result_files  # noqa: E402


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, check=True, capture_output=True,
                          text=True).stdout.strip()


def _worktree(rev: str, where: Path) -> Path:
    """The revision checked out at ``where``, sharing this checkout's environment and data
    cache but with a compile cache of its own (empty)."""
    _git("worktree", "add", "--detach", str(where), rev)
    (where / ".venv").symlink_to(ROOT / ".venv")
    (where / ".cache").mkdir()
    (where / ".cache" / "data").symlink_to(ROOT / ".cache" / "data")
    return where


def _run(tree: Path, args: argparse.Namespace, results: Path) -> float:
    command = [str(ROOT / ".venv" / "bin" / "python"), "-m", "bench", "run", "--model",
               args.models, "--framework", "jax", "--task", args.task, "--profile", "quick",
               "--seeds", args.seeds, "--open", "--results-dir", str(results)]
    t0 = time.perf_counter()
    subprocess.run(command, cwd=tree, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def _summary(results: Path, wall: float) -> dict[str, float | int]:
    docs = [d for d in map(read, result_files(results)) if d.get("status") == "ok"]
    timing = [d["timing"] for d in docs]
    training = sum(t["train_total_s"] / (t.get("ensemble_members") or 1) for t in timing)
    hits = sum(t.get("compile_cache_hits", 0) for t in timing)
    lookups = hits + sum(t.get("compile_cache_misses", 0) for t in timing)
    return {"cells": len(docs), "wall_s": wall, "training_s": training,
            "outside_training_per_cell_s": (wall - training) / max(len(docs), 1),
            "compile_cache_hit_rate": hits / lookups if lookups else None}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--before", required=True, help="the revision to compare against")
    p.add_argument("--after", default="HEAD")
    p.add_argument("--models", default="gnode,gru,lstm,mgru,node,rnn")
    p.add_argument("--task", default="flipflop-2bit-ring")
    p.add_argument("--seeds", default="0-2")
    args = p.parse_args()
    revs = {"before": _git("rev-parse", args.before), "after": _git("rev-parse", args.after)}
    record: dict = {"kind": "wallclock", "models": args.models, "task": args.task,
                    "profile": "quick", "seeds": args.seeds, "framework": "jax"}
    with tempfile.TemporaryDirectory() as tmp:
        for side, rev in revs.items():
            tree = _worktree(rev, Path(tmp) / side)
            try:
                for run in (side, "after_warm") if side == "after" else (side,):
                    wall = _run(tree, args, Path(tmp) / f"results-{run}")
                    record[run] = {"git_commit": rev,
                                   **_summary(Path(tmp) / f"results-{run}", wall)}
                    print(f"{run} ({rev[:7]}): {record[run]}", flush=True)
            finally:
                _git("worktree", "remove", "--force", str(tree))
    record["speedup"] = record["before"]["wall_s"] / record["after"]["wall_s"]
    record.update(device_class="cpu", hardware=environment.hardware("cpu"),
                  **environment.software(), command=environment.command_line())
    name = f"wallclock-{revs['after'][:7]}-over-{revs['before'][:7]}.json"
    out = ROOT / "results" / "perf" / "cpu" / name
    atomic.write_bytes_atomic(out, (json.dumps(record, indent=1, sort_keys=True) + "\n").encode())
    print(f"{record['speedup']:.2f}x; wrote {out}")


if __name__ == "__main__":
    main()
