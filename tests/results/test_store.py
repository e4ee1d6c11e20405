"""The results store (``bench.results.store``): the trial that results share is stored once per
task, results keep their outputs, the leaderboard draws from both, and the migration of a folder
written before this layout is rerunnable and keeps every file's verification as it was."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest

from bench import results
from bench.analysis import portraits
from bench.report import leaderboard, table_plots
from bench.results import ledger, store

ROOT = Path(__file__).resolve().parents[2]
REAL = ROOT / "results"
FLIPFLOP = "flipflop-3bit@v2/quick/cpu"
WALKER = "walker2d@v1/quick/cpu"
CAPACITY = "expressivity-smooth@v1/quick/cpu"


def real(rel: str) -> dict:
    """A committed result with its shared trial inline, as results were before the store
    (hydrated from its task's file where it is migrated already)."""
    path = REAL / rel
    if not path.is_file():
        pytest.skip(f"{rel} is not in this checkout")
    doc = json.loads(path.read_text())
    store.hydrate(REAL, [doc])
    for name in store.SHARED:
        if isinstance(doc.get(name), dict):
            doc[name].pop("trial_sha256", None)
    return doc


def old_folder(root: Path, rels: list[str]) -> dict[str, Path]:
    """A results folder of real results in the old layout, each written through the ledger."""
    out = {}
    for rel in rels:
        out[rel] = root / rel
        ledger.write_result(root, out[rel], real(rel))
    return out


def test_the_example_is_stored_once_and_results_keep_their_outputs(tmp_path):
    a, b = (real(f"{FLIPFLOP}/{m}-torch-seed0.json") for m in ("gnode", "gru"))
    outputs = a["example"]["outputs"]
    assert store.compact(tmp_path, a) == {}
    shared = tmp_path / "flipflop-3bit@v2" / "example.json"
    first = (shared.read_bytes(), shared.stat().st_mtime_ns)
    assert set(a["example"]) == {"trial", "trial_sha256", "outputs"}
    assert a["example"]["outputs"] == outputs
    assert store.compact(tmp_path, b) == {}  # the same trial: the file is not written again
    assert (shared.read_bytes(), shared.stat().st_mtime_ns) == first
    assert b["example"]["trial_sha256"] == a["example"]["trial_sha256"]
    assert results.result_files(tmp_path) == []  # a shared trial is no result


def test_the_harness_example_is_the_public_trial_the_results_hold():
    """The trial the harness gives the model now is the one committed results drew, so old
    and new results of a task share one file."""
    from bench.data import sequences
    from bench.spec.tasks import get_task

    task = get_task("flipflop-3bit")
    doc = real(f"{FLIPFLOP}/gnode-torch-seed0.json")
    if doc["task_version"] != task.version:
        pytest.skip("the task's version moved on")
    trial = sequences.example_trial(task, "smoke")
    record = sequences.example_record(trial, trial["targets"])
    assert store.digest(record, "example") == store.digest(doc["example"], "example")


def test_a_different_trial_stays_inline_and_is_never_paired_with_the_stored_one(tmp_path):
    a, b = (real(f"{FLIPFLOP}/{m}-torch-seed0.json") for m in ("gnode", "gru"))
    store.compact(tmp_path, a)
    b["example"]["targets"][0][0] += 1.0
    kept = store.compact(tmp_path, b)
    assert "differs" in kept["example"] and "targets" in b["example"]
    docs = [copy.deepcopy(a), copy.deepcopy(b)]
    store.hydrate(tmp_path, docs)
    assert docs[0]["example"]["targets"] != docs[1]["example"]["targets"]
    (tmp_path / "flipflop-3bit@v2" / "example.json").unlink()
    store.hydrate(tmp_path, [a])
    assert a["example"] is None  # its trial is gone: not drawn against another


def test_migration_keeps_verification_and_is_idempotent(tmp_path):
    rels = [f"{FLIPFLOP}/gnode-torch-seed0.json", f"{FLIPFLOP}/gru-torch-seed0.json",
            f"{FLIPFLOP}/gnode-jax-seed0.json", f"{WALKER}/gnode-jax-seed0.json",
            f"{WALKER}/gru-jax-seed0.json"]
    paths = old_folder(tmp_path, rels)
    before = {rel: json.loads(p.read_text()) for rel, p in paths.items()}
    # a hand edit: the file stays out of the ledger whatever the migration does
    edited = paths[f"{FLIPFLOP}/gnode-jax-seed0.json"]
    doc = before[f"{FLIPFLOP}/gnode-jax-seed0.json"]
    doc["metrics"]["mse"] = 0.0
    results.write_atomic(edited, doc)
    line = ledger.entries(tmp_path)[f"{FLIPFLOP}/gnode-jax-seed0.json"]
    # GRU on walker2d saw the elapsed-time channel; results before the store kept it
    gru = f"{WALKER}/gru-jax-seed0.json"
    doc = before[gru]
    plain = before[f"{WALKER}/gnode-jax-seed0.json"]["example"]["inputs"]
    doc["example"]["inputs"] = [[*row, 1.0] for row in plain]
    ledger.write_result(tmp_path, paths[gru], doc)

    m = store.migrate(tmp_path)
    assert m.kept == [] and m.rewritten == 5 and (m.verified, m.unverified) == (4, 1)
    assert sorted(m.stored) == ["flipflop-3bit@v2/example.json", "walker2d@v1/example.json"]
    table = ledger.entries(tmp_path)
    for rel, p in paths.items():
        after = json.loads(p.read_text())
        assert set(after["example"]) == {"trial", "trial_sha256", "outputs"}
        assert np.array_equal(np.float32(after["example"]["outputs"]),  # short, same float32s
                              np.float32(before[rel]["example"]["outputs"]))
        assert np.array_equal(np.float32(after["curve"]["val_loss"]),
                              np.float32(before[rel]["curve"]["val_loss"]))
        same = {k: v for k, v in after.items() if k not in ("example", "curve")}
        assert same == {k: v for k, v in before[rel].items() if k not in ("example", "curve")}
        assert ledger.verified(tmp_path, p, table) == (p != edited)
    assert table[f"{FLIPFLOP}/gnode-jax-seed0.json"] == line  # not laundered
    stored = json.loads((tmp_path / "walker2d@v1" / "example.json").read_text())
    assert len(stored["inputs"][0]) == len(before[f"{WALKER}/gnode-jax-seed0.json"]
                                           ["example"]["inputs"][0])

    snapshot = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    again = store.migrate(tmp_path)
    assert again.rewritten == 0 and again.stored == [] and again.kept == []
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == snapshot


def test_migration_rewrites_the_older_text_layout_and_keeps_verification(tmp_path):
    """A file written one number per line (before 2026-12) is rewritten in the present layout:
    the same document, fewer bytes; a verified file stays verified, a hand-edited one does
    not become verified."""
    rels = [f"{FLIPFLOP}/gnode-torch-seed0.json", f"{FLIPFLOP}/gru-torch-seed0.json"]
    paths = old_folder(tmp_path, rels)
    store.migrate(tmp_path)  # the trial store first, so only the layout is left to change
    docs = {rel: json.loads(p.read_text()) for rel, p in paths.items()}
    docs[rels[1]]["metrics"]["mse"] = 0.0  # a hand edit besides the layout
    with ledger.locked(tmp_path):
        for rel, p in paths.items():
            p.write_text(json.dumps(docs[rel], indent=1, sort_keys=True) + "\n")
            if rel.endswith("gnode-torch-seed0.json"):
                ledger.enter(tmp_path, p)  # as the harness wrote it then
    sizes = {rel: p.stat().st_size for rel, p in paths.items()}
    m = store.migrate(tmp_path)
    assert m.rewritten == 2 and (m.verified, m.unverified) == (1, 1)
    for rel, p in paths.items():
        assert json.loads(p.read_text()) == docs[rel] and p.stat().st_size < sizes[rel]
    table = ledger.entries(tmp_path)
    assert ledger.verified(tmp_path, paths[rels[0]], table)
    assert not ledger.verified(tmp_path, paths[rels[1]], table)
    assert store.migrate(tmp_path).rewritten == 0


def test_migration_writes_float32s_short_and_each_stays_the_same_float32(tmp_path):
    """Curves and outputs were stored as float32s' float64 expansions (outputs rounded in
    float32); the migration writes their short forms, the same float32 each, and the files
    stay verified."""
    rel = f"{WALKER}/gnode-jax-seed0.json"
    cap = f"{CAPACITY}/gnode+N=2,widths=[32,32]-jax-K2-seed0.json"
    paths = {}
    for r, name in ((rel, "example"), (cap, "trajectories")):
        doc = real(r)
        for part, key in ((doc[name], "outputs"), (doc["curve"], "val_loss")):
            part[key] = np.asarray(part[key], np.float32).astype(np.float64).tolist()
            assert any(len(repr(float(v))) > 12 for v in np.ravel(part[key]))  # as before 2026-12
        paths[r] = tmp_path / r
        ledger.write_result(tmp_path, paths[r], doc)
    size = {r: p.stat().st_size for r, p in paths.items()}
    before = {r: json.loads(p.read_text()) for r, p in paths.items()}

    m = store.migrate(tmp_path)
    assert m.rewritten == 2 and m.verified == 2
    table = ledger.entries(tmp_path)
    for (r, name), decimals in zip(((rel, "example"), (cap, "trajectories")), (4, 3)):
        after = json.loads(paths[r].read_text())
        for part, key in ((name, "outputs"), ("curve", "val_loss")):
            now, was = np.asarray(after[part][key]), np.asarray(before[r][part][key])
            assert np.array_equal(now.astype(np.float32), was.astype(np.float32))
            assert max(len(repr(float(v))) for v in now.ravel()) <= 12  # short, every one
        outputs = np.asarray(after[name]["outputs"])
        assert np.array_equal(outputs, outputs.round(decimals))
        assert paths[r].stat().st_size < 0.8 * size[r]
        assert ledger.verified(tmp_path, paths[r], table)
        same = {k: v for k, v in after.items() if k not in (name, "curve")}
        assert same == {k: v for k, v in before[r].items() if k not in (name, "curve")}
    assert store.migrate(tmp_path).rewritten == 0


def test_capacity_targets_are_stored_once_per_k(tmp_path):
    rels = [f"{CAPACITY}/gnode+N={n},widths=[32,32]-jax-K2-seed0.json" for n in (2, 8)]
    paths = old_folder(tmp_path, rels)
    targets = real(rels[0])["trajectories"]["targets"]
    m = store.migrate(tmp_path)
    assert m.stored == ["expressivity-smooth@v1/trajectories-K2.json"] and m.rewritten == 2
    docs = [json.loads(p.read_text()) for p in paths.values()]
    assert all(set(d["trajectories"]) == {"trial_sha256", "outputs"} for d in docs)
    store.hydrate(tmp_path, docs)
    assert docs[0]["trajectories"]["targets"] == targets


def test_the_leaderboard_draws_the_stored_example(tmp_path, monkeypatch):
    res = tmp_path / "results"
    old_folder(res, [f"{FLIPFLOP}/gnode-torch-seed0.json", f"{FLIPFLOP}/gru-torch-seed0.json"])
    store.migrate(res)
    drawn = []  # the documents the table's plot got: their trials come from the store
    real_draw = table_plots.draw
    monkeypatch.setattr(table_plots, "draw", lambda docs, *a: drawn.append(docs)
                        or real_draw(docs, *a))
    written = leaderboard.build(res, tmp_path / "out")
    plots = [p.name for p in written if p.suffix == ".png" and not p.stem.endswith("-memory")]
    [docs] = drawn
    assert all(len(d["example"]["inputs"]) > 0 for d in docs)  # hydrated, not just outputs
    assert plots == ["flipflop-3bit-v2-quick-cpu.png"]


def test_portraits_get_a_palette_once(tmp_path):
    from bench.report import plotting

    plt = plotting.pyplot()
    fig, ax = plt.subplots(figsize=(4, 3))
    for k in range(8):
        ax.plot(range(50), [((i * (k + 1)) % 17) / 17 for i in range(50)], lw=0.8)
    png = tmp_path / "p.png"
    fig.savefig(png, dpi=80, metadata={"Software": None})  # as portraits were once saved
    size = png.stat().st_size
    assert portraits.compact(png) is True
    assert png.stat().st_size < size and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert portraits.compact(png) is False
    plotting.save(fig, tmp_path / "q.png")  # the report's plots have their palette already
    assert portraits.compact(tmp_path / "q.png") is False


def test_a_portrait_palette_shrinks_to_its_colours_and_stays(tmp_path):
    from PIL import Image

    from bench.report import plotting

    plt = plotting.pyplot()
    fig, ax = plt.subplots(figsize=(4, 3))
    cmap = plt.get_cmap("Blues")
    for k in range(8):  # antialiased lines: far more than 32 distinct colours
        ax.plot(range(50), [((i * (k + 1)) % 17) / 17 for i in range(50)], lw=0.8,
                color=cmap(0.3 + k / 12))
    ax.plot([10, 30], [0.5, 0.2], "x", color="tab:red", ms=4)  # a few pixels of red
    png = tmp_path / "p.png"
    fig.savefig(png, dpi=80)
    plt.close(fig)
    assert portraits.compact(png, 256) is True  # as the committed portraits were
    with Image.open(png) as im:
        assert len(im.getcolors(256)) > portraits.COLOURS
        before = np.asarray(im.convert("RGB"), dtype=int)
    red = (before[..., 0] > 180) & (before[..., 1] < 90) & (before[..., 2] < 90)
    assert 0 < red.mean() < 0.002  # rare: what a median cut would merge away
    size = png.stat().st_size
    assert portraits.compact(png, portraits.COLOURS) is True
    with Image.open(png) as im:
        assert im.mode == "P" and len(im.getcolors(256)) <= portraits.COLOURS
        after = np.asarray(im.convert("RGB"), dtype=int)
    assert png.stat().st_size < size
    assert np.abs(after - before)[red].max() <= 40  # the markers are still red
    assert portraits.compact(png, portraits.COLOURS) is False  # a rerun leaves it alone
    assert portraits.compact(png, 256) is False  # fewer colours than asked is fine


def test_migrate_store_command(tmp_path):
    from bench.cli import main

    old_folder(tmp_path, [f"{FLIPFLOP}/gnode-torch-seed0.json"])
    assert main(["migrate-store", "--results-dir", str(tmp_path)]) == 0
    assert (tmp_path / "flipflop-3bit@v2" / "example.json").is_file()
    assert main(["migrate-store", "--results-dir", str(tmp_path / "nowhere")]) == 2
