"""``bench.results.ledger``: the results the suite wrote, and what changed behind it. Concurrent
writers are real processes."""

from __future__ import annotations

import hashlib
import multiprocessing
from pathlib import Path

from bench import results
from bench.results import ledger


def _doc(i: int) -> dict:
    return {"cell": i, "payload": list(range(200))}


def test_written_results_are_verified_and_edits_are_not(tmp_path):
    path = tmp_path / "t@v1" / "quick" / "cpu" / "m-torch-seed0.json"
    ledger.write_result(tmp_path, path, _doc(0))
    assert ledger.verified(tmp_path, path)
    assert ledger.entries(tmp_path) == {"t@v1/quick/cpu/m-torch-seed0.json":
                                        hashlib.sha256(path.read_bytes()).hexdigest()}
    path.write_text(path.read_text().replace("199", "198"))  # edited by hand
    assert not ledger.verified(tmp_path, path)
    by_hand = path.with_name("m-torch-seed1.json")
    results.write_atomic(by_hand, _doc(1))  # added without the harness
    assert not ledger.verified(tmp_path, by_hand)


def test_changes_behind_the_harness_are_found(tmp_path):
    folder = tmp_path / "t@v1" / "quick" / "cpu"
    kept, edited, deleted = (folder / f"m-torch-seed{i}.json" for i in range(3))
    for i, p in enumerate((kept, edited, deleted)):
        ledger.write_result(tmp_path, p, _doc(i))
    before = ledger.snapshot(tmp_path)
    ledger.write_result(tmp_path, folder / "m-torch-seed9.json", _doc(9))  # the harness: fine
    results.write_atomic(folder / "forged-torch-seed0.json", _doc(5))
    edited.write_text(edited.read_text() + " ")
    deleted.unlink()
    assert ledger.forged_since(tmp_path, before) == sorted(
        f"t@v1/quick/cpu/{p.name}" for p in (folder / "forged-torch-seed0.json", edited,
                                             deleted))


def _writer(folder: str, start: int) -> None:
    for i in range(start, start + 25):
        ledger.write_result(Path(folder), Path(folder) / "t@v1" / f"m-seed{i}.json", _doc(i))


def test_concurrent_writers_lose_no_line(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(tmp_path), s)) for s in (0, 25, 50)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
        assert p.exitcode == 0
    files = results.result_files(tmp_path)
    assert len(files) == 75 and len(ledger.entries(tmp_path)) == 75
    assert all(ledger.verified(tmp_path, p) for p in files)
    assert not list(tmp_path.rglob("*.tmp"))  # no temporary file left behind


def test_the_harness_reads_the_ledger_before_it_trains_anything(tmp_path, monkeypatch):
    """A bad ledger line is one UserError before the first cell, not after it trained."""
    import pytest

    from bench.errors import UserError
    from bench.run import harness

    (tmp_path / ledger.NAME).write_text("not a ledger line\n")
    ran: list = []
    monkeypatch.setattr(harness, "process", lambda *a, **k: ran.append(a))
    with pytest.raises(UserError) as e:
        harness.run([object()], "smoke", "cpu", tmp_path)
    assert str(e.value).startswith(f"{tmp_path / ledger.NAME}:1: not '<sha256>  <path>'")
    assert "\n" not in str(e.value) and ran == []
