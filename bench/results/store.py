"""Trial data that many results share, stored once per task version beside its results.

Every result of a held-out task draws the same example trial on the leaderboard (the first
trial of the public test split, generated from the task file's own seed, never from a run's
test split), and every result of a capacity task at one K the same first targets. A result
keeps only its model's outputs and the SHA-256 of the trial they belong to (``trial_sha256``);
the trial itself lies once in

- ``<results>/<task>@v<version>/example.json``: ``inputs`` and ``targets`` (held-out tasks);
- ``<results>/<task>@v<version>/trajectories-K<K>.json``: ``targets`` (capacity tasks).

A shared file is written when missing, never rewritten: the outputs of earlier results belong
to it. A result whose trial differs from the stored one keeps its trial inline, as every
result did before (:func:`compact` says which). :func:`hydrate` puts the trial back into
documents in memory for the plots, and drops a trial whose file is missing or differs, so no
plot pairs outputs with another trial's targets.

:func:`migrate` (``python -m bench migrate-store``) converts a results folder written before
this layout, and is safe to rerun. It writes float32 curves and outputs in their short forms
(:func:`bench.results.numbers.shorten`) and re-encodes phase portraits with a palette
(:func:`bench.analysis.portraits.compact`), and rewrites a file in an older text layout in the
present one (the same document, fewer bytes). Each result file is rewritten together with its
ledger line under the folder's lock, so a verified file stays verified and an unverified one
stays unverified.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import results
from bench.analysis import portraits
from bench.results import ledger, numbers

# field of a result -> the keys of its trial that are shared (the rest stay in the result)
SHARED = {"example": ("inputs", "targets"), "trajectories": ("targets",)}


def shared_path(results_dir: Path, doc: dict[str, Any], name: str) -> Path | None:
    """Where the trial of ``doc[name]`` is stored (None: this result has no shared trial)."""
    folder = Path(results_dir) / f"{doc['task']}@v{doc['task_version']}"
    if name == "example":
        return folder / "example.json"
    if doc.get("K") is None:  # trajectories of a non-capacity task (early tuning cells)
        return None
    return folder / f"trajectories-K{doc['K']}.json"


def digest(trial: dict[str, Any], name: str) -> str:
    """SHA-256 of a trial's shared keys, as they read back from JSON."""
    part = results.plain({k: trial[k] for k in SHARED[name]})
    return hashlib.sha256(json.dumps(part, sort_keys=True).encode()).hexdigest()


def _inline(doc: dict[str, Any], name: str) -> dict[str, Any] | None:
    part = doc.get(name)
    if isinstance(part, dict) and all(k in part for k in SHARED[name]):
        return part
    return None


