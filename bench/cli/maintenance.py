"""The commands that look after the suite: ``list``, ``check``, ``data``, ``migrate-store``,
``restamp`` and ``gpu-check``."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from bench.errors import UserError


def cmd_list(args: argparse.Namespace) -> int:
    from tabulate import tabulate

    from bench.spec.registry import orphan_configs, scan
    from bench.spec.tasks import get_task, task_files

    rows, broken_tasks = [], []
    for name in task_files():
        try:
            t = get_task(name)
        except UserError as e:  # one broken task file: list the others, then fail
            broken_tasks.append(str(e))
            continue
        size = (f"K {t.capacity['sizes'][0]}-{t.capacity['sizes'][-1]}" if t.capacity
                else t.splits["train"]["size"])
        rows.append([t.name, t.version, t.primary_metric, size, _first_sentence(t.description)])
    print(tabulate(rows, ["task", "version", "primary metric", "train size", "description"],
                   tablefmt="simple", disable_numparse=True))
    print()
    models, broken = scan()
    rows = [[m.name, m.kind, ", ".join(m.frameworks), _first_sentence(m.metadata["description"])]
            for m in models.values()]
    print(tabulate(rows, ["model", "kind", "frameworks", "description"], tablefmt="simple"))
    for folder, err in broken.items():
        print(f"broken: {folder}: {err}")
    for line in orphan_configs(models):
        print(f"warning: {line}")
    for line in broken_tasks:
        print(f"error: {line}", file=sys.stderr)
    return 2 if broken_tasks else 0  # the status of any other bad input


def _first_sentence(text: str) -> str:
    return re.split(r"\.\s", text.strip() + " ", maxsplit=1)[0].strip().rstrip(".")


def cmd_check(args: argparse.Namespace) -> int:
    """Check a submission folder against the contract (``make check-submission``)."""
    from bench.tools import checker

    ok = checker.check(Path(args.folder), echo=lambda s: print(s, flush=True))
    print(f"check: {'all checks passed' if ok else 'some checks failed'}")
    return 0 if ok else 1


def cmd_data(args: argparse.Namespace) -> int:
    """Prepare the real data sets into the cache (``make data``)."""
    from bench.data import datasets
    from bench.spec.tasks import select_tasks

    tasks = select_tasks(args.task)
    if not datasets.needed(tasks):
        print("data: none of these tasks reads the data cache")
        return 0
    prepared = datasets.prepare(tasks, force=args.force, echo=lambda s: print(s, flush=True))
    print(f"data: {len(prepared)} prepared; cache {datasets.cache_dir()}")
    return 0


def cmd_migrate_store(args: argparse.Namespace) -> int:
    from bench.results import store

    if not Path(args.results_dir).is_dir():
        raise UserError(f"no results folder {args.results_dir!r}")
    m = store.migrate(Path(args.results_dir))
    for line in m.unreadable:
        print(f"migrate-store: {line}: not readable as a result; left as it is")
    for line in m.kept:
        print(f"migrate-store: {line}; kept in the result")
    print(f"migrate-store: {m.files} result(s); {len(m.stored)} shared trial file(s) written; "
          f"{m.rewritten} rewritten ({m.verified} verified, {m.unverified} unverified, each "
          f"as before); {m.portraits} portrait(s) re-encoded; {m.bytes_before:,} -> "
          f"{m.bytes_after:,} bytes")
    return 0


def cmd_restamp(args: argparse.Namespace) -> int:
    from bench.tools import restamp

    counts = restamp.restamp(Path(args.results_dir), echo=lambda s: print(s, flush=True))
    print("restamp: " + ", ".join(f"{v} {k}" for k, v in counts.items()))
    return 0


def cmd_gpu_check(args: argparse.Namespace) -> int:
    from bench.tools import gpu_check

    return gpu_check.run(Path(args.out))
