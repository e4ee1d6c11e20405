"""Generate ``leaderboard/README.md``, ``leaderboard/results.csv`` and plots from result files.

Tables are per (task@version, profile, hardware class, ruleset): a CPU result is never ranked
against a GPU one, and results of different task versions or profiles are never pooled. The
machines of one class share a table's ranking, but not its times (``bench.report.machines``).
The output is a pure function of the result files (no clocks, sorted everywhere), so it is
byte-for-byte reproducible.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pandas as pd
from tabulate import tabulate

from bench.report import (
    capacity_report,
    claims,
    machines,
    memory_report,
    plotting,
    summary,
    table_plots,
    tables,
)
from bench.report.frame import flatten, label
from bench.results import capacity_scores, load_each, store, trust
from bench.results.environment import ROOT
from bench.spec.task_schema import TUNABLE

PROFILE_ORDER = {"paper": 0, "quick": 1, "smoke": 2}
CLASS_ORDER = {"gpu": 0, "cpu": 1}
CLASS_NAME = {"gpu": "GPU", "cpu": "CPU"}
RULESET_NAME = {"default": "default settings",
                "tuned": "tuned: external tuning on a declared grid (bench tune)"}


def _group_key(doc: dict[str, Any]) -> tuple[str, int, str, str, str]:
    """One table per task version, profile, hardware class and ruleset: the machines of one
    class share it, their times kept apart (``bench.report.machines``)."""
    return (doc["task"], doc["task_version"], doc["profile"], doc["device_class"],
            doc.get("ruleset") or "default")


PROTOCOL_TEXT = [
    "Kim, Can & Krishnamurthy's own protocol (RNNTools.jl): for each model and task, the 27 "
    "settings of learning rate {1e-4, 1e-3, 1e-2} × weight decay {1e-3, 1e-2, 1e-1} × batch "
    "{10, 50, 100}, each trained for the paper profile's epochs (200 on 2-bit), h0 an affine "
    "map of the trial's first input, the paper's widths. `bench tune` searches the grid on "
    "the tuning seeds, selects by validation loss, and trains the selected setting on other "
    "seeds, the evaluation seeds (`gnode+tuned=paper`). Differences from the authors, by "
    "design: the suite validates once an epoch (they validated every step), shuffles the "
    "training trials (their loader did not), and truncates pulses at the trial's end (they "
    "dropped pulses that would start in the last two bins). Weight decay is the same: Flux "
    "0.12's `ADAMW` scales the decay by the learning rate, as `torch.optim.AdamW` and "
    "`optax.adamw` do.",
]


def tuning_table(docs: list[dict[str, Any]]) -> list[str]:
    """Each study's selection: the setting, its validation loss, the grid's spread."""
    rows, seen = [], set()
    for d in sorted(docs, key=lambda d: (d["task"], d["model"], d["framework"], d["seed"])):
        t = d.get("tuning") or {}
        key = (d["task"], label(d), d["framework"])
        if not t or key in seen:
            continue
        seen.add(key)
        scores = [r["mean_val_loss"] for r in t["settings"] if r["mean_val_loss"] is not None]
        best = min(scores) if scores else None
        sel = t["selected"]
        rows.append({"task": d["task"], "model": label(d), "framework": d["framework"],
                     "grid": f"{t['grid']} ({len(t['settings'])} settings, tuning seeds "
                             f"{', '.join(str(s) for s in t['tuning_seeds'])})",
                     "selected": ", ".join(f"{k} {sel[k]:g}" for k in TUNABLE if k in sel),
                     "its validation loss": tables.number(best, ".4g"),
                     "worst setting": tables.number(max(scores) if scores else None, ".4g"),
                     "diverged or failed": f"{len(t['settings']) - len(scores)}"})
    if not rows:
        return []
    return ["The selections:", "", tabulate(pd.DataFrame(rows).to_dict("list"),
                                            headers="keys", tablefmt="github",
                                            showindex=False, disable_numparse=True)]


def _skipped(results_dir: Path, bad: list[tuple[Path, str]], broken: list[str]
             ) -> tuple[list[str], list[str]]:
    """(the README's "Files skipped" lines, one line per problem for stderr)."""
    if not bad and not broken:
        return [], []
    lines = ["## Files skipped", "",
             "These files could not be used: the tables below are built without them, and "
             "`bench leaderboard` exits with status 1 until they are fixed.", ""]
    lines += [f"- `{p.relative_to(results_dir).as_posix()}`: {why}" for p, why in bad]
    # a task file's or the ledger's problem: its results are listed but not ranked
    lines += [f"- {line.replace(f'{ROOT}/', '')} (its results are not ranked)"
              for line in broken]
    return [*lines, ""], [f"{p}: {why} (skipped)" for p, why in bad] + broken


def build(results_dir: Path, out_dir: Path, problems: list[str] | None = None) -> list[Path]:
    """Regenerate the leaderboard files; returns the paths written.

    A result file that cannot be read or fails the schema is skipped, and so costs only
    itself; a task file that does not load costs its results their rank. Each such problem
    is listed in the README and appended as one line to ``problems`` (the command line
    prints them and exits non-zero)."""
    found, bad = load_each(results_dir)
    paths, docs = [p for p, _ in found], [d for _, d in found]
    broken = trust.annotate(results_dir, paths, docs)  # verified, stale: not ranked
    store.hydrate(results_dir, docs)  # the example trials the plots draw, stored once per task
    skipped, messages = _skipped(Path(results_dir), bad, broken)
    if problems is not None:
        problems += messages
    # Tuning cells only served a selection, which the tuned results record: never ranked.
    kept = [(p, d) for p, d in zip(paths, docs) if d.get("role") != "tuning"]
    paths, docs = [p for p, _ in kept], [d for _, d in kept]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    plots = out_dir / "plots"
    for stale in [*plots.glob("*.png"), *plots.glob("*.svg")]:  # all redrawn; none may outlive
        if not stale.name.startswith("perf-"):  # its results; make perf's, by make perf
            stale.unlink()
    written = [out_dir / "results.csv", out_dir / "README.md", out_dir / "claims.md"]
    claim_lines = [
        "# The paper's claims, checked",
        "",
        "Generated by `make leaderboard` from every file in `results/`; do not edit by hand. "
        "The claims are the four of Kim, Can & Krishnamurthy's abstract (ICML 2023) that the "
        "suite can test, in their words. Each is judged separately per profile, hardware class "
        "(the machines of a class pooled: the claims are about scores, not times), ruleset "
        "(default settings, or tuned on the authors' grid) and framework, from runs "
        "with the declared configs only (no command-line overrides). Every verdict comes from "
        f"a test across seeds, at least {claims.MIN_SEEDS} per side: the effect (a difference "
        "or ratio of means) and its Welch t interval, at the level 1 − 0.05 / k for a claim "
        "of k comparisons (Bonferroni). A comparison **holds** when the "
        "interval lies on the claim's side, **does not hold** when it lies on the other, and "
        "is **inconclusive** when it straddles. Numbers are mean ± sample std over seeds. The "
        "criteria are fixed in `bench/report/claims.py`. The quick profile uses smaller networks "
        "and fewer epochs than the paper; only the paper profile reproduces its setting, and only "
        "the tuned paper runs its protocol.",
        "",
    ]
    lines = [
        "# Leaderboard",
        "",
        "Generated by `make leaderboard` (`python -m bench leaderboard`) from every file in "
        "`results/`; do not edit by hand.",
        "",
        "- One table per task version, profile and hardware class: CPU and GPU results are "
        "never ranked against each other, and task versions and profiles are never pooled. The "
        "machines of one class share a table's ranking but not its times: the line under each "
        "heading names them, times come from the main machine (the one with most results), "
        "and a time from another machine is marked ‡ and named under its table "
        "([docs/leaderboard.md](../docs/leaderboard.md)).",
        "- Metrics are on the test split, mean ± sample std over seeds; ↓ lower is better, "
        "↑ higher is better. Rank follows the task's primary metric (first column), and the "
        "column beside it is the 95% bootstrap interval of its mean over seeds. Entries share "
        "a rank (`2=`) when their intervals overlap the interval of the first entry of that "
        "rank: their order within it is not established by these seeds.",
        "- `train (s)`: total training wall-clock, mean over seeds; `step (ms)`: median "
        "training step (forward + backward + update) after warm-up, JIT compile excluded.",
        "- `*` after a time (a capacity search's too): at least one seed (or K) was timed "
        "while other cells ran on the same node (`--jobs`, or Ray with `--share`), in one "
        "program with other cells, or while other processes took more than a tenth of the "
        "machine's CPU (`other_cpu_share`); such times are not comparable with the rest.",
        "- A seed that diverged, failed, timed out or ran out of memory is counted in `seeds` "
        "and named there, never hidden.",
        "- † marks results that may not be ranked. They are listed below the ranked rows of "
        "their table, with no rank and the reason in `not ranked`, and never pooled with "
        "ranked runs or used by the claims: a result the suite did not write (missing from "
        "`results/LEDGER.sha256`, or its bytes differ from its line there: added or edited by "
        "hand); a `stale` one, run on code that has changed since (the model's code files "
        "and config, or the task), until it is rerun; and a submission's result unless it "
        "ran in the enforced sandbox on the secret test data.",
        "- Memory (flip-flop tasks; [docs/memory.md](../docs/memory.md)): `long_delay_r2` is "
        "R² over the held bins of trials 10× longer plus 500 silent bins. The memory metric "
        "writes every point of a grid over the ideal memory set with the task's pulses, then "
        "holds zero input: `write err` is the readout's distance from the target right after "
        "the write, `cov@h` the fraction of the set whose error stayed within ε (a tenth of "
        "the set's scale) for h bins, `memory AUC` the area under coverage over log-horizon "
        "(1: perfect memory, 0: none). `drift` is how far the readout wanders in 1000 bins "
        "from where it settled, not from the target (a model with no memory scores 0): read "
        "it beside `write err`. `gate median` and `gates < 0.05`: the gate G of a gated model "
        "on held states at zero input.",
        "- Attractor analysis of the trained model: `slow-set cov` is the fraction of the "
        "ideal set near the readout of visited states that are slow for the task (the readout "
        "would move less than ε in 1000 bins); `slow pts` the number of distinct slow points "
        "the minimiser found near visited states, `dim` the median number of near-zero "
        "Jacobian eigenvalues there (the local dimension); `portrait` links the phase portrait "
        "of the lowest seed. `N` is the phase-space dimension. The paper's claims: "
        "[claims.md](claims.md).",
        "- `tuned`: entries trained with the setting `make tune` selected on a declared grid "
        "(the authors' protocol); they have their own tables and are never ranked with "
        "default ones.",
        "- Real-world tasks (`vowels*`, `pickup-gesture`, `walker2d`; data from the cache "
        "that `make data` prepares): test accuracy on the archive's own test split, read at "
        "each series' last valid step, or the MSE of the next standardised observation "
        "(walker2d); padding never enters a metric.",
        "- Expressivity (`expressivity-*`, capacity tasks): `K*` is the largest number K of "
        "cued target trajectories (K = 1, 2, 4, …) the model generates with trajectory R² at "
        "or above the task's threshold (0.9) within the profile's training budget. The search "
        "stops at the first K that fails; every K tried is listed with its score. K* is found "
        "per seed (shown: the lower median over seeds, then each seed's, and the 95% bootstrap "
        "interval of that median); read it beside the parameter count. Order: K*, then the "
        "score at the first K that failed (how close the next K came), then fewer parameters; "
        "entries whose intervals overlap share a rank. `train (s)`: the whole search, mean "
        "over seeds.",
        "",
    ]
    lines += skipped
    if skipped:
        claim_lines += [f"{len(messages)} file(s) could not be used: see the leaderboard's "
                        "\"Files skipped\".", ""]
    if not docs:
        lines.append("No results yet: run `make bench`.")
        claim_lines.append("No results yet: run `make bench`.")
        pd.DataFrame().to_csv(written[0], index=False)
    else:
        df = pd.DataFrame([flatten(d, p.relative_to(results_dir)) for d, p in zip(docs, paths)])
        results_link = Path(os.path.relpath(results_dir, out_dir)).as_posix()
        df = df.sort_values(["task", "task_version", "profile", "device_class", "model",
                             "framework", "seed"], kind="stable").reset_index(drop=True)
        df.drop(columns=["capacity"]).to_csv(written[0], index=False, float_format="%.6g",
                                             lineterminator="\n")
        keys = sorted({_group_key(d) for d in docs},
                      key=lambda k: (k[0], -k[1], PROFILE_ORDER.get(k[2], 9),
                                     CLASS_ORDER.get(k[3], 9), k[4] != "default"))
        latest = {k[0]: max(v for (t, v, *_) in keys if t == k[0]) for k in keys}
        if not any(k[3] == "gpu" for k in keys):
            lines += ["No GPU results yet: run `make bench DEVICE=cuda` on a machine with a GPU "
                      "and commit the files it adds under `results/`.", ""]
        higher = {d["task"]: bool(d["higher_is_better"].get(d["primary_metric"], False))
                  for d in docs}
        tasks_in_order = list(dict.fromkeys(k[0] for k in keys))
        front = ["## Summary", "",
                 "Each task's primary metric: the mean over seeds and its 95% bootstrap "
                 "interval. The best entry of a task is **bold**; `≈` marks an entry whose "
                 "interval overlaps the best one's (tied: these seeds do not order them). "
                 "`params`: the range of trainable parameters over the row's entries (sizes "
                 "differ by task). The latest task versions, default settings, standard runs "
                 "(a `--set` override has its own row in the task's table, not here), ranked "
                 "results only. On the capacity tasks, each entry's best configuration: its "
                 "median K* over seeds and the 95% bootstrap interval of that median; each "
                 "configuration has its row in the task's own table below.", "",
                 *summary.matrices(df, higher, latest),
                 *summary.capacity_matrices(df, latest),
                 "## Contents", "",
                 *[f"- [{t}](#{summary.anchor(t)})" for t in tasks_in_order],
                 "- [How to read the tables](#how-to-read-the-tables)", "",
                 "## How to read the tables", ""]
        lines[4:4] = front  # after the title and the generated-by line
        current_task = None
        for key in keys:
            task, version, profile, dclass, ruleset = key
            if task != current_task:
                lines += [f"## {task}", ""]
                current_task = task
            group_docs = [d for d in docs if _group_key(d) == key]
            group = df[(df.task == task) & (df.task_version == version) & (df.profile == profile)
                       & (df.device_class == dclass) & (df.ruleset == ruleset)]
            main = machines.main_machine(group)  # the heading's and the table's, one machine
            old = "" if version == latest[task] else " (superseded version)"
            tuned = "" if ruleset == "default" else f" · {RULESET_NAME[ruleset]}"
            lines += [f"### {task} v{version}{old} · {profile} profile · "
                      f"{CLASS_NAME[dclass]}{tuned}", "",
                      machines.heading_line(group, main), ""]
            stem = f"{task}-v{version}-{profile}-{dclass}" + (
                "" if ruleset == "default" else f"-{ruleset}")
            title = (f"{task} v{version}, {profile} profile, {CLASS_NAME[dclass]}"
                     + ("" if ruleset == "default" else f", {ruleset}"))
            if group["K"].notna().any():  # a capacity task: K* per configuration
                rankable = group[group["unranked"] == ""]
                if len(rankable):
                    section, pngs = capacity_report.section(
                        capacity_scores.capacities(rankable),
                        [d for d in group_docs if trust.rank_blocker(d) is None],
                        title, stem, plots, main)
                    lines += section
                    written += pngs
                else:
                    lines += ["No result here may be ranked.", ""]
                if len(rankable) < len(group):
                    lines += ["Not ranked:", "",
                              tables.unranked_capacity_table(group[group["unranked"] != ""]), ""]
                continue
            lines += [tables.table(group, main, group_docs[0]["higher_is_better"], results_link,
                                   tables.chance(group_docs[0])), ""]
            png = plots / f"{stem}.png"
            if table_plots.draw(group_docs, title, png, label):
                written += [png, png.with_suffix(".svg")]
                lines += plotting.markdown(f"{task} {profile} {dclass}", png)
            png = plots / f"{stem}-memory.png"
            if memory_report.draw(group_docs, f"{title}: memory and gates", png, label):
                written += [png, png.with_suffix(".svg")]
                lines += plotting.markdown(f"{task} {profile} {dclass}: memory", png)
        settings = sorted({k[2:] for k in keys},
                          key=lambda m: (m[2] == "default", PROFILE_ORDER.get(m[0], 9),
                                         CLASS_ORDER.get(m[1], 9)))
        now = df[[v == latest[t] for t, v in zip(df.task, df.task_version)]]
        if not any(m[0] == "paper" for m in settings):
            claim_lines += [
                "No paper-profile results yet. The paper's sizes belong on a GPU: "
                "`make bench PROFILE=paper DEVICE=cuda SEEDS=0,1,2` runs every flip-flop task "
                "at those sizes, and `make expressivity PROFILE=paper DEVICE=cuda FRAMEWORK=all "
                "SEEDS=0,1,2` the whole expressivity grid; commit the files they add under "
                "`results/`.", ""]
        for profile, dclass, ruleset in settings:
            sel = now[(now.profile == profile) & (now.device_class == dclass)
                      & now.standard & (now.ruleset == ruleset)]
            # claims.section keeps only the rankable rows (trust.rank_blocker)
            if ruleset == "tuned":
                claim_lines += [f"## The authors' protocol: {profile} profile, tuned · "
                                f"{CLASS_NAME[dclass]}", "", *PROTOCOL_TEXT, "",
                                *tuning_table([d for d in docs if d.get("ruleset") == ruleset
                                               and trust.rank_blocker(d) is None
                                               and d["task_version"] == latest[d["task"]]
                                               and d["profile"] == profile
                                               and d["device_class"] == dclass]), ""]
            else:
                claim_lines += [f"## {profile} profile · {CLASS_NAME[dclass]} · "
                                "default settings", ""]
            claim_lines += claims.section(sel)
    (out_dir / "claims.md").write_text("\n".join(claim_lines).rstrip() + "\n")
    (out_dir / "README.md").write_text("\n".join(lines).rstrip() + "\n")
    return written
