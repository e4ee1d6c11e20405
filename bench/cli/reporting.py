"""The commands that read results: ``analyze``, ``leaderboard``, ``perf`` and ``screenshots``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from bench import atomic
from bench.cli import options
from bench.errors import UserError
from bench.spec.cells import device_class


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


def cmd_perf(args: argparse.Namespace) -> int:
    """Time one training step of every baseline (``make perf``); write records and perf.md."""
    from bench.perf import ensemble_throughput, perf_sweeps, side_by_side, step_time
    from bench.report import perf_report
    from bench.results import environment
    from bench.run import harness
    from bench.spec.registry import select_models

    frameworks = options.frameworks(args.framework)
    device = harness.resolve_device(args.device, frameworks)
    dclass = device_class(device)
    models = {m.name: m for m in select_models(args.model)}
    todo = (step_time.cases(models, frameworks, step_time.SIZES[dclass], device)
            if args.part in ("all", "steps") else [])
    if not args.no_sweeps and args.part in ("all", "steps"):
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
                if args.part in ("all", "ensembles") else [])
    startup = {f: ensemble_throughput.startup_s(f) for f in {c.framework for c in together}}
    ensembles = []
    for i, program in enumerate(together, 1):
        ensembles.append(ensemble_throughput.measure(program, startup[program.framework]))
        print(f"[{i}/{len(together)}] {program.label}: "
              f"{ensembles[-1]['cells_per_hour']:.0f} cells/hour", flush=True)
    cores = environment.cores()
    shareable = dclass == "cpu" and cores >= 2
    pairs = (side_by_side.cases(list(models), tuple(frameworks))
             if args.part in ("all", "side-by-side") and shareable else [])
    if args.part == "side-by-side" and not shareable:
        print("perf: cells side by side are measured on a CPU of at least 2 cores; "
              f"this run has {cores} and DEVICE={args.device}")
    elif args.part == "side-by-side" and not pairs:
        print("perf: no side-by-side case for these models and frameworks (the cases: "
              + ", ".join(f"{m}/{f}" for m, f in side_by_side.CASES) + ")")
    beside = []
    for i, pair in enumerate(pairs, 1):
        beside.append(side_by_side.measure(pair, cores))
        r = beside[-1]
        what = r.get("error") or (f"{1000 * r['default_s']:.1f} ms a step with default "
                                  f"threads, {1000 * r['share_s']:.1f} ms with "
                                  f"{r['share_threads']} each ({r['x_share']:.2f}x)")
        print(f"[{i}/{len(pairs)}] {pair.label}: {what}", flush=True)
    prov = {**environment.git_state(), **environment.software(),
            "hardware": environment.hardware(dclass), "command": environment.command_line()}
    out = Path(args.results_dir) / "perf" / dclass
    named = [(step_time.record_name(r), r) for r in step_time.with_ratios(records)]
    named += [(ensemble_throughput.record_name(r), r)
              for r in ensemble_throughput.with_speedups(ensembles)]
    named += [(side_by_side.record_name(r), r) for r in beside]
    for name, r in named:
        atomic.write_bytes_atomic(out / f"{name}.json", (json.dumps(
            {**r, "device": device, "device_class": dclass, **prov}, indent=1,
            sort_keys=True) + "\n").encode())
    page = perf_report.build(Path(args.results_dir) / "perf", Path(args.out) / "perf.md")
    print(f"perf: {len(records) + len(ensembles) + len(beside)} measured; wrote {out} and {page}"
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


def cmd_screenshots(args: argparse.Namespace) -> int:
    from bench.tools import screenshots

    shots = screenshots.take(Path(args.site), Path(args.out))
    print(f"screenshots: {Path(args.site)} loads with no console error; wrote "
          + ", ".join(str(p) for p in shots))
    return 0
