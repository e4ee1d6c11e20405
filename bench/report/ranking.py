"""Ranks that respect uncertainty: a statistic over seeds (the mean, or a capacity's median
K*) with its bootstrap interval, and ranks that entries share when their intervals overlap.

With the few seeds a leaderboard has, two means that differ in the third digit are often not
different at all. Each entry's primary metric gets a 95% percentile-bootstrap interval of its
statistic over seeds (``scipy.stats.bootstrap``, as rliable recommends for few runs; a fixed
generator, so that the leaderboard is byte-stable). Ranks are then given in order of the
statistic, best first: an entry whose interval overlaps the interval of the first entry of the
current rank shares that rank (``2=``); one that does not starts a new rank at its position.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

LEVEL = 0.95
RESAMPLES = 4000


@dataclass(frozen=True)
class Interval:
    """A statistic over seeds (``center``: the mean unless another was asked for) and its
    bootstrap interval; one seed: the value itself."""

    center: float
    low: float
    high: float
    n: int

    def overlaps(self, other: Interval) -> bool:
        return self.low <= other.high and other.low <= self.high


def interval(values: np.ndarray | list[float],
             statistic: Callable[..., np.ndarray] = np.mean) -> Interval | None:
    """``statistic`` of the finite ``values`` and its 95% percentile-bootstrap interval; None
    when there are none. ``statistic(x, axis=-1)`` must reduce along ``axis`` (scipy resamples
    in batches)."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return None
    center = float(statistic(v, axis=-1))
    if v.size == 1 or np.ptp(v) <= 1e-12 * max(1.0, abs(center)):  # nothing to resample
        return Interval(center, center, center, int(v.size))
    from scipy import stats

    rng = np.random.default_rng(0)
    kwargs = dict(n_resamples=RESAMPLES, confidence_level=LEVEL, method="percentile")
    try:  # scipy >= 1.15 names the generator rng
        result = stats.bootstrap((v,), statistic, rng=rng, **kwargs)
    except TypeError:
        result = stats.bootstrap((v,), statistic, random_state=rng, **kwargs)
    ci = result.confidence_interval
    return Interval(center, float(ci.low), float(ci.high), int(v.size))


def tied_ranks(entries: list[Interval | None], higher_is_better: bool) -> list[str]:
    """Ranks for ``entries`` in their given order: ``"1"``, ``"2="`` (shared), or ``"—"``
    (no value). Entries are ranked by ``center``, the given order breaking its ties; see the
    module's docstring for the shared ranks."""
    sign = -1.0 if higher_is_better else 1.0
    order = sorted((i for i, e in enumerate(entries) if e is not None),
                   key=lambda i: sign * entries[i].center)  # type: ignore[union-attr]
    rank_of: dict[int, int] = {}
    leader: Interval | None = None
    rank = 0
    for position, i in enumerate(order, 1):
        e = entries[i]
        assert e is not None
        if leader is None or not e.overlaps(leader):
            leader, rank = e, position
        rank_of[i] = rank
    shared = {r for r, n in Counter(rank_of.values()).items() if n > 1}
    return [("—" if i not in rank_of else
             f"{rank_of[i]}{'=' if rank_of[i] in shared else ''}") for i in range(len(entries))]


def places(iv: Interval) -> int:
    """Decimal places the interval supports: two significant digits of its half-width (four
    significant digits of the value when the interval is a point)."""
    half = (iv.high - iv.low) / 2
    if half > 0 and math.isfinite(half):
        return max(0, 1 - math.floor(math.log10(half)))
    scale = abs(iv.center)
    return max(0, 3 - math.floor(math.log10(scale))) if scale > 0 else 0


def format_interval(iv: Interval | None) -> str:
    """``[low, high]`` at the precision the interval supports; ``—`` for none or one seed."""
    if iv is None or iv.n < 2:
        return "—"
    p = places(iv)
    return f"[{iv.low:.{p}f}, {iv.high:.{p}f}]"


def against(value: float, threshold: float, higher_is_better: bool, digits: int = 2) -> str:
    """``value`` with ``digits`` decimals, or more where fewer would round it onto the other
    side of ``threshold``: 0.8952 against 0.9 prints as 0.895, never as 0.90."""
    if not math.isfinite(value):
        return "—"
    passes = value >= threshold if higher_is_better else value <= threshold
    for d in range(digits, 10):
        shown = float(f"{value:.{d}f}")
        if (shown >= threshold if higher_is_better else shown <= threshold) == passes:
            return f"{value:.{d}f}"
    return repr(value)
