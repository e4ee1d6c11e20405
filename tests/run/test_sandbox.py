"""The sandbox and the keeper (``bench.run.sandbox``, ``bench.run.keeper``, ``bench.run.isolation``,
``bench.run.wire``), attacked for real: each test runs a hostile target
(``tests/fixtures/attacks.py``) in a real sandboxed child and shows the attack blocked, nothing
outside the scratch folder changed, and no process left behind."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import pytest

from bench.results import ledger
from bench.run import isolation, keeper, sandbox, wire

pytestmark = pytest.mark.slow  # real processes: the harness, its children, Ray

ATTACKS = "tests.fixtures.attacks"
LIMITS = isolation.Limits(60, 4)

needs_landlock = pytest.mark.skipif(sandbox.landlock_abi() < 1,
                                    reason="this kernel has no Landlock")


def _run(name: str, job, tmp_path: Path, limits: isolation.Limits = LIMITS,
         schema=wire.JSON) -> isolation.Outcome:
    with isolation.scratch_folder() as scratch:
        out = isolation.run(f"{ATTACKS}:{name}", job, scratch, limits, schema,
                            results_dirs=[tmp_path / "results"])
    assert not scratch.exists()  # the scratch folder goes with the child
    return out


def _alive(tag: str) -> list[int]:
    """Processes whose command line carries ``tag``."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            except OSError:
                continue
            if tag.encode() in cmdline:
                found.append(int(entry))
    return found


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


@pytest.fixture
def results_dir(tmp_path: Path) -> Path:
    """A results folder with one result the suite wrote, and its ledger."""
    out = tmp_path / "results"
    ledger.write_result(out, out / "task@v1" / "quick" / "cpu" / "gru-torch-seed0.json",
                        {"metrics": {"mse": 0.5}})
    return out


def test_an_honest_child_returns_plain_data_and_its_sandbox_record(tmp_path):
    out = _run("honest", 5, tmp_path, schema={"sum": int, "array": wire.Array("f", 1)})
    assert out.returned and out.value["sum"] == 10
    assert np.array_equal(out.value["array"], np.arange(5, dtype=np.float32))
    if sandbox.landlock_abi() >= 1:
        assert out.sandbox["enforced"] is True and out.sandbox["mechanism"] == "landlock"
    if os.getuid() == 0:  # never root with its powers: nobody, or uid 0 with no capability
        assert out.sandbox["uid"] != 0 or out.sandbox["capabilities"] == "0000000000000000"


@needs_landlock
def test_writes_outside_the_scratch_folder_are_refused(tmp_path, results_dir):
    # a new file in the code tree (never a real source file: a failed sandbox must not harm it)
    code = Path(__file__).resolve().parents[2] / "bench" / f".probe-{uuid.uuid4().hex}.py"
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "vowels.npz").write_bytes(b"data")
    targets = [results_dir / "task@v1" / "quick" / "cpu" / "gru-torch-seed0.json",
               results_dir / "task@v1" / "quick" / "cpu" / "lstm-torch-seed0.json",
               results_dir / ledger.NAME, code, cache / "vowels.npz", tmp_path / "new.txt"]
    before = _tree(tmp_path)
    try:
        out = _run("write_files", {"paths": [str(p) for p in targets]}, tmp_path)
        assert not code.exists()
    finally:
        code.unlink(missing_ok=True)
    assert out.returned
    assert all(out.value[str(p)] == "PermissionError" for p in targets), out.value
    assert _tree(tmp_path) == before
    assert all(ledger.verified(results_dir, p) for p in [targets[0]])


@needs_landlock
def test_the_ledger_api_cannot_write_from_inside(tmp_path, results_dir):
    before = _tree(results_dir)
    path = results_dir / "task@v1" / "quick" / "cpu" / "lstm-torch-seed0.json"
    out = _run("ledger_api", {"results": str(results_dir), "path": str(path)}, tmp_path)
    assert out.returned and out.value == "PermissionError"
    assert _tree(results_dir) == before and not path.exists()


