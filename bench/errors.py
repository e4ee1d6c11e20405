"""User-facing errors: the CLI prints them as one line and exits non-zero, with no traceback."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class UserError(Exception):
    """Bad input from the user: say what is wrong and what to do."""


def is_out_of_memory(e: BaseException) -> bool:
    """Whether ``e`` says the host or a device ran out of memory (Python, PyTorch or XLA)."""
    text = f"{type(e).__name__}: {e}"
    return isinstance(e, MemoryError) or "OutOfMemory" in text or "RESOURCE_EXHAUSTED" in text


def unknown(kind: str, name: str, known: Iterable[str], hint: str) -> UserError:
    """An 'unknown <kind>' error that suggests the closest known names."""
    known = sorted(known)
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
    did = f" Did you mean {', '.join(close)}?" if close else ""
    return UserError(f"unknown {kind} {name!r}.{did} Known: {', '.join(known)}. {hint}")
