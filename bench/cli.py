"""Command line: ``run``, ``sweep``, ``data``, ``analyze``, ``list`` and ``leaderboard``.

User errors end as one line on stderr and exit status 2, never as a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

from bench import atomic
from bench.errors import UserError, unknown
from bench.models import impl
from bench.spec.cells import Cell, device_class
from bench.spec.registry import FRAMEWORKS
from bench.spec.tasks import PROFILES

STUDIES = {"expressivity": "expressivity-*"}  # study -> the tasks it sweeps


def _seeds(text: str) -> list[int]:
    try:
        seeds: list[int] = []
        for part in (p.strip() for p in text.split(",") if p.strip()):
            lo, _, hi = part.partition("-")
            seeds += list(range(int(lo), int(hi) + 1)) if hi else [int(lo)]
    except ValueError:
        raise UserError(f"--seeds {text!r}: give integers like 0,1,2 or a range 0-4") from None
    if not seeds or min(seeds) < 0:
        raise UserError(f"--seeds {text!r}: give non-negative integers like 0,1,2")
    return sorted(set(seeds))


def _settings(pairs: list[str]) -> dict[str, object]:
    """``--set KEY=VALUE`` model-config overrides; values are read as YAML (numbers, lists)."""
    import yaml

    out: dict[str, object] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UserError(f"--set {pair!r}: write KEY=VALUE, e.g. --set solver=dopri5")
        try:
            out[key.strip()] = float(value) if re.fullmatch(r"[-+]?[\d.]+[eE][-+]?\d+", value) \
                else yaml.safe_load(value)  # YAML 1.1 reads 1e-4 as text
        except (yaml.YAMLError, ValueError):
            raise UserError(f"--set {pair!r}: cannot read the value {value!r}") from None
    return out


def _frameworks(text: str) -> list[str]:
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if parts == ["all"]:
        return list(FRAMEWORKS)
    for p in parts:
        if p not in FRAMEWORKS:
            raise unknown("framework", p, FRAMEWORKS, "Use torch, jax or all.")
    if not parts:
        raise UserError("no framework given; use torch, jax or all")
    return [f for f in FRAMEWORKS if f in parts]


def _sweep(model, task, args: argparse.Namespace) -> list[dict]:
    """The config settings to run: the model's declared sweep on a held-out task, or the
    capacity grid on a capacity task; less the keys the command line sets itself."""
    from bench.run import capacity

    fixed = set(_settings(args.set))
    settings = (capacity.grid(model, task, args.profile, getattr(args, "N", None),
                              getattr(args, "L", None)) if task.capacity is not None
                else model.sweep(task.name, args.profile))
    out: list[dict] = []
    for setting in settings:
        kept = {k: v for k, v in setting.items() if k not in fixed}
        out += [kept] if kept not in out else []
    return out


def _limits(args: argparse.Namespace):
    """The profile's limits on one cell, with the command line's changes."""
    from bench.run.model_process import LIMITS, Limits

    base = LIMITS[args.profile]
    for flag, value in (("--time-limit", args.time_limit), ("--memory-limit", args.memory_limit)):
        if value is not None and not value > 0:
            raise UserError(f"{flag} {value}: must be a positive number")
    return Limits(args.time_limit or base.wall_s, args.memory_limit or base.memory_gb)


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
    frameworks, seeds = _frameworks(args.framework), _seeds(args.seeds)
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
                 "weight_decay": args.weight_decay, "config": _settings(args.set)}
    what = ", ".join(([f"{len(cells)} cell(s)"] if cells else [])
                     + ([f"{len(searches)} capacity search(es)"] if searches else []))
    print(f"bench: {what}, profile {args.profile}, device {device}, "
          f"results in {args.results_dir}", flush=True)
    echo = lambda s: print(s, flush=True)  # noqa: E731
    limits = _limits(args)
    executor = executors.make(args.executor, jobs=args.jobs, address=args.ray_address,
                              retries=args.retries, share=args.share)
    report = harness.run(cells, args.profile, device, Path(args.results_dir), args.force,
                         overrides, echo=echo, limits=limits, executor=executor,
                         test_data="public" if args.open else None, ensemble=args.ensemble)
    if searches:
        more = capacity.run(searches, args.profile, device, Path(args.results_dir), args.force,
                            overrides, echo=echo, limits=limits, executor=executor)
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
    frameworks, seeds, tune_seeds = (_frameworks(args.framework), _seeds(args.seeds),
                                     _seeds(args.tuning_seeds))
    studies = [tuning.Study(m, fw, t, tuple(sorted(setting.items())))
               for t in tasks for m in select_models(args.model) for fw in frameworks
               if fw in m.frameworks for setting in _sweep(m, t, args)]
    if not studies:
        raise UserError("no study to run: none of these models has these frameworks")
    for study in studies:
        tuning.settings(study.task, args.grid)  # every task has the grid, before any work
    device = harness.resolve_device(args.device, sorted({s.framework for s in studies}))
    overrides = {"epochs": args.epochs, "config": _settings(args.set)}
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
                                  echo=echo, limits=_limits(args), executor=executor,
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
                                  limits=_limits(args), executor=executor,
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


def _sizes(flag: str, text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        values = [int(p) for p in text.split(",") if p.strip()]
    except ValueError:
        values = []
    if not values or min(values) < 1:
        raise UserError(f"{flag} {text!r}: give integers >= 1, comma-separated, like 2,4,8")
    return sorted(set(values))


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


def cmd_check(args: argparse.Namespace) -> int:
    """Check a submission folder against the contract (``make check-submission``)."""
    from bench.tools import checker

    ok = checker.check(Path(args.folder), echo=lambda s: print(s, flush=True))
    print(f"check: {'all checks passed' if ok else 'some checks failed'}")
    return 0 if ok else 1


def cmd_perf(args: argparse.Namespace) -> int:
    """Time one training step of every baseline (``make perf``); write records and perf.md."""
    from bench.perf import ensemble_throughput, perf_sweeps, step_time
    from bench.report import perf_report
    from bench.results import environment
    from bench.run import harness
    from bench.spec.registry import select_models

    frameworks = _frameworks(args.framework)
    device = harness.resolve_device(args.device, frameworks)
    dclass = device_class(device)
    models = {m.name: m for m in select_models(args.model)}
    todo = (step_time.cases(models, frameworks, step_time.SIZES[dclass], device)
            if args.part != "ensembles" else [])
    if not args.no_sweeps and args.part != "ensembles":
        todo += [c for c in perf_sweeps.cases(dclass)
                 if c.model in models and c.framework in frameworks]
    if dclass == "cpu":
        print("perf: CPU sizes only; the GPU rows need a GPU (make perf DEVICE=cuda)")
    records = []
    for i, case in enumerate(todo, 1):
        record = step_time.measure_isolated(case, models[case.model], device)
        records.append(record)
        what = record.get("error") or f"{record['step_median_ms']:.2f} ms"
        print(f"[{i}/{len(todo)}] {case.label}: {what}", flush=True)
    together = (ensemble_throughput.cases(dclass, list(models), tuple(frameworks))
                if args.part != "steps" else [])
    startup = {f: ensemble_throughput.startup_s(f) for f in {c.framework for c in together}}
    ensembles = []
    for i, program in enumerate(together, 1):
        ensembles.append(ensemble_throughput.measure(program, startup[program.framework]))
        print(f"[{i}/{len(together)}] {program.label}: "
              f"{ensembles[-1]['cells_per_hour']:.0f} cells/hour", flush=True)
    prov = {**environment.git_state(), **environment.software(),
            "hardware": environment.hardware(dclass), "command": environment.command_line()}
    out = Path(args.results_dir) / "perf" / dclass
    named = [(step_time.record_name(r), r) for r in step_time.with_ratios(records)]
    named += [(ensemble_throughput.record_name(r), r)
              for r in ensemble_throughput.with_speedups(ensembles)]
    for name, r in named:
        atomic.write_bytes_atomic(out / f"{name}.json", (json.dumps(
            {**r, "device": device, "device_class": dclass, **prov}, indent=1,
            sort_keys=True) + "\n").encode())
    page = perf_report.build(Path(args.results_dir) / "perf", Path(args.out) / "perf.md")
    print(f"perf: {len(records) + len(ensembles)} measured; wrote {out} and {page}"
          f"{_site(Path(args.out))}")
    return 0


def _site(leaderboard_dir: Path) -> str:
    """Render the HTML site beside the markdown; what to add to the command's report line."""
    try:
        from bench.report import site
    except ModuleNotFoundError as e:  # markdown-it-py: optional where it cannot be installed
        return f" (no HTML site: {e.name} is missing; `make setup` installs it)"
    written = site.build(leaderboard_dir)
    return f", and the HTML site {leaderboard_dir / 'site' / 'index.html'}" if written else ""


