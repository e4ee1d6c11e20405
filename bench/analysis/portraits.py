"""Pictures of a trained model's dynamics, drawn from an attractor analysis.

Left: the state space. N = 2: the zero-input vector field (streamlines, coloured by speed),
the nullclines, the slow points coloured by stability and a few trajectories. N = 3: a 3-D
view of the slow points and trajectories. N > 3: the same, projected on the top three
principal components of the visited states. Right: the readout space with the ideal memory set
drawn, and the readout of the slow set and of the trajectories.

The *slow set* (visited states whose readout would move less than the task's epsilon over the
hold probe's longest horizon; ``bench.analysis.attractors``) is drawn in both panels: it is the
approximate continuous attractor, where there is one. The slow points are the minimiser's
exact zeros near visited states.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from bench.spec import memory_sets

COLOURS = 32  # a portrait's palette: its PNGs are the largest part of the committed results

STABILITY_STYLE = {"stable": ("black", "o"), "marginal": ("tab:orange", "D"),
                   "unstable": ("tab:red", "x")}


def _project(visited: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean, top-3 principal axes (D, 3), explained variance fractions) of the states."""
    mean = visited.mean(axis=0)
    _, s, vt = np.linalg.svd(visited - mean, full_matrices=False)
    var = s**2 / max(np.sum(s**2), 1e-30)
    return mean, vt[:3].T, var[:3]


def _phase_plane(ax, system: Any, arrays: dict[str, np.ndarray], traj: np.ndarray) -> None:
    v = arrays["visited"]
    lo, hi = np.percentile(v, 0.5, axis=0), np.percentile(v, 99.5, axis=0)
    pad = 0.15 * np.maximum(hi - lo, 1e-3)
    lo, hi = lo - pad, hi + pad
    xs, ys = np.linspace(lo[0], hi[0], 60), np.linspace(lo[1], hi[1], 60)
    X, Y = np.meshgrid(xs, ys)
    F = system.field(np.stack([X.ravel(), Y.ravel()], axis=-1)).reshape(*X.shape, 2)
    speed = np.linalg.norm(F, axis=-1)
    stream = ax.streamplot(X, Y, F[..., 0], F[..., 1], color=np.log10(speed + 1e-12),
                           cmap="Blues_r", density=1.1, linewidth=0.6, arrowsize=0.6)
    ax.figure.colorbar(stream.lines, ax=ax, fraction=0.046, pad=0.02,
                       label="log10 |dh| per bin")
    slow = arrays.get("slow_set")
    if slow is not None and len(slow):
        ax.scatter(slow[:, 0], slow[:, 1], s=3, c="tab:cyan", alpha=0.5, zorder=3,
                   label=f"slow set ({len(slow)} states)")
    ax.contour(X, Y, F[..., 0], levels=[0], colors="tab:green", linewidths=1.0)
    ax.contour(X, Y, F[..., 1], levels=[0], colors="tab:purple", linewidths=1.0)
    ax.plot([], [], color="tab:green", label="dh1 = 0")
    ax.plot([], [], color="tab:purple", label="dh2 = 0")
    for i, t in enumerate(traj):
        ax.plot(t[:, 0], t[:, 1], color="tab:gray", lw=0.8, alpha=0.8,
                label="held after a write (zero input)" if i == 0 else None)
        ax.plot(t[0, 0], t[0, 1], ".", color="tab:gray", ms=4)
    ax.set_xlim(lo[0], hi[0])
    ax.set_ylim(lo[1], hi[1])
    ax.set_xlabel("h1")
    ax.set_ylabel("h2")


def _scatter_slow(ax, pts: np.ndarray, stability: np.ndarray, dims: int) -> None:
    for kind, (color, marker) in STABILITY_STYLE.items():
        sel = pts[stability == kind] if len(pts) else pts
        if len(sel):
            extra = {"depthshade": False} if dims == 3 else {}
            ax.scatter(*[sel[:, i] for i in range(dims)], c=color, marker=marker, s=14,
                       label=f"{kind} ({len(sel)})", zorder=5, **extra)


