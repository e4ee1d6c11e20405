"""Run trusted suite code that calls model code in a sandboxed, contained child; read back
plain data. The one way the suite runs model code: training cells (``bench.model_process``),
contract checks (``bench.checker``), perf cases (``bench.perf``) and analyses
(``bench.analysis``).

::

    harness ── bench.keeper (trusted: subreaper, limits, verdict on stdout)
                   └── bench.worker (sandboxed, then runs ``target(job)``)
                          └── whatever model code starts (contained by the keeper)

The harness writes the job (pickled: it flows to the child only) and a request into a fresh
scratch folder, the only place the worker may write. When the keeper is done, every process
of the tree is dead; the harness then reads the worker's answer with ``bench.wire`` (never
unpickling it) and removes the scratch folder. A run killed outright leaves its scratch folder
behind only until the next isolated run on this machine removes it (folders are named after
the harness's pid).
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import sandbox, wire

ROOT = Path(__file__).resolve().parent.parent
SCRATCH_ROOT_NAME = "ctrnn-bench-scratch"
# Environment the worker inherits (no tokens or credentials): the suite's own settings, the
# numeric libraries' and the GPU's.
ENV_PREFIXES = ("CTRNN_BENCH_", "JAX_", "XLA_", "CUDA_", "NVIDIA_", "TF_", "OMP_", "MKL_",
                "OPENBLAS_", "TORCH", "PYTORCH_", "LC_")
ENV_NAMES = ("PATH", "LANG", "TZ", "TERM", "COLUMNS", "LD_LIBRARY_PATH", "VIRTUAL_ENV")

# Set when a run is interrupted: every child still running is stopped.
STOP = threading.Event()


@dataclass(frozen=True)
class Limits:
    wall_s: float  # the whole child: training, prediction, analysis
    memory_gb: float  # every process of the child's tree together (proportional set size)


@dataclass
class Outcome:
    """How a child ended. ``value`` is the target's return value (plain data, checked against
    the schema) when it returned; ``error`` says why not otherwise."""
    verdict: dict[str, Any]
    value: Any = None
    returned: bool = False
    error: str | None = None
    sandbox: dict[str, Any] = field(default_factory=dict)


def scratch_root() -> Path:
    root = Path(tempfile.gettempdir()) / SCRATCH_ROOT_NAME
    root.mkdir(mode=0o711, exist_ok=True)
    return root


def _sweep_stale(root: Path) -> None:
    """Remove scratch folders of harness processes that no longer exist."""
    for folder in root.iterdir():
        pid = folder.name.split("-", 1)[0]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def scratch_folder() -> Iterator[Path]:
    """A fresh scratch folder for one child, given to the uid it will run as; removed after."""
    root = scratch_root()
    _sweep_stale(root)
    folder = Path(tempfile.mkdtemp(prefix=f"{os.getpid()}-", dir=root))
    try:
        os.chmod(folder, 0o700)
        sandbox.prepare_scratch(folder)
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def hidden_paths(results_dirs: list[Path] = ()) -> list[str]:
    """What no model's process may read: the results folders (and their ledgers), the data
    cache, the repository's history, the other children's scratch folders, shared memory, and
    package data that bundles test labels."""
    from bench.datasets import cache_dir

    paths = [ROOT / "results", *results_dirs, cache_dir(), ROOT / ".git", scratch_root(),
             Path("/dev/shm")]
    return sorted({os.path.realpath(p) for p in paths if Path(p).exists()}
                  | set(sandbox.package_data_paths()))


def _environment(scratch: Path) -> dict[str, str]:
    from bench import impl

    env = {k: v for k, v in os.environ.items() if k in ENV_NAMES or k.startswith(ENV_PREFIXES)}
    for name in ("home", "tmp", "cache", "mpl"):
        (scratch / name).mkdir(exist_ok=True)
        sandbox.prepare_scratch(scratch / name)
    env.update(HOME=str(scratch / "home"), TMPDIR=str(scratch / "tmp"),
               XDG_CACHE_HOME=str(scratch / "cache"), MPLCONFIGDIR=str(scratch / "mpl"),
               PYTHONPATH=str(ROOT), PYTHONDONTWRITEBYTECODE="1")
    env[impl.ENV] = impl.selected()
    return env


def run(target: str, job: Any, scratch: Path, limits: Limits, schema: Any = wire.JSON,
        results_dirs: list[Path] = (), poll_s: float = 0.2) -> Outcome:
    """Call ``target`` (``"module:function"``, suite code) on ``job`` in a sandboxed child that
    writes only ``scratch``; wait for it within ``limits``.

    Raises KeyboardInterrupt (after stopping the child) if the run is interrupted.
    """
    job_file, request_file = scratch / "job.pkl", scratch / "request.json"
    job_file.write_bytes(pickle.dumps(job))
    hidden = hidden_paths(list(results_dirs))
    request_file.write_text(json.dumps({
        "scratch": str(scratch), "hidden": hidden, "job": str(job_file), "target": target,
        "uid": sandbox.sandbox_uid()}))
    env = _environment(scratch)
    keeper_request = {
        "parent": os.getpid(), "cwd": str(scratch), "env": env,
        "argv": [sys.executable, "-c", _WORKER_BOOT, str(request_file)],
        "wall_s": limits.wall_s, "memory_gb": limits.memory_gb}
    keeper = subprocess.Popen([sys.executable, "-m", "bench.keeper"], cwd=ROOT,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              start_new_session=True,
                              env={**env, "HOME": os.environ.get("HOME", "/")})
    try:
        keeper.stdin.write(json.dumps(keeper_request).encode())
        keeper.stdin.close()
        while keeper.poll() is None:
            if STOP.is_set():
                raise KeyboardInterrupt
            time.sleep(poll_s)
    except BaseException:  # Ctrl-C or STOP: the keeper takes the tree down, then we go
        with contextlib.suppress(ProcessLookupError):
            keeper.terminate()
        keeper.wait()
        raise
    try:
        verdict = json.loads(keeper.stdout.read().decode())
    except ValueError:
        verdict = {"limit": None, "exit_code": None, "signal": None, "sandbox": None,
                   "keeper_failed": f"exit code {keeper.returncode}"}
    out = Outcome(verdict, sandbox=verdict.get("sandbox") or {})
    if verdict.get("limit") is None and (scratch / "answer" / wire.ANSWER).exists():
        try:
            answer = wire.read(scratch / "answer", {"value?": schema, "error?": str})
        except wire.WireError as e:
            out.error = f"the child's answer is not plain data of the expected form: {e}"
        else:
            if "value" in answer:
                out.value, out.returned = answer["value"], True
            else:
                out.error = answer.get("error") or "the child reported no value"
    return out


def ended(out: Outcome, limits: Limits) -> tuple[str, str]:
    """(status, reason) of a child that returned nothing: ``timeout``, ``oom`` or ``failed``."""
    v = out.verdict
    if v.get("limit") == "time":
        return "timeout", (f"the cell ran past its wall-clock limit of {limits.wall_s:g} s "
                           "(--time-limit)")
    if v.get("limit") == "memory":
        return "oom", (f"the cell's processes used {v.get('peak_memory_gb', 0):.1f} GB "
                       f"together, past its limit of {limits.memory_gb:g} GB (--memory-limit)")
    if out.error:
        return "failed", out.error
    if v.get("oom_killer"):
        return "oom", "the cell's process was killed by the kernel's out-of-memory killer"
    if v.get("signal") == "SIGKILL":
        return "failed", ("the cell's process was killed by SIGKILL, not by the kernel's "
                          "out-of-memory killer: the model's process (or one it started) sent it")
    if v.get("signal"):
        return "failed", f"the cell's process was killed by {v['signal']}"
    if v.get("keeper_failed"):
        return "failed", f"the cell's keeper process failed ({v['keeper_failed']})"
    return "failed", f"the cell's process died (exit code {v.get('exit_code')})"


# The worker's first lines: enter the sandbox before anything else is imported.
_WORKER_BOOT = "import sys; from bench import worker; sys.exit(worker.main(*sys.argv[1:3]))"
