"""Run trusted suite code that calls model code in a sandboxed, contained child; read back
plain data. The one way the suite runs model code: training cells (``bench.run.model_process``),
contract checks (``bench.tools.checker``), perf cases (``bench.perf.step_time``) and analyses
(``bench.run.analyze``).

::

    harness ── bench.run.zygote (trusted, preloaded: torch or jax, matplotlib; one per framework)
                   └── bench.run.keeper (forked per child: subreaper, limits, verdict on a pipe)
                          └── bench.run.worker (forked; sandboxed, then runs ``target(job)``)
                                 └── whatever model code starts (contained by the keeper)

The harness writes the job (pickled: it flows to the child only) and a request into a fresh
scratch folder, the only place the worker may write. When the keeper is done, every process
of the tree is dead; the harness then reads the worker's answer with ``bench.run.wire`` (never
unpickling it) and removes the scratch folder. A run killed outright leaves its scratch folder
behind only until the next isolated run on this machine removes it (folders are named after
the harness's pid).
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.run import sandbox, wire
from bench.train.compile_cache import ENV as COMPILE_CACHE_ENV

ROOT = Path(__file__).resolve().parents[2]
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


def compile_cache_root() -> Path:
    """Where the models' JAX compile caches live, one folder each (``compile_cache_dir``)."""
    return ROOT / ".cache" / "jax-compile"


def compile_cache_dir(kind: str, name: str) -> Path:
    """A model's own compile cache: the only folder besides its scratch its process may write,
    so a submission can fill its own cache, never another model's."""
    return compile_cache_root() / f"{kind}-{name}"


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


def hidden_paths(results_dirs: Sequence[Path] = ()) -> list[str]:
    """What no model's process may read: the results folders (and their ledgers), the data
    cache, the repository's history, the other children's scratch folders, shared memory, and
    package data that bundles test labels."""
    from bench.data.datasets import cache_dir

    paths = [ROOT / "results", *results_dirs, cache_dir(), ROOT / ".git", scratch_root(),
             compile_cache_root(), Path("/dev/shm")]
    return sorted({os.path.realpath(p) for p in paths if Path(p).exists()}
                  | set(sandbox.package_data_paths()))


def _base_environment() -> dict[str, str]:
    """The environment a zygote is started with: the harness's, filtered."""
    env = {k: v for k, v in os.environ.items() if k in ENV_NAMES or k.startswith(ENV_PREFIXES)}
    env.update(PYTHONPATH=str(ROOT), PYTHONDONTWRITEBYTECODE="1",
               HOME=os.environ.get("HOME", "/"))
    return env


def _environment(scratch: Path) -> dict[str, str]:
    """The environment a worker runs with: the zygote's, with a home, temporary and cache
    folders inside its scratch folder."""
    from bench.models import impl

    env = _base_environment()
    for name in ("home", "tmp", "cache", "mpl"):
        (scratch / name).mkdir(exist_ok=True)
        sandbox.prepare_scratch(scratch / name)
    env.update(HOME=str(scratch / "home"), TMPDIR=str(scratch / "tmp"),
               XDG_CACHE_HOME=str(scratch / "cache"), MPLCONFIGDIR=str(scratch / "mpl"))
    env[impl.ENV] = impl.selected()
    return env


class _Zygote:
    """A running ``bench.run.zygote`` and the socket to it (requests are serialised)."""

    READY_TIMEOUT_S = 600.0

    def __init__(self, env: dict[str, str], frameworks: tuple[str, ...]) -> None:
        ours, theirs = socket.socketpair()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.run.zygote", str(theirs.fileno()), ",".join(frameworks)],
            cwd=ROOT, env=env, pass_fds=(theirs.fileno(),), start_new_session=True,
            stdin=subprocess.DEVNULL)
        theirs.close()
        self.socket, self.lock, self.ready, self.in_flight = ours, threading.Lock(), False, 0

    def _line(self, timeout: float | None) -> str:
        self.socket.settimeout(timeout)
        data = b""
        while not data.endswith(b"\n"):
            chunk = self.socket.recv(1)
            if not chunk:
                raise OSError(f"the zygote ended (exit code {self.process.poll()})")
            data += chunk
        return data.decode().strip()

    def fork(self, request: dict[str, Any]) -> tuple[int, int]:
        """Fork a keeper for ``request``: (its pid, the read end of its verdict pipe)."""
        with self.lock:
            if not self.ready:
                if self._line(self.READY_TIMEOUT_S) != "ready":
                    raise OSError("the zygote did not start")
                self.ready = True
            read_end, write_end = os.pipe()
            try:
                socket.send_fds(self.socket, [json.dumps(request).encode()], [write_end])
            except OSError:
                os.close(read_end)
                raise
            finally:
                os.close(write_end)
            return int(self._line(None)), read_end

    def close(self) -> None:
        self.socket.close()  # end of file: the zygote exits
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=10)


