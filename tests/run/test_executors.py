"""``bench.run.executors``: the local executor with several jobs, and Ray, against a real local Ray
instance (``ray.init(num_cpus=2)``): the same results as one after another, a worker killed
mid-cell retried, an interrupted driver resumed."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from bench import results
from bench.results import environment, ledger
from bench.run import executors, harness, isolation, model_process
from bench.spec.cells import Cell
from bench.spec.registry import discover
from bench.spec.tasks import get_task

pytestmark = pytest.mark.slow  # real processes: the harness, its children, Ray

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = Path(__file__).parents[1] / "fixtures" / "hostile"
TIMING = ("timing", "provenance", "peak_memory", "curve", "attractor", "checkpoint")


def _interruptible() -> None:
    """A child's Ctrl-C as at a terminal, however pytest was started: a shell's background job
    (``make test &``, nohup) ignores SIGINT, and Python keeps an ignored SIGINT ignored."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _cells(models=("gru", "rnn"), seeds=(0, 1)) -> list[Cell]:
    known, task = discover(), get_task("flipflop-2bit-ring")
    return [Cell(known[m], "torch", task, s) for m in models for s in seeds]


def _comparable(results_dir: Path) -> dict[str, dict]:
    """Every result, without what depends on when and where it ran."""
    out = {}
    for p in results.result_files(results_dir):
        doc = results.read(p)
        out[p.relative_to(results_dir).as_posix()] = {k: v for k, v in doc.items()
                                                       if k not in TIMING}
    return out


@pytest.fixture(scope="module")
def ray_session():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def test_local_jobs_give_the_same_results_and_say_they_shared(tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    # public test data: an official run draws its own, so two runs would differ by design
    cells = _cells(models=("gru",))  # each alone (ensemble=1): two cells to run at once
    harness.run(cells, "smoke", "cpu", one, echo=lambda s: None, test_data="public", ensemble=1)
    report = harness.run(cells, "smoke", "cpu", two, echo=lambda s: None, ensemble=1,
                         executor=executors.Local(jobs=2), test_data="public")
    assert len(report.done) == 2 and not report.problems
    assert _comparable(one) == _comparable(two)
    beside = [results.read(p)["timing"]["cells_beside"] for p in results.result_files(two)]
    alone = [results.read(p)["timing"]["cells_beside"] for p in results.result_files(one)]
    assert alone == [0, 0] and max(beside) >= 1
    # two cells at once share the cores: PyTorch's default, a thread per core each, spins
    threads = [results.read(p)["timing"]["threads"] for p in results.result_files(two)]
    assert threads == [max(1, environment.cores() // 2)] * 2


def test_a_cells_threads_are_limited_never_raised(one_torch_thread):
    """The limit is an upper bound: a process already held to fewer threads keeps them."""
    import torch

    job = model_process.ModelJob(discover()["gru"], "torch", None, {}, {}, {}, Path("."), "x",
                                 threads=4)
    assert model_process.limit_threads(job) == 1 and torch.get_num_threads() == 1
    torch.set_num_threads(3)
    assert model_process.limit_threads(dataclasses.replace(job, threads=2)) == 2
    assert model_process.limit_threads(dataclasses.replace(job, threads=None)) is None
    assert model_process.limit_threads(dataclasses.replace(job, framework="jax")) is None
    assert torch.get_num_threads() == 2


def test_ray_gives_the_same_results_as_the_local_executor(tmp_path, ray_session):
    local, ray_dir = tmp_path / "local", tmp_path / "ray"
    cells = _cells(models=("gru",))
    harness.run(cells, "smoke", "cpu", local, echo=lambda s: None, test_data="public")
    lines: list[str] = []
    report = harness.run(cells, "smoke", "cpu", ray_dir, echo=lines.append,
                         executor=executors.Ray(share=True), test_data="public")
    assert len(report.done) == 2 and not report.problems, report.problems
    assert _comparable(local) == _comparable(ray_dir)
    assert all(ledger.verified(ray_dir, p) for p in results.result_files(ray_dir))
    again = harness.run(cells, "smoke", "cpu", ray_dir, echo=lines.append,
                        executor=executors.Ray(share=True))
    assert len(again.skipped) == 2 and not again.done  # a rerun finds them done


def _parent(pid: int) -> int:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0
    return int(text[text.rfind(")") + 2:].split()[1])


def _descends_from_us(pid: int) -> bool:
    """Whether ``pid`` was started (through any chain) by this test process: a worker of our
    own Ray instance, never another run's process on the same machine."""
    while pid > 1:
        pid = _parent(pid)
        if pid == os.getpid():
            return True
    return False


def _cell_hosts() -> set[int]:
    """Processes running a cell: the harness pid that names each live scratch folder."""
    hosts = set()
    for folder in isolation.scratch_root().iterdir():
        pid = folder.name.split("-", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and Path(f"/proc/{pid}").exists():
            hosts.add(int(pid))
    return hosts


def _kill_workers(times: int | None, stop: threading.Event) -> list[int]:
    """Kill the Ray worker running a cell as soon as one is seen (``times`` at most; None:
    every time): a worker lost to the cluster, not to the model (which cannot signal it)."""
    killed: list[int] = []
    while not stop.is_set() and (times is None or len(killed) < times):
        for pid in _cell_hosts() - set(killed):
            if not _descends_from_us(pid):
                continue
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
        time.sleep(0.1)
    return killed


def _run_while_killing(tmp_path: Path, times: int | None, retries: int):
    from bench.tools.checker import load_folder

    cell = Cell(load_folder(FIXTURE), "torch", get_task("flipflop-2bit-ring"), 0)
    stop, killed = threading.Event(), []
    killer = threading.Thread(target=lambda: killed.extend(_kill_workers(times, stop)))
    killer.start()
    try:
        report = harness.run([cell], "smoke", "cpu", tmp_path / "results", echo=lambda s: None,
                             overrides={"config": {"behaviour": "linger"}},
                             executor=executors.Ray(share=True, retries=retries))
    finally:
        stop.set()
        killer.join()
    return report, killed


def test_a_worker_killed_mid_cell_is_retried_and_nothing_is_lost_or_doubled(tmp_path,
                                                                           ray_session):
    report, killed = _run_while_killing(tmp_path, times=1, retries=2)
    assert len(killed) == 1  # the first attempt's worker was killed
    assert len(report.done) == 1 and not report.problems, report.problems
    [path] = results.result_files(tmp_path / "results")
    assert results.read(path)["status"] == "ok" and ledger.verified(tmp_path / "results", path)


def test_a_worker_that_keeps_dying_is_recorded_as_failed(tmp_path, ray_session):
    report, killed = _run_while_killing(tmp_path, times=None, retries=1)
    assert len(killed) >= 2
    assert len(report.problems) == 1 and "worker running it was lost" in report.problems[0]
    [path] = results.result_files(tmp_path / "results")
    doc = results.read(path)
    assert doc["status"] == "failed" and "after 1 retries" in doc["reason"]


def test_an_interrupted_ray_driver_resumes_with_the_missing_cells_only(tmp_path):
    pytest.importorskip("ray")
    cmd = [sys.executable, "-m", "bench", "run", "--model", "gru,rnn", "--framework", "torch",
           "--task", "flipflop-2bit-ring", "--profile", "smoke", "--seeds", "0-1",
           "--results-dir", str(tmp_path), "--executor", "ray", "--share"]
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}  # a local instance
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True,
                            preexec_fn=_interruptible)
    deadline = time.monotonic() + 300
    while len(results.result_files(tmp_path)) < 1:
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.2)
    os.kill(proc.pid, signal.SIGINT)  # Ctrl-C, to the driver
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "interrupted" in out, out
    done = results.result_files(tmp_path)
    assert 1 <= len(done) < 4
    for p in done:
        json.loads(p.read_text())  # whole: written atomically
    rerun = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True,
                           timeout=600)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert f"{4 - len(done)} done, {len(done)} already done" in rerun.stdout
    assert len(results.result_files(tmp_path)) == 4


