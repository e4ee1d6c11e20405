"""Result files (``bench.results``): atomic writes, NaN handling, validation, paths."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import pytest

from bench import results
from bench.errors import UserError


def minimal(**changes):
    doc = {"schema_version": results.SCHEMA_VERSION, "task": "t", "task_version": 1,
           "model": "m", "model_kind": "baseline", "framework": "torch", "device": "cpu",
           "device_class": "cpu", "seed": 0, "profile": "smoke", "status": "ok",
           "metrics": {"mse": 0.25}, "primary_metric": "mse", "higher_is_better": {"mse": False},
           "n_params": 10, "timing": {"train_total_s": 1.0}, "config": {},
           "provenance": {"git_commit": None, "git_dirty": None,
                          "hardware": {"cpu": "Test CPU", "cores": 2}}}
    doc.update(changes)
    return doc


def leftovers(folder: Path, keep: set[str]) -> set[str]:
    return {p.name for p in folder.iterdir()} - keep


def test_write_atomic_creates_folders_and_valid_json(tmp_path):
    path = tmp_path / "a" / "b" / "cell.json"
    doc = minimal(metrics={"mse": 0.125, "r2": 0.5}, nested={"list": [1, 2.5, "x"]})
    results.write_atomic(path, doc)
    assert json.loads(path.read_text()) == doc
    assert leftovers(path.parent, {"cell.json"}) == set()
    assert path.read_text().endswith("\n")


def test_a_result_file_puts_each_list_of_numbers_on_one_line(tmp_path):
    """Keys one per line and sorted, for diffs; a curve or a trajectory on one line, not one
    number per line; lists that hold mappings are laid out like mappings."""
    doc = minimal(curve={"val_loss": [0.5, 0.25, 0.125]},
                  trajectories={"outputs": [[[0.1, -0.2], [0.3, 0.4]]]},
                  tuning={"trials": [{"lr": 0.01, "score": [1, 2]}, {}]}, empty={})
    path = tmp_path / "cell.json"
    results.write_atomic(path, doc)
    text = path.read_text()
    assert json.loads(text) == doc
    lines = text.splitlines()
    assert '  "val_loss": [0.5,0.25,0.125]' in lines
    assert '  "outputs": [[[0.1,-0.2],[0.3,0.4]]]' in lines
    assert '  "trials": [' in lines and '    "lr": 0.01,' in lines and '   {}' in lines
    keys = [line.split('"')[1] for line in lines if line.startswith(' "')]
    assert keys == sorted(doc)
    pretty = json.dumps(doc, indent=1, sort_keys=True) + "\n"  # the layout before 2026-12
    assert len(text) < len(pretty)


def test_write_atomic_replaces_an_existing_file(tmp_path):
    path = tmp_path / "cell.json"
    results.write_atomic(path, minimal(seed=1))
    results.write_atomic(path, minimal(seed=2))
    assert json.loads(path.read_text())["seed"] == 2
    assert leftovers(tmp_path, {"cell.json"}) == set()


def test_nan_and_infinity_become_null(tmp_path):
    path = tmp_path / "cell.json"
    results.write_atomic(path, minimal(metrics={"mse": math.nan, "r2": -math.inf},
                                       curve={"val_loss": [1.0, math.inf, np.float64("nan")]}))
    text = path.read_text()
    assert "NaN" not in text and "Infinity" not in text
    back = json.loads(text)
    assert back["metrics"] == {"mse": None, "r2": None}
    assert back["curve"]["val_loss"] == [1.0, None, None]


def test_failed_serialisation_keeps_the_old_file(tmp_path):
    path = tmp_path / "cell.json"
    results.write_atomic(path, minimal(seed=1))
    before = path.read_bytes()
    with pytest.raises(TypeError):
        results.write_atomic(path, minimal(seed=2, bad=object()))
    assert path.read_bytes() == before
    assert leftovers(tmp_path, {"cell.json"}) == set()


def test_failed_rename_keeps_the_old_file_and_removes_the_temporary(tmp_path, monkeypatch):
    path = tmp_path / "cell.json"
    results.write_atomic(path, minimal(seed=1))
    before = path.read_bytes()

    def broken_replace(src, dst):
        assert Path(src).exists()  # the new text was fully written before the rename
        assert json.loads(Path(src).read_text())["seed"] == 2
        raise OSError("disk gone")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk gone"):
        results.write_atomic(path, minimal(seed=2))
    assert path.read_bytes() == before
    assert leftovers(tmp_path, {"cell.json"}) == set()


def test_interrupted_write_keeps_the_old_file(tmp_path, monkeypatch):
    """A KeyboardInterrupt during fsync (a BaseException) also cleans up."""
    path = tmp_path / "cell.json"
    results.write_atomic(path, minimal(seed=1))
    before = path.read_bytes()

    def interrupted(fd):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        results.write_atomic(path, minimal(seed=2))
    assert path.read_bytes() == before
    assert leftovers(tmp_path, {"cell.json"}) == set()


def test_cell_path_encodes_the_cell_identity(tmp_path):
    p = results.cell_path(tmp_path, "flipflop-3bit", 2, "quick", "gpu", "gnode", "jax", 4)
    assert p == tmp_path / "flipflop-3bit@v2" / "quick" / "gpu" / "gnode-jax-seed4.json"
    others = {
        results.cell_path(tmp_path, "flipflop-3bit", 1, "quick", "gpu", "gnode", "jax", 4),
        results.cell_path(tmp_path, "flipflop-3bit", 2, "paper", "gpu", "gnode", "jax", 4),
        results.cell_path(tmp_path, "flipflop-3bit", 2, "quick", "cpu", "gnode", "jax", 4),
        results.cell_path(tmp_path, "flipflop-3bit", 2, "quick", "gpu", "node", "jax", 4),
        results.cell_path(tmp_path, "flipflop-3bit", 2, "quick", "gpu", "gnode", "torch", 4),
        results.cell_path(tmp_path, "flipflop-3bit", 2, "quick", "gpu", "gnode", "jax", 5),
        results.cell_path(tmp_path, "flipflop-3bit", 2, "quick", "gpu", "gnode", "jax", 4,
                          size=8),
    }
    assert p not in others and len(others) == 7
    k = results.cell_path(tmp_path, "expressivity-smooth", 1, "quick", "cpu", "gnode", "jax", 0,
                          size=8)
    assert k.name == "gnode-jax-K8-seed0.json"


def test_validate_accepts_a_good_document():
    doc = minimal()
    assert results.validate(doc, "x.json") is doc


@pytest.mark.parametrize("key", results.REQUIRED)
def test_validate_rejects_missing_keys(key):
    doc = minimal()
    del doc[key]
    with pytest.raises(UserError) as e:
        results.validate(doc, "x.json")
    assert key in str(e.value) and "x.json" in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("version", [0, 1, 3, "2", None])
def test_validate_rejects_other_schema_versions(version):
    with pytest.raises(UserError, match="schema_version"):
        results.validate(minimal(schema_version=version), "x.json")


def test_a_schema_1_file_reads_in_schema_2_with_peak_memory_renamed(tmp_path):
    """Schema 1 called the peak memory ``memory``; read, it is ``peak_memory``, in place and
    value, and the file keeps its bytes."""
    peak = {"peak_gpu_mb": None, "peak_host_rss_mb": 512.5}
    path = tmp_path / "r.json"
    path.write_text(json.dumps(minimal(schema_version=1, memory=peak)))
    before = path.read_bytes()
    doc = results.read(path)
    assert doc["schema_version"] == 2 == results.SCHEMA_VERSION
    assert doc["peak_memory"] == peak and "memory" not in doc
    assert path.read_bytes() == before
    (good, _), = results.load_each(tmp_path)[0]
    assert good == path
    # a schema-1 file with a wrong peak memory is still judged, under the field's new name
    path.write_text(json.dumps(minimal(schema_version=1, memory={"peak_host_rss_mb": "lots"})))
    with pytest.raises(UserError, match=r"peak_memory\.peak_host_rss_mb must be a number"):
        results.read(path)


def test_validate_rejects_unknown_status_and_non_objects():
    with pytest.raises(UserError, match="status"):
        results.validate(minimal(status="great"), "x.json")
    with pytest.raises(UserError, match="not a result object"):
        results.validate([1, 2], "x.json")


@pytest.mark.parametrize(("changes", "field"), [
    ({"provenance": {}}, "provenance.hardware"),
    ({"metrics": {"mse": "low"}}, "metrics.mse"),
    ({"seed": "0"}, "seed"),
    ({"model_kind": "mine"}, "model_kind"),
    ({"device_class": "tpu"}, "device_class"),
    ({"higher_is_better": {"mse": "no"}}, "higher_is_better.mse"),
    ({"timing": {"train_total_s": "fast"}}, "timing.train_total_s"),
    ({"provenance": {"git_commit": None, "git_dirty": "yes", "hardware": {}}},
     "provenance.git_dirty"),
    ({"provenance": {"git_commit": None, "git_dirty": None, "hardware": {"cores": "2"}}},
     "provenance.hardware.cores"),
    ({"provenance": {"git_commit": None, "git_dirty": None, "hardware": {},
                     "sandbox": {"enforced": "yes"}}}, "provenance.sandbox.enforced"),
    ({"test_data": 1}, "test_data"),
    ({"hold": {"coverage": {"10": "most"}}}, "hold.coverage.10"),
    ({"attractor": {"status": "ok", "slow_set_coverage": [1]}}, "attractor.slow_set_coverage"),
])
def test_validate_names_the_field_of_a_wrong_type(changes, field):
    with pytest.raises(UserError) as e:
        results.validate(minimal(**changes), "x.json")
    message = str(e.value)
    assert message.startswith(f"x.json: {field} ") and "\n" not in message


def test_null_numbers_and_absent_optional_fields_are_valid():
    """A non-finite metric is stored as null; older results lack the newer fields."""
    doc = minimal(metrics={"mse": None}, hold=None, attractor=None, nfe=None)
    assert results.validate(doc, "x.json") is doc


def test_load_each_skips_bad_files_with_their_reason(tmp_path):
    good = results.cell_path(tmp_path, "t", 1, "smoke", "cpu", "m", "torch", 0)
    results.write_atomic(good, minimal())
    broken = good.with_name("m-torch-seed1.json")
    broken.write_text("{half")
    wrong = good.with_name("m-torch-seed2.json")
    results.write_atomic(wrong, minimal(metrics={"mse": "low"}))
    found, bad = results.load_each(tmp_path)
    assert [p for p, _ in found] == [good]
    assert [(p, why.split(";")[0]) for p, why in bad] == [
        (broken, "not valid JSON"), (wrong, "metrics.mse must be a number or null, not 'low'")]
    with pytest.raises(UserError, match=r"seed1\.json: not valid JSON"):  # the strict loader
        results.load_all(tmp_path)


def test_read_and_load_all(tmp_path):
    a = results.cell_path(tmp_path, "t", 1, "smoke", "cpu", "m", "torch", 0)
    b = results.cell_path(tmp_path, "t", 1, "smoke", "cpu", "m", "torch", 1)
    results.write_atomic(b, minimal(seed=1))
    results.write_atomic(a, minimal(seed=0))
    (a.parent / ".m-torch-seed2.json").write_text("{half")  # hidden: ignored
    (a.parent / "notes.txt").write_text("not a result")
    assert [d["seed"] for d in results.load_all(tmp_path)] == [0, 1]
    assert results.read(a) == minimal(seed=0)


def test_read_rejects_broken_json(tmp_path):
    path = tmp_path / "cell.json"
    path.write_text('{"schema_version": 1,')
    with pytest.raises(UserError) as e:
        results.read(path)
    assert "not valid JSON" in str(e.value) and "\n" not in str(e.value)
    path.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(UserError, match="not valid JSON"):
        results.read(path)


def test_result_files_are_readable_by_others(tmp_path):
    """mkstemp makes owner-only files; a result file gets the ordinary umask mode."""
    import os
    import stat

    old = os.umask(0o022)
    try:
        path = tmp_path / "r.json"
        results.write_atomic(path, {"a": 1})
        assert stat.S_IMODE(path.stat().st_mode) == 0o644
    finally:
        os.umask(old)


@pytest.mark.parametrize("version", [[1], {"v": 1}, True, 1.0, "1"])
def test_an_odd_schema_version_is_judged_not_upgraded(version):
    doc = minimal(schema_version=version, memory={"peak_host_rss_mb": 1.0})
    assert results.files.upgraded(doc) is doc
    assert "schema_version" in results.problem(doc)
