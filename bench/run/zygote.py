"""``python -m bench.run.zygote``: the preloaded parent of every keeper.

A fresh interpreter per child paid seconds of imports before any model code ran (torch and
the compiler stack its optimisers load, jax, matplotlib): most of a short cell's time. The
harness therefore starts one zygote per framework and environment, which imports those
libraries once and then only forks. For each child it forks a keeper (``bench.run.keeper``),
which forks the worker (``bench.run.worker``); both begin with the libraries in memory.

The zygote is trusted and runs no model code. It is started with the environment children
get (never the harness's credentials, since ``/proc/<pid>/environ`` keeps what a process was
started with), initialises no device and starts no thread, so forking it is safe.

Protocol, over a socket pair: the harness sends one request (a JSON keeper request, with the
write end of the verdict pipe attached as SCM_RIGHTS); the zygote answers with the keeper's
pid. End of file on the socket (the harness closed it or died) ends the zygote; each keeper
then gets SIGTERM (PDEATHSIG), takes its tree down and removes its scratch folder.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import signal
import socket
import sys

# What each framework's children import before their first line of model code.
PRELOAD = {
    "torch": ("torch", "torch._dynamo", "torch.optim", "torchdiffeq", "bench.train.train_torch",
              "bench.models.ode_torch", "bench.models.rnn_torch", "bench.analysis.system_torch"),
    "jax": ("jax", "jax.numpy", "equinox", "diffrax", "optax", "bench.train.train_jax",
            "bench.models.ode_jax", "bench.models.rnn_jax", "bench.analysis.system_jax"),
}
COMMON = ("bench.run.worker", "bench.run.model_process", "bench.run.analyze",
          "bench.analysis.portraits", "bench.analysis.attractors", "bench.spec.registry")
MAX_REQUEST = 1 << 20


def preload(frameworks: list[str]) -> None:
    """Import what children of ``frameworks`` need. A module that fails to import is left for
    the child to fail on, with its own error, where it matters."""
    import matplotlib  # numpy with it

    matplotlib.use("Agg")
    for name in COMMON + tuple(m for f in frameworks for m in PRELOAD.get(f, ())):
        with contextlib.suppress(Exception):
            importlib.import_module(name)
    with contextlib.suppress(Exception):
        import matplotlib.pyplot


def _receive(sock: socket.socket) -> tuple[dict, int] | None:
    """One request and its verdict pipe; None at end of file."""
    data, fds, _, _ = socket.recv_fds(sock, MAX_REQUEST, 1)
    if not data:
        return None
    if len(fds) != 1:
        for fd in fds:
            os.close(fd)
        raise ValueError("a zygote request must carry exactly one file descriptor")
    return json.loads(data.decode()), fds[0]


def serve(sock: socket.socket) -> None:
    """Fork a keeper per request until the harness goes away."""
    from bench.run import keeper

    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # keepers are reaped by the kernel
    me = os.getpid()
    while True:
        try:
            got = _receive(sock)
        except (OSError, ValueError):
            return
        if got is None:
            return
        request, verdict_fd = got
        pid = os.fork()
        if pid == 0:
            code = 70
            try:
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                sock.close()
                keeper.main(request, verdict_fd, zygote=me)
                code = 0
            finally:
                os._exit(code)
        os.close(verdict_fd)
        with contextlib.suppress(OSError):
            sock.sendall(f"{pid}\n".encode())


def main(fd: str, frameworks: str) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the harness decides what Ctrl-C means
    sock = socket.socket(fileno=int(fd))
    preload([f for f in frameworks.split(",") if f])
    sock.sendall(b"ready\n")
    serve(sock)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "")
