"""The plot under each leaderboard table: small multiples, one column of panels per model.

Top panel: the first channel of one test trial, the target against the output of each of the
model's entries (variant × framework, lowest seed). Bottom panel: the validation loss of each
entry, the mean over seeds with the seeds' range as a band. An entry keeps its colour in both
panels, and colours never repeat within a panel (a model has at most a handful of entries);
legends sit under the panels, outside the data. A classification task has no trial to draw:
the loss panels alone.
"""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from bench.report import plotting

COLUMNS = 4  # panels per row before the figure wraps
PALETTE = "tab10"


def _entries(docs: list[dict[str, Any]], label) -> dict[str, dict[tuple[str, str], list]]:
    """{model: {(entry label, framework): ok documents, lowest seed first}}."""
    out: dict[str, dict[tuple[str, str], list]] = defaultdict(lambda: defaultdict(list))
    for d in sorted(docs, key=lambda d: (label(d), d["framework"], d["seed"])):
        if d["status"] == "ok" and (d.get("curve") or {}).get("val_loss"):
            out[d["model"]][(label(d), d["framework"])].append(d)
    return {m: dict(e) for m, e in sorted(out.items())}


def colours(n: int) -> list[tuple[float, ...]]:
    """``n`` colours, none repeated: the qualitative palette, or evenly spaced along a
    perceptual map where a panel has more entries than the palette has colours."""
    plt = plotting.pyplot()
    palette = plt.get_cmap(PALETTE)
    if n <= palette.N:
        return [tuple(palette(j)) for j in range(n)]
    ramp = plt.get_cmap("turbo")
    return [tuple(ramp(x)) for x in np.linspace(0.05, 0.95, n)]


def _band(ax, runs: list[dict[str, Any]], color, ls: str, name: str) -> None:
    curves = [np.asarray(d["curve"]["val_loss"], dtype=float) for d in runs]
    n = min(len(c) for c in curves)
    stack = np.stack([c[:n] for c in curves])
    x = np.arange(1, n + 1) * int(runs[0]["curve"].get("every", 1) or 1)
    ax.plot(x, stack.mean(0), color=color, ls=ls, lw=1.2,
            label=f"{name} ({len(runs)} seed{'s' if len(runs) > 1 else ''})")
    if len(runs) > 1:
        ax.fill_between(x, stack.min(0), stack.max(0), color=color, alpha=0.2, lw=0)


def draw(docs: list[dict[str, Any]], title: str, path: Path, label) -> bool:
    """The figure for one table's documents; False when there is nothing to draw. ``label``
    names an entry as the table does."""
    plt = plotting.pyplot()
    models = _entries(docs, label)
    if not models:
        return False
    trial = any(d.get("example") for e in models.values() for runs in e.values()
                for d in runs)
    cols = min(COLUMNS, len(models))
    grid_rows = math.ceil(len(models) / cols)
    rows_per = 2 if trial else 1
    fig, axes = plt.subplots(grid_rows * rows_per, cols, squeeze=False,
                             figsize=(3.6 * cols, (2.6 * rows_per + 0.9) * grid_rows))
    for i, (model, entries) in enumerate(models.items()):
        r, c = divmod(i, cols)
        colors = dict(zip(entries, colours(len(entries)), strict=True))
        loss_ax = axes[r * rows_per + rows_per - 1, c]
        if trial:
            ax = axes[r * rows_per, c]
            drawn = False
            for key, runs in entries.items():
                ex = next((d["example"] for d in runs if d.get("example")), None)
                if ex is None:
                    continue
                if not drawn:
                    inputs, targets = np.asarray(ex["inputs"]), np.asarray(ex["targets"])
                    # one stepped area, not a bar per bin: a single path in the SVG
                    edges = np.arange(len(inputs) + 1) - 0.5
                    ax.stairs(inputs[:, 0], edges, fill=True, color="0.85", label="input")
                    ax.plot(targets[:, 0], color="black", lw=2, label="target")
                    drawn = True
                ax.plot(np.asarray(ex["outputs"])[:, 0], color=colors[key], lw=1,
                        ls="-" if key[1] == "torch" else "--")
            ax.set_title(f"{model}: test trial, output 1", fontsize=9)
            ax.set_xlabel("time bin", fontsize=8)
            ax.tick_params(labelsize=7)
        for key, runs in entries.items():
            variant = key[0].removeprefix(model).strip()  # "[N=12]", or "" for the config
            _band(loss_ax, runs, colors[key], "-" if key[1] == "torch" else "--",
                  f"{variant + ' ' if variant else ''}{key[1]}")
        loss_ax.set_yscale("log")
        loss_ax.set_xlabel("epoch", fontsize=8)
        loss_ax.set_ylabel("validation loss", fontsize=8)
        loss_ax.tick_params(labelsize=7, which="both")
        loss_ax.set_title(f"{model}: validation loss (band: seeds' range)", fontsize=9)
        loss_ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.28),
                       ncol=2 if len(entries) > 3 else 1, frameon=False, columnspacing=1.0)
    for j in range(len(models), grid_rows * cols):  # unused cells of the last row
        r, c = divmod(j, cols)
        for k in range(rows_per):
            axes[r * rows_per + k, c].axis("off")
    legend = "solid: PyTorch, dashed: JAX" + ("; black: target, grey: input" if trial else "")
    # the two title lines get their own band at the top (inches, so tall figures keep it)
    height = fig.get_figheight()
    fig.suptitle(f"{title}\n{legend}", fontsize=10, y=1 - 0.12 / height, va="top")
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.6 / height))
    plotting.save(fig, path)
    return True