_ZYGOTES: dict[tuple, _Zygote] = {}
_ZYGOTES_LOCK = threading.Lock()
MAX_ZYGOTES = 4


def _zygote(frameworks: tuple[str, ...]) -> _Zygote:
    """The zygote for this environment and these frameworks, started if need be (the oldest
    idle one is closed past ``MAX_ZYGOTES``)."""
    env = _base_environment()
    key = (tuple(sorted(env.items())), frameworks)
    with _ZYGOTES_LOCK:
        zygote = _ZYGOTES.get(key)
        if zygote is not None and zygote.process.poll() is not None:
            del _ZYGOTES[key]
            zygote = None
        if zygote is None:
            idle = [k for k, z in _ZYGOTES.items() if z.in_flight == 0]
            while len(_ZYGOTES) >= MAX_ZYGOTES and idle:
                _ZYGOTES.pop(idle.pop(0)).close()
            zygote = _ZYGOTES[key] = _Zygote(env, frameworks)
        zygote.in_flight += 1
        return zygote


def warm(frameworks: list[str]) -> None:
    """Start the zygotes a run will need now, so that their imports overlap the harness's own
    work."""
    for framework in frameworks:
        zygote = _zygote((framework,))
        with _ZYGOTES_LOCK:
            zygote.in_flight -= 1


def _read_verdict(keeper: int, pipe: int, poll_s: float) -> bytes:
    """Everything the keeper writes to its verdict pipe, until it closes it. On Ctrl-C or
    STOP: SIGTERM to the keeper, which takes its tree down; then KeyboardInterrupt."""
    data, stopping = b"", False
    while True:
        try:
            if not stopping and STOP.is_set():
                raise KeyboardInterrupt
            if select.select([pipe], [], [], poll_s)[0]:
                chunk = os.read(pipe, 65536)
                if not chunk:
                    break
                data += chunk
        except BaseException:  # the keeper holds the pipe open, so it is alive to be told
            if stopping:
                raise
            stopping = True
            with contextlib.suppress(ProcessLookupError):
                os.kill(keeper, signal.SIGTERM)
            while os.read(pipe, 65536):
                pass
            raise
    return data


def run(target: str, job: Any, scratch: Path, limits: Limits, schema: Any = wire.JSON,
        results_dirs: Sequence[Path] = (), poll_s: float = 0.2,
        framework: str | None = None, compile_cache: Path | None = None) -> Outcome:
    """Call ``target`` (``"module:function"``, suite code) on ``job`` in a sandboxed child that
    writes only ``scratch`` (and ``compile_cache``, its model's JAX compile cache); wait for it
    within ``limits``. ``framework`` (``torch`` or ``jax``): the one the child will use,
    preloaded for it.

    Raises KeyboardInterrupt (after stopping the child) if the run is interrupted.
    """
    job_file, request_file = scratch / "job.pkl", scratch / "request.json"
    job_file.write_bytes(pickle.dumps(job))
    hidden = hidden_paths(list(results_dirs))
    env, writable = _environment(scratch), []
    if compile_cache is not None:
        compile_cache.mkdir(parents=True, exist_ok=True)
        sandbox.prepare_scratch(compile_cache)
        env[COMPILE_CACHE_ENV], writable = str(compile_cache), [str(compile_cache)]
    request_file.write_text(json.dumps({
        "scratch": str(scratch), "hidden": hidden, "writable": writable, "job": str(job_file),
        "target": target, "uid": sandbox.sandbox_uid()}))
    keeper_request = {"cwd": str(scratch), "env": env,
                      "request_file": str(request_file),
                      "wall_s": limits.wall_s, "memory_gb": limits.memory_gb}
    zygote = _zygote((framework,) if framework else ())
    try:  # the zygote stays while its keeper runs: the keeper ends with it
        try:
            keeper, pipe = zygote.fork(keeper_request)
        except (OSError, ValueError) as e:
            return Outcome({"limit": None, "exit_code": None, "signal": None, "sandbox": None,
                            "keeper_failed": f"no keeper: {e}"})
        try:
            raw = _read_verdict(keeper, pipe, poll_s)
        finally:
            os.close(pipe)
    finally:
        with _ZYGOTES_LOCK:
            zygote.in_flight -= 1
    try:
        verdict = json.loads(raw.decode())
    except ValueError:
        verdict = {"limit": None, "exit_code": None, "signal": None, "sandbox": None,
                   "keeper_failed": "it ended without a verdict"}
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