@needs_landlock
def test_test_labels_cannot_be_read(tmp_path, results_dir, monkeypatch):
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "vowels.npz").write_bytes(b"test labels")
    monkeypatch.setenv("CTRNN_BENCH_DATA", str(cache))
    # a package that bundles an archive with its test split, as aeon does
    package = tmp_path / "site" / "archivepkg"
    (package / "datasets" / "data" / "Vowels").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "datasets" / "data" / "Vowels" / "Vowels_TEST.ts").write_text("labels")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.setitem(sandbox.PACKAGE_DATA, "archivepkg", "datasets/data")
    readable = package / "__init__.py"
    paths = [cache / "vowels.npz", package / "datasets" / "data" / "Vowels" / "Vowels_TEST.ts",
             results_dir / ledger.NAME, readable]
    out = _run("read_files", {"paths": [str(p) for p in paths]}, tmp_path)
    assert out.returned
    assert [out.value[str(p)] for p in paths] == ["PermissionError"] * 3 + [None]


@pytest.mark.parametrize("how", ["answer", "array"])
def test_a_pickle_in_the_answer_is_never_unpickled(tmp_path, how):
    marker = tmp_path / f"unpickled-{how}"
    out = _run("pickle_answer", {"marker": str(marker), "how": how}, tmp_path)
    assert not out.returned and "not" in out.error
    assert not marker.exists()


def test_an_answer_linked_to_another_file_is_not_followed(tmp_path):
    secret = tmp_path / "secret.json"
    secret.write_text('{"value": "the harness read a file for the child"}')
    out = _run("link_answer", {"target": str(secret)}, tmp_path)
    assert not out.returned and "link" in out.error


@pytest.mark.parametrize("how", ["popen", "session", "fork", "double_fork"])
def test_no_process_outlives_its_child(tmp_path, how):
    tag = f"ctrnn-bench-test-{uuid.uuid4().hex}"
    out = _run("spawn", {"how": how, "tag": tag}, tmp_path)
    assert out.returned and out.value == "started"
    assert out.verdict["leftover_processes"] >= 1  # it did start one, and the keeper killed it
    assert _alive(tag) == []


@needs_landlock
def test_a_detached_process_cannot_rewrite_a_result_later(tmp_path, results_dir):
    path = results_dir / "task@v1" / "quick" / "cpu" / "gru-torch-seed0.json"
    before = path.read_bytes()
    tag = f"ctrnn-bench-test-{uuid.uuid4().hex}"
    out = _run("rewrite_later", {"path": str(path), "delay": 1, "tag": tag}, tmp_path)
    assert out.returned
    time.sleep(2)
    assert _alive(tag) == [] and path.read_bytes() == before
    assert ledger.verified(results_dir, path)


def test_memory_held_by_a_grandchild_counts_against_the_limit(tmp_path):
    out = _run("hog_in_grandchild", {"gb": 1.0}, tmp_path, isolation.Limits(60, 0.5))
    status, reason = isolation.ended(out, isolation.Limits(60, 0.5))
    assert status == "oom" and "together, past its limit of 0.5 GB" in reason
    assert out.verdict["peak_memory_gb"] > 0.5


def test_a_child_that_kills_itself_is_not_recorded_as_out_of_memory(tmp_path):
    out = _run("kill_self", None, tmp_path)
    status, reason = isolation.ended(out, LIMITS)
    assert status == "failed" and "SIGKILL, not by the kernel's out-of-memory killer" in reason


@needs_landlock
def test_the_child_cannot_signal_or_read_the_harness(tmp_path):
    if sandbox.landlock_abi() < 6:
        pytest.skip("signal scoping needs Landlock ABI 6")
    out = _run("kill_others", {"harness": os.getpid()}, tmp_path)
    assert out.returned and out.value == {"keeper": "PermissionError",
                                          "zygote": "PermissionError",
                                          "harness": "PermissionError"}
    out = _run("read_harness", {"harness": os.getpid()}, tmp_path)
    for who in ("harness", "zygote"):
        assert out.value[f"{who} environ"] == "PermissionError"
        assert out.value[f"{who} mem"] == "PermissionError"


@needs_landlock
def test_the_child_cannot_open_a_network_connection(tmp_path):
    if sandbox.landlock_abi() < 4:
        pytest.skip("network rules need Landlock ABI 4")
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        out = _run("connect", {"port": server.getsockname()[1]}, tmp_path)
    assert out.returned and out.value == "PermissionError"