def _readout_panel(ax, spec: dict, arrays: dict[str, np.ndarray], traj_out: np.ndarray,
                   dims: int) -> None:
    shape = memory_sets.outline(spec)
    if isinstance(shape, np.ndarray):  # discrete points
        ax.scatter(*[shape[:, i] for i in range(dims)], s=80, facecolors="none",
                   edgecolors="black", label="ideal memory set")
    else:
        for i, curve in enumerate(shape):
            ax.plot(*[curve[:, j] for j in range(dims)], color="black", lw=1.5,
                    label="ideal memory set" if i == 0 else None)
    for i, t in enumerate(traj_out):
        ax.plot(*[t[:, j] for j in range(dims)], color="tab:gray", lw=0.8, alpha=0.8,
                label="held after a write" if i == 0 else None)
    r = arrays.get("slow_set_readout")
    r = arrays["readout"] if r is None else r
    if len(r):
        ax.scatter(*[r[:, j] for j in range(dims)], s=4, c="tab:cyan", alpha=0.5,
                   label=f"readout of the slow set ({len(r)} states)")
    ax.set_xlabel("y1")
    ax.set_ylabel("y2")
    if dims == 3:
        ax.set_zlabel("y3")
    else:
        ax.set_aspect("equal", adjustable="datalim")
    ax.set_title("readout space")
    if ax.get_legend_handles_labels()[0]:  # a panel with nothing labelled gets no legend
        ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2,
                  frameon=False)


def draw(system: Any, arrays: dict[str, np.ndarray], report: dict[str, Any], spec: dict,
         trajectories: np.ndarray, title: str, path: Path) -> Path:
    """Write the portrait PNG; ``trajectories`` are state paths (K, T, D) to draw."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    D = arrays["visited"].shape[1]
    C = len(system.observe(arrays["visited"][:1])[0])
    fig = plt.figure(figsize=(11.5, 5.6))
    ax = fig.add_subplot(1, 2, 1, projection=None if D == 2 else "3d")
    pts, stab = arrays["points"], arrays["stability"]
    if D == 2:
        _phase_plane(ax, system, arrays, trajectories)
        _scatter_slow(ax, pts, stab, 2)
        ax.set_title("phase portrait at zero input")
    else:
        if D == 3:
            proj = lambda a: a  # noqa: E731
            labels = ["h1", "h2", "h3"]
        else:
            mean, axes, var = _project(arrays["visited"])
            proj = lambda a: (a - mean) @ axes  # noqa: E731
            labels = [f"PC{i + 1} ({100 * v:.0f}%)" for i, v in enumerate(var)]
        for t in trajectories:
            p = proj(t)
            ax.plot(p[:, 0], p[:, 1], p[:, 2], color="tab:gray", lw=0.8, alpha=0.8)
        _scatter_slow(ax, proj(pts) if len(pts) else pts, stab, 3)
        ax.set_xlabel(labels[0])
        ax.set_ylabel(labels[1])
        ax.set_zlabel(labels[2])  # type: ignore[attr-defined]
        ax.set_title("slow points and trajectories" + ("" if D == 3 else f" (N = {D}, PCA)"))
    if ax.get_legend_handles_labels()[0]:  # a panel with nothing labelled gets no legend
        ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2,
                  frameon=False)
    rax = fig.add_subplot(1, 2, 2, projection="3d" if C == 3 else None)
    traj_out = np.stack([system.observe(t) for t in trajectories]) if len(trajectories) \
        else np.zeros((0, 1, C))
    _readout_panel(rax, spec, arrays, traj_out, 3 if C == 3 else 2)
    dim = report["local_dim"]
    crit = report.get("criterion")
    slow = arrays.get("slow_set")
    counts = (f"{report['n_slow_points']} slow points: distinct states where the flow "
              "(nearly) stops, found by the minimiser (local dimension "
              f"{'—' if dim is None else f'{dim:g}'})")
    if crit is not None:
        counts += (f"\nslow set: {0 if slow is None else len(slow)} visited states whose "
                   f"readout would move < {crit['epsilon']:g} in {crit['horizon']} bins; it "
                   f"covers {report['slow_set_coverage']:.2f} of the ideal memory set")
    fig.suptitle(f"{title}\n{counts}", fontsize=10)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=110, metadata={"Software": None})
    plt.close(fig)
    compact(tmp, COLOURS)
    tmp.replace(path)
    return path


def compact(path: Path, colours: int = 256) -> bool:
    """Re-encode a PNG with a palette of at most ``colours`` colours, in place (atomically);
    False when it has such a palette already. A plot has few colours: 256 keep it the same to
    the eye at about a third of the bytes; a portrait (lines, points and a few contour levels)
    stays legible at :data:`COLOURS`, about 30 % fewer bytes again. The palette maximises
    coverage: median cut merges a colour few pixels have (a small marker) into grey."""
    import io

    from PIL import Image

    from bench import atomic

    with Image.open(path) as im:
        if im.mode == "P" and len(im.getcolors(256) or range(257)) <= colours:
            return False
        small = im.convert("RGB").quantize(colours, method=Image.Quantize.MAXCOVERAGE)
    out = io.BytesIO()
    small.save(out, "PNG", optimize=True)
    atomic.write_bytes_atomic(Path(path), out.getvalue())
    return True
