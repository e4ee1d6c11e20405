"""The memory picture of a flip-flop table: how long each model holds what it is given, and how
far its gates close.

Left panels (one per framework): coverage of the ideal memory set against the holding time
(``bench.analysis.hold``), the mean over seeds with the seeds' range as a band, on a log axis.
Right: the distribution of the gate G on held states at zero input, for every gated model that
exposes it, pooled over seeds (``attractor.gate.histogram``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from bench.report import plotting

FRAMEWORKS = ("torch", "jax")


def draw(docs: list[dict[str, Any]], title: str, path: Path,
         label: Callable[[dict[str, Any]], str]) -> bool:
    """Write the picture for one table's results, one line per ``label`` (the leaderboard's
    row names, so that unverified results stay apart); False (nothing written) when none of
    them has the memory metric."""
    _label = label
    held = [d for d in docs if d["status"] == "ok" and (d.get("hold") or {}).get("coverage")]
    if not held:
        return False
    plt = plotting.pyplot()
    models = sorted({_label(d) for d in held})
    cmap = plt.get_cmap("tab10" if len(models) <= 10 else "tab20")
    colour = {m: cmap(i % cmap.N) for i, m in enumerate(models)}
    gated = [d for d in held if ((d.get("attractor") or {}).get("gate") or {}).get("histogram")]
    fws = [fw for fw in FRAMEWORKS if any(d["framework"] == fw for d in held)]
    fig, axes = plt.subplots(1, len(fws) + 1, figsize=(4.6 * (len(fws) + 1), 4.6),
                             squeeze=False)
    for ax, fw in zip(axes[0], fws):
        for m in models:
            runs = [d for d in held if d["framework"] == fw and _label(d) == m]
            if not runs:
                continue
            # the horizons every seed has (a task's settings may have changed between runs)
            horizons = sorted(set.intersection(*(
                {int(h) for h in r["hold"]["coverage"]} for r in runs)))
            cov = np.array([[r["hold"]["coverage"][str(h)] for h in horizons] for r in runs])
            ax.plot(horizons, cov.mean(axis=0), "o-", color=colour[m], lw=1.4, ms=4,
                    label=f"{m} ({len(runs)})")
            if len(runs) > 1:
                ax.fill_between(horizons, cov.min(axis=0), cov.max(axis=0), color=colour[m],
                                alpha=0.15, lw=0)
        ax.set_xscale("log")
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel("bins held at zero input")
        ax.set_ylabel("coverage of the ideal set (within ε)")
        ax.set_title(f"{fw}: memory over time (mean, seeds' range)", fontsize=9)
        ax.legend(fontsize=7, title="model (seeds)", title_fontsize=7, loc="upper center",
                  bbox_to_anchor=(0.5, -0.17), ncol=3, frameon=False)
    ax = axes[0, -1]
    edges = np.linspace(0.0, 1.0, 21)
    for m in sorted({_label(d) for d in gated}):
        for fw, style in zip(FRAMEWORKS, ("-", "--")):
            runs = [d for d in gated if _label(d) == m and d["framework"] == fw]
            if not runs:
                continue
            counts = np.sum([d["attractor"]["gate"]["histogram"] for d in runs], axis=0)
            ax.stairs(counts / max(counts.sum(), 1), edges, color=colour[m], ls=style, lw=1.4,
                      label=f"{m}/{fw}")
    ax.axvline(0.05, color="0.5", lw=0.8, ls=":")
    ax.set_xlabel("gate G on held states (0: closed, the state holds)")
    ax.set_ylabel("fraction of units × states")
    ax.set_title("gate distribution at zero input", fontsize=9)
    if gated:
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.17), ncol=2,
                  frameon=False)
    else:
        ax.text(0.5, 0.5, "no gated model exposes its gate here", ha="center",
                transform=ax.transAxes, fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    plotting.save(fig, path)
    return True
