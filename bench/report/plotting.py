"""matplotlib without a display, and figures saved byte-stable: 150 dpi PNGs (a palette, no
timestamp) with an SVG beside each (fixed ids, no date)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

DPI = 150


def pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams["svg.hashsalt"] = "ctrnn-bench"  # the SVG's element ids, the same every run
    plt.rcParams["svg.fonttype"] = "none"  # text as text: a fraction of the bytes, searchable
    return plt


def save(fig: Any, path: Path, dpi: int = DPI, svg: bool = True) -> None:
    """``path`` (a PNG re-encoded with a palette: the same picture, about a third of the
    bytes) and, with ``svg``, the same figure as ``path`` with the suffix ``.svg``."""
    from bench.analysis.portraits import compact

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, metadata={"Software": None})
    compact(path)
    if svg:
        fig.savefig(path.with_suffix(".svg"), metadata={"Date": None, "Creator": None})
    pyplot().close(fig)


def markdown(alt: str, png: Path) -> list[str]:
    """The markdown of a figure in ``plots/``: the PNG, a link to its SVG, a blank line."""
    return [f"![{alt}](plots/{png.name})", f"[SVG](plots/{png.with_suffix('.svg').name})", ""]
