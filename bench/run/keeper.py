"""The trusted process between the harness and a model's process.

The zygote (``bench.run.zygote``) forks one keeper per child (a training cell, a contract check, a
perf case, an analysis) with the harness's request. The keeper

- makes itself the *subreaper* of everything below it (``PR_SET_CHILD_SUBREAPER``): a process
  model code starts, even in a new session or after a double fork, stays its descendant;
- forks the worker (``bench.run.worker``), which sandboxes itself (``bench.run.sandbox``) and
  reports what it enforced on a pipe *before* any model code runs;
- holds the whole tree to the wall-clock limit and to the memory limit, counted over every
  descendant (proportional set size, so shared pages count once);
- when the worker ends, or a limit is passed, or the harness dies or asks it to stop (SIGTERM),
  kills every descendant that is left and reaps them (and, when the harness died, removes the
  scratch folder that nobody else will);
- tells apart the kernel's out-of-memory killer (``oom_kill`` in ``/proc/vmstat``) from a
  process that killed itself;
- writes one JSON verdict to the harness's pipe, and exits.

The sandbox scopes signals, so model code cannot kill its keeper.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import select
import shutil
import signal
import sys
import time
from typing import Any

_PR_SET_PDEATHSIG, _PR_SET_CHILD_SUBREAPER = 1, 36
POLL_S = 0.1
MEMORY_EVERY_S = 0.5


def stat_fields(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the name (state, parent pid, ...; ``proc(5)``
    numbers them from 3); None if there is no such process."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            text = f.read().decode(errors="replace")
    except OSError:
        return None
    return text[text.rfind(")") + 2:].split()  # the name may hold spaces and parentheses


def _stat(pid: int) -> tuple[int, str] | None:
    """(parent pid, state) of a process."""
    fields = stat_fields(pid)
    return None if fields is None else (int(fields[1]), fields[0])


def descendants(root: int) -> list[int]:
    """Every live (not zombie) process below ``root``."""
    children: dict[int, list[int]] = {}
    states = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            info = _stat(int(entry))
            if info is not None:
                children.setdefault(info[0], []).append(int(entry))
                states[int(entry)] = info[1]
    out, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return [p for p in out if states.get(p) != "Z"]


def _memory_kb(pid: int) -> int:
    """A process's proportional set size (resident size where that is unreadable), in kB."""
    for file, key in ((f"/proc/{pid}/smaps_rollup", "Pss:"), (f"/proc/{pid}/status", "VmRSS:")):
        try:
            with open(file) as f:
                for line in f:
                    if line.startswith(key):
                        return int(line.split()[1])
        except (OSError, ValueError):
            continue
    return 0


def _oom_kills() -> int | None:
    try:
        with open("/proc/vmstat") as f:
            for line in f:
                if line.startswith("oom_kill "):
                    return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def _reap(skip: int | None) -> None:
    """Reap this process's dead children (orphans it adopted), all but ``skip`` (the worker,
    whose exit status its Popen collects)."""
    me = os.getpid()
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != skip:
            info = _stat(int(entry))
            if info is not None and info[0] == me and info[1] == "Z":
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(int(entry), os.WNOHANG)


def kill_tree(root: int, skip: int | None = None, rounds: int = 200) -> int:
    """SIGKILL every descendant of ``root`` until none is left (``skip`` is killed but left
    unreaped); how many were killed."""
    killed: set[int] = set()
    for _ in range(rounds):
        alive = descendants(root)
        if not alive:
            break
        for pid in alive:
            try:
                os.kill(pid, signal.SIGKILL)
                killed.add(pid)
            except ProcessLookupError:
                pass
        time.sleep(0.01)
        _reap(skip)
    _reap(skip)
    return len(killed)