def test_a_stale_scratch_folder_of_a_dead_run_is_removed(tmp_path):
    root = isolation.scratch_root()
    dead = root / "999999999-leftover"  # no such pid
    dead.mkdir()
    _run("kill_self", None, tmp_path)
    assert not dead.exists()


def test_wire_schema_refuses_what_does_not_fit(tmp_path):
    wire.write(tmp_path, {"status": "ok", "x": np.zeros((2, 3), np.float32)})
    value = wire.read(tmp_path, {"status": str, "x": wire.Array("f", 2)})
    assert value["x"].shape == (2, 3)
    with pytest.raises(wire.WireError, match=r"answer\.status: int 3, not str"):
        wire.write(tmp_path, {"status": 3, "x": np.zeros(2)})
        wire.read(tmp_path, {"status": str, "x": wire.Array()})
    with pytest.raises(wire.WireError, match="unexpected field 'extra'"):
        wire.write(tmp_path, {"status": "ok", "x": np.zeros(2), "extra": 1})
        wire.read(tmp_path, {"status": str, "x": wire.Array()})


def test_a_killed_harness_leaves_no_process_and_no_scratch_folder(tmp_path):
    """SIGKILL the harness mid-cell: its keeper kills the tree and removes the scratch."""
    driver = (
        "import sys\n"
        "from bench.run import isolation\n"
        "with isolation.scratch_folder() as s:\n"
        "    print(s, flush=True)\n"
        f"    isolation.run('{ATTACKS}:hog_in_grandchild', {{'gb': 0.01}}, s,\n"
        "                  isolation.Limits(300, 4))\n")
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen([sys.executable, "-c", driver], cwd=root, stdout=subprocess.PIPE,
                            env={**os.environ, "PYTHONPATH": str(root)}, text=True)
    scratch = proc.stdout.readline().strip()
    deadline = time.monotonic() + 120
    # the zygote, the keeper, the worker and the process the model started
    while len(keeper.descendants(proc.pid)) < 4 and time.monotonic() < deadline:
        time.sleep(0.2)
    tree = keeper.descendants(proc.pid)
    assert len(tree) >= 4, "the child never started"
    proc.kill()
    proc.wait()

    def alive() -> list[int]:  # zombies aside: init reaps them in its own time
        return [p for p in tree if (keeper._stat(p) or (0, "Z"))[1] != "Z"]

    deadline = time.monotonic() + 20
    while (alive() or Path(scratch).exists()) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert alive() == [] and not Path(scratch).exists()


@needs_landlock
def test_a_model_writes_its_own_compile_cache_and_cannot_poison_another(tmp_path, monkeypatch):
    """The JAX compile cache is the one folder besides its scratch a model's process may write
    (``bench.train.compile_cache``): a submission that plants an entry in the baselines' cache
    would run its code inside theirs. The child may write its own folder only, and may not even
    read another model's."""
    monkeypatch.setattr(isolation, "compile_cache_root", lambda: tmp_path / "jax-compile")
    own = isolation.compile_cache_dir("submission", "evil")
    theirs = isolation.compile_cache_dir("baseline", "gnode")
    theirs.mkdir(parents=True)
    entry = theirs / "jit_step-0123-cache"
    entry.write_bytes(b"a compiled executable")
    targets = [own / "jit_step-0123-cache", entry, theirs / "jit_new-cache"]
    with isolation.scratch_folder() as scratch:
        wrote = isolation.run(f"{ATTACKS}:write_files", {"paths": [str(p) for p in targets]},
                              scratch, LIMITS, compile_cache=own)
    with isolation.scratch_folder() as scratch:
        read = isolation.run(f"{ATTACKS}:read_files", {"paths": [str(entry)]}, scratch, LIMITS,
                             compile_cache=own)
    assert wrote.returned and read.returned
    assert wrote.value[str(targets[0])] is None  # its own cache: written
    assert (own / "jit_step-0123-cache").read_text() == "forged\n"
    assert wrote.value[str(entry)] == "PermissionError"
    assert wrote.value[str(theirs / "jit_new-cache")] == "PermissionError"
    assert read.value[str(entry)] == "PermissionError"
    assert entry.read_bytes() == b"a compiled executable"
    assert sorted(p.name for p in theirs.iterdir()) == ["jit_step-0123-cache"]
