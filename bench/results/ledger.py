"""The ledger of result files the suite wrote itself: ``<results>/LEDGER.sha256``.

It has one line per result file, ``<sha256>  <path relative to the results folder>``. The lines
are sorted, so the ledger diffs and merges like a lock file. The harness writes a result file
and its line together, under the results folder's lock (``.lock``), which every writer takes.

A result file whose bytes match its line is *verified*: the suite ran it. A file added or edited
by hand, or written by a model's process, is not, unless whoever wrote it also rewrote the
ledger to match. The ledger is a record to review (a pull request shows every line it adds),
not a signature: code running as the same user can change any file.

While a model's process runs, the harness can also tell whether anything changed the folder's
result files other than a writer holding the lock (:func:`snapshot`, :func:`forged_since`).
"""

from __future__ import annotations

import fcntl
import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench import atomic, results
from bench.errors import UserError

NAME = "LEDGER.sha256"


@contextmanager
def locked(results_dir: Path) -> Iterator[None]:
    """Hold the results folder's lock (blocking): one writer at a time, across processes."""
    results_dir = Path(results_dir)
    results_dir.mkdir(parents=True, exist_ok=True)
    with open(results_dir / ".lock", "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def entries(results_dir: Path) -> dict[str, str]:
    """Relative path -> SHA-256, from the ledger (empty where there is none)."""
    file = Path(results_dir) / NAME
    if not file.exists():
        return {}
    out = {}
    for number, line in enumerate(file.read_text().splitlines(), 1):
        digest, sep, name = line.partition("  ")
        if not sep or len(digest) != 64:
            raise UserError(f"{file}:{number}: not '<sha256>  <path>'; restore the "
                                    "file from git")
        out[name] = digest
    return out


def _save(results_dir: Path, table: dict[str, str]) -> None:
    text = "".join(f"{digest}  {name}\n" for name, digest in sorted(table.items()))
    atomic.write_bytes_atomic(Path(results_dir) / NAME, text.encode())


def _name(results_dir: Path, path: Path) -> str:
    return Path(path).resolve().relative_to(Path(results_dir).resolve()).as_posix()


def write_result(results_dir: Path, path: Path, doc: dict[str, Any]) -> None:
    """Write a result file atomically and enter it in the ledger, under the lock."""
    with locked(results_dir):
        results.write_atomic(path, doc)
        enter(results_dir, path)


def enter(results_dir: Path, path: Path) -> None:
    """Set ``path``'s ledger line to its present bytes; the caller holds the lock."""
    table = entries(results_dir)
    table[_name(results_dir, path)] = _sha256(path)
    _save(results_dir, table)


def verified(results_dir: Path, path: Path, table: dict[str, str] | None = None) -> bool:
    """Whether ``path``'s bytes are the ones the suite wrote."""
    table = entries(results_dir) if table is None else table
    return table.get(_name(results_dir, path)) == _sha256(path)


def snapshot(results_dir: Path) -> dict[str, tuple[int, int]]:
    """Every result file's (modification time, size), to compare after a model's process."""
    out = {}
    for p in results.result_files(results_dir):
        st = p.stat()
        out[_name(results_dir, p)] = (st.st_mtime_ns, st.st_size)
    return out


def forged_since(results_dir: Path, before: dict[str, tuple[int, int]]) -> list[str]:
    """Result files created, changed or deleted since ``before`` that the ledger does not
    account for: not written by a harness holding the lock."""
    with locked(results_dir):
        now, table = snapshot(results_dir), entries(results_dir)
        changed = [n for n in now if before.get(n) != now[n]]
        forged = [n for n in changed if table.get(n) != _sha256(Path(results_dir) / n)]
        return sorted(forged + [n for n in before if n not in now])