def cmd_sweep(args: argparse.Namespace) -> int:
    """``sweep expressivity``: the capacity searches over (model, N, L) on expressivity-*."""
    from bench.spec.registry import select_models
    from bench.spec.tasks import select_tasks

    if args.study not in STUDIES:
        raise unknown("study", args.study, STUDIES, "")
    if args.profile not in PROFILES:
        raise unknown("profile", args.profile, PROFILES, "")
    args.N, args.L = _sizes("--N", args.N), _sizes("--L", args.L)
    tasks = select_tasks(args.task or STUDIES[args.study])
    not_capacity = [t.name for t in tasks if t.capacity is None]
    if not_capacity:
        raise UserError(f"{', '.join(not_capacity)}: not a capacity task; the {args.study} "
                        f"sweep runs {STUDIES[args.study]}")
    models = args.models or ",".join(tasks[0].profile(args.profile)["grid"]["models"])
    return _run(args, select_models(models), tasks)


def cmd_analyze(args: argparse.Namespace) -> int:
    from bench import results
    from bench.run import analyze, harness
    from bench.spec.tasks import select_tasks
    from bench.train import checkpoints

    if args.result:
        paths = [Path(p) for p in args.result]
        for p in paths:
            if not p.is_file():
                raise UserError(f"no result file {p}; give a path under results/")
    else:
        if not Path(args.results_dir).is_dir():
            raise UserError(f"no results folder {args.results_dir!r}; run `make bench` first")
        paths = results.result_files(Path(args.results_dir))
    docs = {p: results.read(p) for p in paths}  # read once
    if not args.result:
        tasks = {t.name: t for t in select_tasks(args.task)}
        paths = [p for p in paths if docs[p]["status"] == "ok" and docs[p]["task"] in tasks
                 and docs[p].get("role") != "tuning"]  # tuning cells keep no parameters
        done = [p for p in paths if tasks[docs[p]["task"]].version == docs[p]["task_version"]
                and analyze.current(docs[p], tasks[docs[p]["task"]])]
        if done and not args.force:
            print(f"analyze: {len(done)} result(s) analysed by this version already; "
                  "--force redoes them", flush=True)
            paths = [p for p in paths if p not in done]
            if not paths:
                return 0
        absent = [p for p in paths
                  if not checkpoints.path_for(p, docs[p]["framework"]).is_file()]
        if absent:  # one line for all: a fresh clone has none
            print(f"analyze: {len(absent)} result(s) kept as they are: their checkpoints are "
                  "local artifacts not in this clone; rerun a cell with FORCE=1 to recreate "
                  "its own", flush=True)
            paths = [p for p in paths if p not in absent]
            if not paths:
                return 0
    if not paths:
        raise UserError("no trained result to analyse; run `make bench` first")
    device = harness.resolve_device(args.device, sorted({docs[p]["framework"] for p in paths}))
    skipped = []
    for i, path in enumerate(paths, 1):
        try:
            a = analyze.analyze_result(path, device)
        except UserError as e:  # over a folder: this result cannot be analysed, others can
            if args.result:
                raise
            skipped.append(str(e))
            print(f"[{i}/{len(paths)}] {path}: skipped: {e}", flush=True)
            continue
        what = (f"{a['n_slow_points']} slow points, local dimension {a['local_dim']}, "
                f"slow-set coverage {a.get('slow_set_coverage', a['coverage']):.2f}"
                if a["status"] == "ok" else f"{a['status']}: {a['reason']}")
        print(f"[{i}/{len(paths)}] {path}: {what}", flush=True)
    if skipped:
        print(f"analyze: {len(paths) - len(skipped)} analysed, {len(skipped)} skipped",
              flush=True)
    return 1 if skipped else 0


