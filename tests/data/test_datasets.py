"""The data cache (``bench.data.datasets``): atomic files with checksums, one-line errors for a
missing or corrupted file, preparation offline and only where missing."""

from __future__ import annotations

import json
import socket

import numpy as np
import pytest

from bench.data import datasets
from bench.errors import UserError
from bench.spec.tasks import get_task


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CTRNN_BENCH_DATA", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def offline(monkeypatch):
    """Any attempt to open a network connection fails the test."""
    def refuse(*args, **kwargs):
        raise AssertionError("a network connection was attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


ARRAYS = {"x": np.arange(12, dtype=np.float32).reshape(3, 4), "y": np.array([0, 2, 1])}


def one_line(e: pytest.ExceptionInfo) -> str:
    msg = str(e.value)
    assert "\n" not in msg and msg
    return msg


def test_store_and_load_round_trip_with_a_manifest(cache):
    path = datasets.store("toy-1", ARRAYS, {"n": 3}, ("numpy",))
    loaded = datasets.load("toy-1")
    for k, v in ARRAYS.items():
        np.testing.assert_array_equal(loaded[k], v)
    entry = json.loads((cache / "manifest.json").read_text())["datasets"]["toy-1"]
    assert entry["sha256"] == datasets.sha256(path) and entry["bytes"] == path.stat().st_size
    assert entry["arrays"]["x"] == [[3, 4], "float32"] and entry["params"] == {"n": 3}
    assert entry["packages"]["numpy"] == np.__version__
    assert not list(cache.glob(".*.tmp"))  # no temporary file left behind


def test_a_flipped_byte_is_caught_and_named(cache):
    path = datasets.store("toy-1", ARRAYS, {}, ())
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(UserError) as e:
        datasets.load("toy-1")
    msg = one_line(e)
    assert str(path) in msg and "checksum" in msg and "make data" in msg


def test_a_missing_file_is_named_with_the_command_that_rebuilds_it(cache):
    datasets.store("toy-1", ARRAYS, {}, ())
    (cache / "toy-1.npz").unlink()
    with pytest.raises(UserError) as e:
        datasets.load("toy-1")
    assert "toy-1.npz is missing" in one_line(e) and "make data" in str(e.value)
    with pytest.raises(UserError, match="missing"):
        datasets.load("never-made")


def test_a_corrupted_manifest_is_a_one_line_error(cache):
    datasets.store("toy-1", ARRAYS, {}, ())
    (cache / "manifest.json").write_text("{not json")
    with pytest.raises(UserError) as e:
        datasets.load("toy-1")
    assert "manifest" in one_line(e)


def test_keys_depend_on_every_parameter():
    a = datasets.key("uea", {"dataset": "JapaneseVowels"})
    assert a.startswith("JapaneseVowels-")
    assert a != datasets.key("uea", {"dataset": "ArrowHead"})
    w = {"env": "Walker2d-v5", "rollouts": 4}
    assert datasets.key("walker2d", w) != datasets.key("walker2d", {**w, "rollouts": 5})


def test_every_real_task_reads_the_cache():
    names = {n: get_task(n) for n in ("vowels", "vowels-irregular-50", "pickup-gesture",
                                      "walker2d")}
    needed = datasets.needed(list(names.values()))
    # the vowels variants share one data set: dropping points happens after the cache
    assert len(needed) == 3
    assert not datasets.needed([get_task("flipflop-3bit"), get_task("expressivity-smooth")])


def test_prepare_without_the_packages_says_how_to_get_them(cache, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "aeon" else real(name, *a))
    with pytest.raises(UserError) as e:
        datasets.prepare([get_task("vowels")], echo=lambda s: None)
    msg = one_line(e)
    assert "aeon" in msg and "pip install" in msg and "copy a prepared cache" in msg


def test_prepare_reads_the_bundled_archive_offline_and_only_once(cache, offline):
    pytest.importorskip("aeon")
    tasks = [get_task("vowels"), get_task("vowels-irregular-30")]
    lines: list[str] = []
    assert len(datasets.prepare(tasks, echo=lines.append)) == 1
    (name,) = datasets.needed(tasks)
    raw = datasets.load(name)
    assert raw["train_values"].shape == (270, 26, 12) and raw["test_values"].shape[0] == 370
    assert raw["train_lengths"].min() == 7 and raw["test_lengths"].max() == 29
    assert len(raw["classes"]) == 9 and set(np.bincount(raw["train_labels"])) == {30}
    before = (cache / f"{name}.npz").stat().st_mtime_ns
    assert datasets.prepare(tasks, echo=lines.append) == []  # cached: nothing to do
    assert (cache / f"{name}.npz").stat().st_mtime_ns == before
    assert any("ready" in line for line in lines)


def test_run_prepares_missing_data_but_stops_at_a_corrupted_file(cache):
    """``make bench`` prepares what is missing; a corrupted file is one line, not replaced."""
    pytest.importorskip("aeon")
    tasks = [get_task("pickup-gesture")]
    assert len(datasets.prepare(tasks, echo=lambda s: None, repair=False)) == 1
    (name,) = datasets.needed(tasks)
    path = cache / f"{name}.npz"
    path.write_bytes(path.read_bytes()[:-10])  # truncated
    with pytest.raises(UserError) as e:
        datasets.prepare(tasks, echo=lambda s: None, repair=False)
    assert str(path) in one_line(e) and "make data" in str(e.value)
    assert datasets.prepare(tasks, echo=lambda s: None) == [name]  # make data repairs it
    assert datasets.status(name) is None


def test_cli_run_on_a_corrupted_cache_is_one_line(cache, tmp_path):
    import os
    import subprocess
    import sys

    from conftest import ROOT

    (name,) = datasets.needed([get_task("vowels")])
    datasets.store(name, ARRAYS, {}, ())
    (cache / f"{name}.npz").write_bytes(b"not a zip file")
    r = subprocess.run([sys.executable, "-m", "bench", "run", "--model", "gru", "--task",
                        "vowels", "--profile", "smoke", "--results-dir", str(tmp_path / "r")],
                       cwd=ROOT, capture_output=True, text=True, timeout=120,
                       env={**os.environ, "CTRNN_BENCH_DATA": str(cache)})
    assert r.returncode == 2 and "Traceback" not in r.stderr
    (line,) = r.stderr.splitlines()
    assert line.startswith("error: data cache:") and name in line and "make data" in line
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("manifest", ['[]', '{"datasets": []}', '{"datasets": {"a": 1}}',
                                      '{"datasets": {"a": {"file": "a.npz"}}}'])
def test_a_malformed_manifest_is_a_one_line_error(cache, manifest):
    cache.mkdir(parents=True)
    (cache / "manifest.json").write_text(manifest)
    with pytest.raises(UserError) as e:
        datasets.status("a")
    assert "manifest is corrupted" in one_line(e)


def test_concurrent_stores_keep_every_entry(cache):
    """Two processes adding data sets at once: the manifest lists both."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_store_many, args=(str(cache), i)) for i in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    assert all(p.exitcode == 0 for p in procs)
    names = set(json.loads((cache / "manifest.json").read_text())["datasets"])
    assert names == {f"p{i}-{j}" for i in range(2) for j in range(10)}
    assert all(datasets.status(n) is None for n in names)


def _store_many(cache: str, i: int) -> None:
    import os

    os.environ["CTRNN_BENCH_DATA"] = cache
    for j in range(10):
        datasets.store(f"p{i}-{j}", ARRAYS, {}, ())


def test_a_data_set_aeon_does_not_bundle_is_refused_not_downloaded(cache, offline):
    pytest.importorskip("aeon")
    from tasks import uea

    assert uea.bundled("JapaneseVowels") and not uea.bundled("CharacterTrajectories")
    with pytest.raises(ValueError, match="never downloads"):
        uea.prepare({"dataset": "CharacterTrajectories", "format": uea.FORMAT})