def test_ctrl_c_stops_a_run_with_several_jobs_at_once(tmp_path):
    """The running cells' processes are killed, the queued ones never start, finished cells
    stay whole, and the command exits 130 long before the sweep could have finished."""
    cmd = [sys.executable, "-m", "bench", "run", "--model", "gru,rnn,lstm", "--framework",
           "torch", "--task", "flipflop-2bit-ring", "--profile", "smoke", "--seeds", "0-5",
           "--results-dir", str(tmp_path), "--jobs", "2"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True, preexec_fn=_interruptible)
    deadline = time.monotonic() + 300
    while len(results.result_files(tmp_path)) < 1:
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.2)
    os.kill(proc.pid, signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "interrupted" in out, out
    files = results.result_files(tmp_path)
    assert 1 <= len(files) < 18
    for p in files:
        results.read(p)
    time.sleep(2)
    assert proc.pid not in _cell_hosts()  # no cell process outlives the run
    scratch = Path(tempfile.gettempdir()) / isolation.SCRATCH_ROOT_NAME
    assert not list(scratch.glob(f"{proc.pid}-*"))  # and no scratch folder


def test_a_registration_left_by_a_dead_process_is_not_counted(tmp_path, monkeypatch):
    """A killed run's file, or one whose pid now belongs to another process, is stale."""
    monkeypatch.setattr(executors, "RUNNING", tmp_path)
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (tmp_path / f"{live.pid}-1").write_text(executors._started(live.pid))  # a live cell
        (tmp_path / f"{live.pid}-2").write_text("1")  # its pid, reused: another start time
        (tmp_path / "999999999-3").write_text("1")  # no such process
        with executors.running() as others:
            assert others() == 1
        assert sorted(p.name for p in tmp_path.iterdir()) == [f"{live.pid}-1"]
    finally:
        live.kill()
        live.wait()
