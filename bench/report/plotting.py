"""matplotlib without a display, and figures saved byte-stable: 150 dpi PNGs (a palette, no
timestamp) with an SVG beside each (fixed ids, no date, coordinates to a hundredth of a point)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

DPI = 150
SVG_DECIMALS = 2  # a hundredth of a point: finer than any screen or printer shows

# The geometry attributes whose numbers matplotlib writes with six decimals.
_GEOMETRY = re.compile(r'\b(d|x|y|x1|x2|y1|y2|width|height|transform)="([^"]*)"')
_FLOAT = re.compile(r"-?\d+\.\d+")


def pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams["svg.hashsalt"] = "ctrnn-bench"  # the SVG's element ids, the same every run
    plt.rcParams["svg.fonttype"] = "none"  # text as text: a fraction of the bytes, searchable
    # The font the PNGs are drawn in, then any sans-serif: each SVG text element names its
    # fallbacks, and matplotlib's default list of twelve was a fifth of a figure's bytes.
    plt.rcParams["font.sans-serif"] = ["DejaVu Sans"]
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
        round_svg(path.with_suffix(".svg"))
    pyplot().close(fig)


def round_svg(path: Path, decimals: int = SVG_DECIMALS) -> None:
    """Rewrites ``path``'s geometry with ``decimals`` decimals: about a third fewer bytes, and
    the picture is the same to the eye. Text, styles and ids are left as they are."""
    def short(m: re.Match) -> str:
        text = f"{float(m.group(0)):.{decimals}f}".rstrip("0").rstrip(".")
        return "0" if text == "-0" else text

    def attribute(m: re.Match) -> str:
        return f'{m.group(1)}="{_FLOAT.sub(short, m.group(2))}"'

    svg = path.read_text()
    path.write_text(_GEOMETRY.sub(attribute, svg))


def markdown(alt: str, png: Path) -> list[str]:
    """The markdown of a figure in ``plots/``: the PNG, a link to its SVG, a blank line."""
    return [f"![{alt}](plots/{png.name})", f"[SVG](plots/{png.with_suffix('.svg').name})", ""]