def _read(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return None


def _without_elapsed(trial: dict[str, Any]) -> dict[str, Any]:
    """An example whose inputs carry the elapsed-time channel (GRU, LSTM on walker2d), as
    results before this layout stored it, without that channel (the last)."""
    return {**trial, "inputs": [row[:-1] for row in trial["inputs"]]}


def _put(path: Path, doc: dict[str, Any], name: str, trial: dict[str, Any]) -> None:
    """Write the shared file from ``trial``; the caller holds the lock and saw it missing."""
    meta: dict[str, Any] = {"task": doc["task"], "task_version": doc["task_version"]}
    if name == "example":  # the public test split's (the task file's seed)
        meta.update(split="test", trial=trial.get("trial", 0))
    else:
        meta["K"] = doc["K"]
    results.write_atomic(path, {**meta, **{k: trial[k] for k in SHARED[name]}})


def _compact(results_dir: Path, doc: dict[str, Any], create: bool = True,
             elapsed: bool = False) -> dict[str, str]:
    """Replace each inline shared trial of ``doc`` (in place) by its digest, where it matches
    the stored one; with ``create``, store it first if nothing is stored. ``elapsed``: an
    example may also match without its last input channel. Returns {field: why it stayed
    inline}. The caller holds the results folder's lock."""
    kept = {}
    for name, keys in SHARED.items():
        part = _inline(doc, name)
        path = shared_path(results_dir, doc, name) if part is not None else None
        if part is None or path is None:
            continue
        stored = _read(path) if path.exists() else None
        if stored is None and path.exists():
            kept[name] = f"{path.name} is unreadable"
            continue
        if stored is None:
            if not create:
                kept[name] = f"no {path.name} to share"
                continue
            _put(path, doc, name, part)
            stored = part
        want = digest(stored, name)
        forms = [part] + ([_without_elapsed(part)] if elapsed and name == "example" else [])
        if any(digest(f, name) == want for f in forms):
            doc[name] = {**{k: v for k, v in part.items() if k not in keys},
                         "trial_sha256": want}
        else:
            kept[name] = f"its trial differs from {path.relative_to(results_dir).as_posix()}"
    return kept


def compact(results_dir: Path, doc: dict[str, Any]) -> dict[str, str]:
    """Move ``doc``'s shared trials to their task's files (in place), storing a trial that is
    not stored yet; returns {field: why it stayed inline}. Takes the folder's lock."""
    if not any(_inline(doc, name) is not None for name in SHARED):
        return {}
    with ledger.locked(results_dir):
        return _compact(results_dir, doc)


def hydrate(results_dir: Path, docs: list[dict[str, Any]]) -> None:
    """Put each shared trial back into the documents, in memory; a trial whose file is
    missing or differs from the result's digest becomes None (not drawn)."""
    stored: dict[Path, tuple[dict[str, Any] | None, str | None]] = {}
    for d in docs:
        for name, keys in SHARED.items():
            part = d.get(name)
            if not isinstance(part, dict) or "trial_sha256" not in part or _inline(d, name):
                continue  # nothing shared, or the trial is inline already
            path = shared_path(results_dir, d, name)
            if path is not None and path not in stored:
                trial = _read(path)
                stored[path] = (trial, None if trial is None else digest(trial, name))
            trial, want = stored.get(path, (None, None)) if path else (None, None)
            d[name] = ({**part, **{k: trial[k] for k in keys}}
                       if trial is not None and want == part["trial_sha256"] else None)


@dataclass
class Migration:
    files: int = 0  # result files read
    rewritten: int = 0  # result files made smaller
    verified: int = 0  # of those, verified before and after
    unverified: int = 0  # of those, unverified before and after
    stored: list[str] = field(default_factory=list)  # shared files written
    kept: list[str] = field(default_factory=list)  # "<result>: <field> <why>"
    unreadable: list[str] = field(default_factory=list)
    portraits: int = 0  # re-encoded with a palette
    bytes_before: int = 0  # result files and portraits
    bytes_after: int = 0


def _canonical(docs: list[tuple[Path, dict[str, Any], bool]], name: str
               ) -> dict[str, Any] | None:
    """The trial to store for a group of results: the commonest among verified results (all,
    if none is verified), of those with the fewest input channels (an example with the
    elapsed-time channel is never the shared one while another exists)."""
    trials = [(t, ok) for t, ok in ((_inline(d, name), ok) for _, d, ok in docs)
              if t is not None]
    if any(ok for _, ok in trials):
        trials = [(t, ok) for t, ok in trials if ok]
    if not trials:
        return None
    if name == "example":
        width = min(len(t["inputs"][0]) if t["inputs"] else 0 for t, _ in trials)
        trials = [(t, ok) for t, ok in trials if (len(t["inputs"][0]) if t["inputs"] else 0)
                  == width]
    counts = Counter(digest(t, name) for t, _ in trials)
    best = max(counts.values())
    return next(t for t, _ in trials if counts[digest(t, name)] == best)


def _size(paths: list[Path]) -> int:
    return sum(p.stat().st_size for p in paths if p.is_file())


def migrate(results_dir: Path, echo=print) -> Migration:
    """Move the shared trials of every result under ``results_dir`` to their task's files,
    shorten the recorded numbers, write each file in the present layout
    (:func:`bench.results.files.dumps`) and re-encode the phase portraits; rerunnable (what is
    done already is left alone)."""
    results_dir = Path(results_dir)
    m = Migration()
    paths = results.result_files(results_dir)
    table = ledger.entries(results_dir)
    docs: list[tuple[Path, dict[str, Any], bool]] = []
    for p in paths:
        doc = _read(p)
        if not isinstance(doc, dict) or not {"task", "task_version"} <= set(doc):
            m.unreadable.append(p.relative_to(results_dir).as_posix())
            continue
        docs.append((p, doc, ledger.verified(results_dir, p, table)))
    m.files = len(docs)
    pictures = sorted({p.with_name(d["attractor"]["portrait"]) for p, d, _ in docs
                       if isinstance(d.get("attractor"), dict) and d["attractor"].get("portrait")
                       and p.with_name(d["attractor"]["portrait"]).is_file()})
    m.bytes_before = _size([p for p, _, _ in docs] + pictures)

    groups: dict[tuple[Path, str], list] = defaultdict(list)
    for p, doc, ok in docs:
        for name in SHARED:
            where = shared_path(results_dir, doc, name) if _inline(doc, name) else None
            if where is not None:
                groups[(where, name)].append((p, doc, ok))
    with ledger.locked(results_dir):  # the shared files first, from each group's commonest
        for (where, name), group in sorted(groups.items(), key=lambda g: str(g[0][0])):
            trial = None if where.exists() else _canonical(group, name)
            if trial is not None:
                _put(where, group[0][1], name, trial)
                m.stored.append(where.relative_to(results_dir).as_posix())

    for p, _, _ in docs:
        with ledger.locked(results_dir):  # one file at a time: other writers go on between
            raw = p.read_bytes()
            doc = json.loads(raw)
            elapsed = bool(((doc.get("config") or {}).get("task") or {}).get("data", {})
                           .get("elapsed_time_feature"))
            kept = _compact(results_dir, doc, create=False, elapsed=elapsed)
            numbers.shorten(doc)
            name = p.relative_to(results_dir).as_posix()
            m.kept += [f"{name}: {k} {why}" for k, why in kept.items()]
            if doc == json.loads(raw) and raw == results.dumps(doc).encode():
                continue  # nothing moved, and already in the present layout
            table = ledger.entries(results_dir)
            was = table.get(name) == hashlib.sha256(raw).hexdigest()
            results.write_atomic(p, doc)
            if was:  # its line follows its bytes; an unverified file gets none
                ledger.enter(results_dir, p)
            m.rewritten += 1
            m.verified += was
            m.unverified += not was
    for png in pictures:
        m.portraits += portraits.compact(png, portraits.COLOURS)
    m.bytes_after = _size([p for p, _, _ in docs] + pictures)
    return m