class _Forked:
    """The worker, forked from this (preloaded) process: ``poll`` and ``wait`` as Popen's."""

    def __init__(self, request: dict[str, Any], report_fd: int) -> None:
        self.returncode: int | None = None
        self.pid = os.fork()
        if self.pid == 0:
            code = 70
            try:
                code = _become_worker(request, report_fd)
            finally:
                os._exit(code)

    def _status(self, flags: int) -> int | None:
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, flags)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def poll(self) -> int | None:
        return self._status(os.WNOHANG)

    def wait(self) -> int:
        code = self._status(0)
        assert code is not None
        return code


def _become_worker(request: dict[str, Any], report_fd: int) -> int:
    """In the forked child: a new session in the scratch folder, with the child's environment
    and no descriptor but stdio and the report pipe; then ``bench.run.worker``."""
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGCHLD, signal.SIGPIPE):
        signal.signal(sig, signal.SIG_DFL)
    os.setsid()
    os.chdir(request["cwd"])
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(2, 1)  # model output goes where the harness's stderr goes
    os.closerange(3, report_fd)
    os.closerange(report_fd + 1, 1 << 16)
    os.environ.clear()
    os.environ.update(request["env"])
    sys.argv = ["bench.run.worker", request["request_file"], str(report_fd)]
    from bench.run import worker

    return worker.main(request["request_file"], str(report_fd))


def main(request: dict[str, Any], verdict_fd: int, zygote: int) -> None:
    """Run one child (in a process the zygote ``zygote`` forked) and write the verdict, one
    JSON object, to ``verdict_fd``."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append("stop"))
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the harness decides what Ctrl-C means
    if os.getppid() != zygote:  # the zygote (so the harness) ended before we could watch it
        shutil.rmtree(request["cwd"], ignore_errors=True)
        return

    verdict: dict[str, Any] = {"exit_code": None, "signal": None, "limit": None,
                               "oom_killer": False, "peak_memory_gb": 0.0, "sandbox": None,
                               "leftover_processes": 0}
    oom_before = _oom_kills()
    read_end, write_end = os.pipe()
    worker = _Forked(request, write_end)
    os.close(write_end)
    me, start, last_memory, report = os.getpid(), time.monotonic(), 0.0, b""
    reading = True
    while worker.poll() is None:
        if reading and select.select([read_end], [], [], 0)[0]:
            chunk = os.read(read_end, 65536)
            report += chunk
            reading = bool(chunk) and len(report) < 65536
        if stop:
            verdict["limit"] = "stop"
            break
        if time.monotonic() - start > request["wall_s"]:
            verdict["limit"] = "time"
            break
        if time.monotonic() - last_memory >= MEMORY_EVERY_S:
            last_memory = time.monotonic()
            gb = sum(_memory_kb(p) for p in descendants(me)) / 2**20
            verdict["peak_memory_gb"] = max(verdict["peak_memory_gb"], gb)
            _reap(worker.pid)
            if gb > request["memory_gb"]:
                verdict["limit"] = "memory"
                break
        time.sleep(POLL_S)
    if reading:  # whatever the worker sent before it ended
        while select.select([read_end], [], [], 0)[0]:
            chunk = os.read(read_end, 65536)
            if not chunk or len(report) > 65536:
                break
            report += chunk
    os.close(read_end)
    worker_alive = worker.poll() is None
    verdict["leftover_processes"] = kill_tree(me, skip=worker.pid) - worker_alive
    code = worker.wait()
    if verdict["limit"] is None:
        verdict["exit_code"] = code if code >= 0 else None
        verdict["signal"] = signal.Signals(-code).name if code < 0 else None
        after = _oom_kills()
        verdict["oom_killer"] = (code == -signal.SIGKILL and oom_before is not None
                                 and after is not None and after > oom_before)
    try:
        first = report.split(b"\n", 1)[0]
        verdict["sandbox"] = json.loads(first) if first else None
    except (ValueError, UnicodeDecodeError):
        verdict["sandbox"] = None
    if os.getppid() != zygote:  # the harness is gone: nobody will read this or clean up
        shutil.rmtree(request["cwd"], ignore_errors=True)
        return
    with os.fdopen(verdict_fd, "w") as out:
        out.write(json.dumps(verdict))
