"""Progress bars: tqdm where it is installed, plain lines where it is not (offline machines)."""

from __future__ import annotations

import sys
import time
from typing import Any

try:
    from tqdm.auto import tqdm as _tqdm
except ImportError:  # optional at run time: see pyproject's [tool.ctrnn-bench]
    _tqdm = None


def _duration(seconds: float) -> str:
    s = round(seconds)
    return f"{s // 60} min {s % 60} s" if s >= 60 else f"{s} s"


class _Lines:
    """Fallback with the subset of tqdm's interface the harness uses; each line ends with the
    time left at the pace so far (an ETA), while there is any."""

    def __init__(self, total: int, desc: str, **_: Any) -> None:
        self.total, self.desc, self.n, self.postfix = total, desc, 0, ""
        self.start = time.monotonic()

    def update(self, n: int = 1) -> None:
        self.n += n
        if self.n == self.total or self.n % max(1, self.total // 4) == 0:
            left = ""
            if 0 < self.n < self.total:
                pace = (time.monotonic() - self.start) / self.n
                left = f" (about {_duration(pace * (self.total - self.n))} left)"
            print(f"{self.desc}: {self.n}/{self.total} {self.postfix}{left}", file=sys.stderr)

    def set_postfix_str(self, text: str) -> None:
        self.postfix = text

    def close(self) -> None:
        pass


def bar(total: int, desc: str, leave: bool = False):
    """A live bar on a terminal; a few plain lines in logs (or where tqdm is missing)."""
    if _tqdm is None or not sys.stderr.isatty():
        return _Lines(total, desc)
    return _tqdm(total=total, desc=desc, leave=leave, dynamic_ncols=True, file=sys.stderr)
