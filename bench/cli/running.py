"""The commands that train: ``run`` (cells), ``sweep`` (capacity searches) and ``tune``."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from bench.cli import options
from bench.errors import UserError, unknown
from bench.models import impl
from bench.spec.cells import Cell
from bench.spec.tasks import PROFILES

STUDIES = {"expressivity": "expressivity-*"}  # study -> the tasks it sweeps


def _sweep(model, task, args: argparse.Namespace) -> list[dict]:
    """The config settings to run: the model's declared sweep on a held-out task, or the
    capacity grid on a capacity task; less the keys the command line sets itself."""
    from bench.run import capacity

    fixed = set(options.settings(args.set))
    settings = (capacity.grid(model, task, args.profile, getattr(args, "N", None),
                              getattr(args, "L", None)) if task.capacity is not None
                else model.sweep(task.name, args.profile))
    out: list[dict] = []
    for setting in settings:
        kept = {k: v for k, v in setting.items() if k not in fixed}
        out += [kept] if kept not in out else []
    return out


def _with_requirements(models: list) -> list:
    """The models whose own requirements are installed; one line for each of the others."""
    from bench.spec import requirements

    ready = []
    for model in models:
        absent = requirements.missing(model.requirements)
        if absent:
            print(f"error: model {model.name} needs {', '.join(absent)}, not installed "
                  f"(`make setup MODEL={model.name}` installs it); its cells are skipped",
                  file=sys.stderr, flush=True)
        else:
            ready.append(model)
    if models and not ready:
        raise UserError("no selected model has its requirements installed; run "
                        "`make setup MODEL=...` with network access")
    return ready


def _run(args: argparse.Namespace, models: list, tasks: list) -> int:
    """Run ``models`` on ``tasks``: cells on held-out tasks, capacity searches on the others."""
    from bench.data import datasets
    from bench.run import capacity, executors, harness

    datasets.prepare(tasks, echo=lambda s: print(s, flush=True) if "preparing" in s else None,
                     repair=False)  # only what the cache lacks; a corrupted file is an error

    os.environ[impl.ENV] = args.impl  # the cells' child processes inherit it
    models = _with_requirements(models)
    frameworks, seeds = options.frameworks(args.framework), options.seeds(args.seeds)
    cells, searches, skipped_fw = [], [], []
    for task in tasks:
        for model in models:
            for fw in frameworks:
                if fw not in model.frameworks:
                    skipped_fw.append(f"{model.name}/{fw}")
                    continue
                for setting in _sweep(model, task, args):
                    if task.capacity is None:
                        cells += [Cell(model, fw, task, s, setting) for s in seeds]
                    else:
                        searches += [capacity.Search(model, fw, task, s, setting) for s in seeds]
    if not cells and not searches:
        raise UserError(f"no cell to run: {', '.join(sorted(set(skipped_fw)))} "
                        "not implemented; pick another --framework")
    device = harness.resolve_device(
        args.device, sorted({c.framework for c in cells} | {s.framework for s in searches}))
    for flag, value, low in (("--epochs", args.epochs, 1), ("--batch-size", args.batch_size, 1)):
        if value is not None and value < low:
            raise UserError(f"{flag} {value}: must be at least {low}")
    if args.lr is not None and not args.lr > 0:
        raise UserError(f"--lr {args.lr}: must be a positive number")
    if args.weight_decay is not None and not args.weight_decay >= 0:
        raise UserError(f"--weight-decay {args.weight_decay}: must be a non-negative number")
    if skipped_fw:
        print(f"bench: skipping {', '.join(sorted(set(skipped_fw)))} (no such implementation)")
    overrides = {"epochs": args.epochs, "lr": args.lr, "batch_size": args.batch_size,
                 "weight_decay": args.weight_decay, "config": options.settings(args.set)}
    what = ", ".join(([f"{len(cells)} cell(s)"] if cells else [])
                     + ([f"{len(searches)} capacity search(es)"] if searches else []))
    print(f"bench: {what}, profile {args.profile}, device {device}, "
          f"results in {args.results_dir}", flush=True)
    echo = lambda s: print(s, flush=True)  # noqa: E731
    limits = options.limits(args)
    executor = executors.make(args.executor, jobs=args.jobs, address=args.ray_address,
                              retries=args.retries, share=args.share)
    report = harness.run(cells, args.profile, device, Path(args.results_dir), args.force,
                         overrides, echo=echo, limits=limits, executor=executor,
                         test_data="public" if args.open else None, ensemble=args.ensemble)
    if searches:
        more = capacity.run(searches, args.profile, device, Path(args.results_dir), args.force,
                            overrides, echo=echo, limits=limits, executor=executor,
                            ensemble=args.ensemble)
        report.extend(more)
    print(f"bench: {len(report.done)} done, {len(report.skipped)} already done, "
          f"{len(report.problems)} diverged or failed")
    for line in report.problems:
        print(f"  {line}")
    return 1 if report.problems else 0


def cmd_run(args: argparse.Namespace) -> int:
    from bench.spec.registry import select_models
    from bench.spec.tasks import select_tasks

    if args.profile not in PROFILES:
        raise unknown("profile", args.profile, PROFILES, "")
    return _run(args, select_models(args.model), select_tasks(args.task))


def cmd_sweep(args: argparse.Namespace) -> int:
    """``sweep expressivity``: the capacity searches over (model, N, L) on expressivity-*."""
    from bench.spec.registry import select_models
    from bench.spec.tasks import select_tasks

    if args.study not in STUDIES:
        raise unknown("study", args.study, STUDIES, "")
    if args.profile not in PROFILES:
        raise unknown("profile", args.profile, PROFILES, "")
    args.N, args.L = options.sizes("--N", args.N), options.sizes("--L", args.L)
    tasks = select_tasks(args.task or STUDIES[args.study])
    not_capacity = [t.name for t in tasks if t.capacity is None]
    if not_capacity:
        raise UserError(f"{', '.join(not_capacity)}: not a capacity task; the {args.study} "
                        f"sweep runs {STUDIES[args.study]}")
    models = args.models or ",".join(tasks[0].profile(args.profile)["grid"]["models"])
    return _run(args, select_models(models), tasks)


def cmd_tune(args: argparse.Namespace) -> int:
    """External tuning (``make tune``): search a declared grid on the tuning seeds, then train
    the selected setting on the evaluation seeds, one study (model, framework, task) at a time,
    so that each study's results are complete as early as possible."""
    from bench.run import executors, harness, scheduler, tuning
    from bench.spec.registry import select_models
    from bench.spec.tasks import select_tasks

    if args.profile not in PROFILES:
        raise unknown("profile", args.profile, PROFILES, "")
    given = [f for f, v in (("--lr", args.lr), ("--batch-size", args.batch_size),
                            ("--weight-decay", args.weight_decay)) if v is not None]
    if given:
        raise UserError(f"tune chooses {', '.join(given)} from the grid; leave them out, or "
                        "use `python -m bench run` for one setting")
    os.environ[impl.ENV] = args.impl
    tasks = [t for t in select_tasks(args.task) if t.capacity is None]
    if not tasks:
        raise UserError("tune runs on held-out tasks (flip-flop, real-world); "
                        "the capacity tasks have their own search")
    frameworks, seeds, tune_seeds = (options.frameworks(args.framework), options.seeds(args.seeds),
                                     options.seeds(args.tuning_seeds))
    studies = [tuning.Study(m, fw, t, tuple(sorted(setting.items())))
               for t in tasks for m in select_models(args.model) for fw in frameworks
               if fw in m.frameworks for setting in _sweep(m, t, args)]
    if not studies:
        raise UserError("no study to run: none of these models has these frameworks")
    for study in studies:
        tuning.settings(study.task, args.grid)  # every task has the grid, before any work
    device = harness.resolve_device(args.device, sorted({s.framework for s in studies}))
    overrides = {"epochs": args.epochs, "config": options.settings(args.set)}
    results_dir, echo = Path(args.results_dir), (lambda s: print(s, flush=True))
    executor = executors.make(args.executor, jobs=args.jobs, address=args.ray_address,
                              retries=args.retries, share=args.share)
    n_grid = len(tuning.settings(studies[0].task, args.grid))
    print(f"tune: {len(studies)} stud(ies), grid {args.grid} ({n_grid} settings) on tuning "
          f"seeds {tune_seeds}, then seeds {seeds}; profile {args.profile}, device {device}, "
          f"results in {results_dir}", flush=True)
    report, unselected = scheduler.RunReport(), []
    for i, study in enumerate(studies, 1):
        echo(f"tune: study {i}/{len(studies)}: {study.label}: searching")
        report.extend(harness.run(tuning.tuning_cells(study, args.grid, tune_seeds),
                                  args.profile, device, results_dir, args.force, overrides,
                                  echo=echo, limits=options.limits(args), executor=executor,
                                  ensemble=args.ensemble))
        try:
            record = tuning.select(study, args.grid, tune_seeds, args.profile, device,
                                   results_dir, overrides)
        except UserError as e:
            unselected.append(str(e))
            echo(f"tune: {e}")
            continue
        chosen = ", ".join(f"{k} {v:g}" for k, v in record["selected"].items())
        echo(f"tune: study {i}/{len(studies)}: {study.label}: selected {chosen}; training "
             f"seeds {seeds}")
        report.extend(harness.run(tuning.tuned_cells(study, record, seeds), args.profile,
                                  device, results_dir, args.force, overrides, echo=echo,
                                  limits=options.limits(args), executor=executor,
                                  test_data="public" if args.open else None,
                                  ensemble=args.ensemble))
    print(f"tune: {len(report.done)} done, {len(report.skipped)} already done, "
          f"{len(report.problems)} diverged or failed, {len(unselected)} stud(ies) without a "
          "selection")
    for line in report.problems:
        print(f"  {line}")
    # A diverged setting is an outcome of the search, not a fault of the run.
    failed = [p for p in report.problems if ": diverged:" not in p]
    return 1 if failed or unselected else 0