def _first_sentence(text: str) -> str:
    return re.split(r"\.\s", text.strip() + " ", maxsplit=1)[0].strip().rstrip(".")


def cmd_restamp(args: argparse.Namespace) -> int:
    from bench.tools import restamp

    counts = restamp.restamp(Path(args.results_dir), echo=lambda s: print(s, flush=True))
    print("restamp: " + ", ".join(f"{v} {k}" for k, v in counts.items()))
    return 0


def cmd_gpu_check(args: argparse.Namespace) -> int:
    from bench.tools import gpu_check

    return gpu_check.run(Path(args.out))


def cmd_screenshots(args: argparse.Namespace) -> int:
    from bench.tools import screenshots

    shots = screenshots.take(Path(args.site), Path(args.out))
    print(f"screenshots: {Path(args.site)} loads with no console error; wrote "
          + ", ".join(str(p) for p in shots))
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


def cmd_leaderboard(args: argparse.Namespace) -> int:
    from bench.report.leaderboard import build

    if not Path(args.results_dir).is_dir():
        raise UserError(f"no results folder {args.results_dir!r}; run `make bench` first")
    problems: list[str] = []
    written = build(Path(args.results_dir), Path(args.out), problems)
    if (Path(args.results_dir) / "perf").is_dir():  # make perf's records: its page too
        from bench.report import perf_report

        written.append(perf_report.build(Path(args.results_dir) / "perf",
                                         Path(args.out) / "perf.md"))
    plots = [p for p in written if p.suffix in (".png", ".svg")]
    print(f"leaderboard: wrote {', '.join(str(p) for p in written if p not in plots)} "
          f"and {sum(p.suffix == '.png' for p in plots)} plot(s) (PNG and SVG)"
          f"{_site(Path(args.out))}")
    for line in problems:  # every table is written; what was left out, and why
        print(f"error: {line}", file=sys.stderr)
    return 1 if problems else 0


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
                        "train as one vmapped program of up to N members (default 27; 1: every "
                        "cell alone); each keeps its own result (bench/run/ensembles.py)")
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
    r.set_defaults(func=cmd_run)
    w = sub.add_parser("sweep", help="capacity searches over model sizes (expressivity)")
    w.add_argument("study", help="expressivity: every expressivity-* task")
    w.add_argument("--models", help="names, comma-separated (default: the task's grid)")
    w.add_argument("--N", help="phase-space dimensions, e.g. 2,4,8 (default: the grid)")
    w.add_argument("--L", help="depths of F, e.g. 1,2 (default: the grid); models without "
                   "depth (GRU, LSTM) ignore it")
    w.add_argument("--task", help="names or globs (default: every task of the study)")
    _common(w)
    w.set_defaults(func=cmd_sweep)
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
    t.set_defaults(func=cmd_tune, profile="paper", framework="jax", seeds="1-5")
    f = sub.add_parser("perf", help="time one training step of every baseline (make perf)")
    f.add_argument("--model", default="gnode,node,gru,lstm,mgru,rnn", help="names, comma-separated")
    f.add_argument("--framework", default="all", help="torch, jax, or all")
    f.add_argument("--device", default="cpu", help="cpu, cuda, or auto")
    f.add_argument("--results-dir", default="results", help="the folder of result files")
    f.add_argument("--out", default="leaderboard", help="where the pages and plots go")
    f.add_argument("--no-sweeps", action="store_true",
                   help="only the fixed sizes, not the sweeps over T and N")
    f.add_argument("--part", choices=("all", "steps", "ensembles"), default="all",
                   help="steps: the step times (and sweeps); ensembles: cells per hour of "
                        "ensembles of 1, 9 and 27 (default: all)")
    f.set_defaults(func=cmd_perf)
    c = sub.add_parser("check", help="check a submission folder against the contract")
    c.add_argument("folder", help="e.g. submissions/example-ctrnn")
    c.set_defaults(func=cmd_check)
    d = sub.add_parser("data", help="prepare the real data sets into the data cache (offline)")
    d.add_argument("--task", default="all", help="names or globs (default: every task)")
    d.add_argument("--force", action="store_true", help="prepare again even if cached")
    d.set_defaults(func=cmd_data)
    a = sub.add_parser("analyze", help="slow points, Jacobians, coverage and phase portraits "
                       "of trained models (from their checkpoints)")
    a.add_argument("--result", action="append", default=[], metavar="FILE",
                   help="a result file (repeatable); default: every ok result in --results-dir")
    a.add_argument("--results-dir", default="results", help="the folder of result files")
    a.add_argument("--task", default="all", help="with --results-dir: names or globs")
    a.add_argument("--force", action="store_true",
                   help="with --results-dir: also redo results this version analysed")
    a.add_argument("--device", default="cpu", help="cpu or cuda")
    a.set_defaults(func=cmd_analyze)
    ms = sub.add_parser("migrate-store", help="move the trials results share to one file per "
                        "task (bench/results/store.py) and shrink the portraits; safe to rerun")
    ms.add_argument("--results-dir", default="results", help="the folder of result files")
    ms.set_defaults(func=cmd_migrate_store)
    rs = sub.add_parser("restamp", help="update code hashes of results the present code "
                        "provably reproduces (docs/security.md); the rest stay stale")
    rs.add_argument("--results-dir", default="results", help="the folder of result files")
    rs.set_defaults(func=cmd_restamp)
    gc = sub.add_parser("gpu-check", help="every CUDA path in one command: smoke cells, perf "
                        "at GPU sizes, the GPU tests (docs/performance.md)")
    gc.add_argument("--out", required=True, help="the folder for results, pages and the log")
    gc.set_defaults(func=cmd_gpu_check)
    sh = sub.add_parser("screenshots", help="open the HTML leaderboard in headless Chromium; "
                        "fail on a console error; save screenshots of two pages")
    sh.add_argument("--site", default="leaderboard/site", help="the site's folder")
    sh.add_argument("--out", default="docs/img", help="where the screenshots go")
    sh.set_defaults(func=cmd_screenshots)
    sub.add_parser("list", help="tasks (with versions) and models").set_defaults(func=cmd_list)
    lb = sub.add_parser("leaderboard", help="regenerate the leaderboard from result files")
    lb.add_argument("--results-dir", default="results", help="the folder of result files")
    lb.add_argument("--out", default="leaderboard", help="where the pages and plots go")
    lb.set_defaults(func=cmd_leaderboard)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: finished cells are saved; rerun the same command to resume",
              file=sys.stderr)
        return 130
    except BrokenPipeError:  # `python -m bench list | head`: the reader left; not an error
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115  (no flush to a closed pipe at exit)
        return 0
    finally:
        sys.stdout.flush()
