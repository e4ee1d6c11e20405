"""Provenance for result files: code version, software versions and hardware."""

from __future__ import annotations

import ast
import contextlib
import functools
import importlib.metadata as md
import importlib.util
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("torch", "jax", "jaxlib", "diffrax", "equinox", "optax", "torchdiffeq", "numpy")


def _run(cmd: list[str]) -> str | None:
    try:
        out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def git_state() -> dict[str, Any]:
    """The commit and whether tracked files differ from it (results/ and leaderboard/ aside)."""
    commit = _run(["git", "rev-parse", "HEAD"])
    # Untracked files count too: an uncommitted submission is not the recorded commit.
    status = _run(["git", "status", "--porcelain", "--", ".", ":!results", ":!leaderboard"])
    return {"git_commit": commit, "git_dirty": None if status is None else bool(status)}


def _version(name: str) -> str | None:
    try:
        return md.version(name)
    except md.PackageNotFoundError:
        return None


def _torch_build_cuda() -> str | None:
    """The CUDA version torch was built for, read from ``torch/version.py`` without importing
    torch (seconds, in a process that may never need it); None for a CPU build."""
    spec = importlib.util.find_spec("torch")
    if spec is None or spec.origin is None:
        return None
    with contextlib.suppress(OSError, SyntaxError):
        tree = ast.parse((Path(spec.origin).parent / "version.py").read_text())
        for node in tree.body:
            value: ast.expr | None
            if isinstance(node, ast.Assign) and len(node.targets) == 1:
                target, value = node.targets[0], node.value
            elif isinstance(node, ast.AnnAssign):
                target, value = node.target, node.value
            else:
                continue
            if isinstance(target, ast.Name) and target.id == "cuda":
                found = value.value if isinstance(value, ast.Constant) else None
                return found if isinstance(found, str) else None
    return None


@functools.cache
def software() -> dict[str, Any]:
    info: dict[str, Any] = {"python": platform.python_version(),
                            "packages": {p: _version(p) for p in PACKAGES},
                            "cuda": None, "cudnn": None}
    if "torch" not in sys.modules and _torch_build_cuda() is None:
        return info  # a CPU build (or none): nothing more to learn by importing it
    try:
        import torch

        info["cuda"] = torch.version.cuda
        info["cudnn"] = torch.backends.cudnn.version() if torch.cuda.is_available() else None
    except ImportError:
        pass
    return info


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _ram_gb() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def cores() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (
        os.cpu_count() or 1)


@functools.cache
def hardware(device_class: str) -> dict[str, Any]:
    hw: dict[str, Any] = {
        "cpu": _cpu_model(),
        "cores": cores(),
        "ram_gb": _ram_gb(),
        "platform": platform.platform(),
        "gpu": None, "gpu_memory_gb": None, "driver": None,
    }
    if device_class == "gpu":
        hw.update(_gpu())
    return hw


def _gpu() -> dict[str, Any]:
    """The GPU the run used (torch's view honours CUDA_VISIBLE_DEVICES) and the driver.

    Never raises: a missing figure is recorded as null rather than costing a trained cell.
    """
    info: dict[str, Any] = {}
    try:
        import torch

        if torch.cuda.is_available():
            props = torch.cuda.get_device_properties(torch.cuda.current_device())
            info.update(gpu=props.name, gpu_memory_gb=round(props.total_memory / 2**30, 1))
    except Exception:  # a broken CUDA set-up must not lose the result
        pass
    smi = _run(["nvidia-smi", "--query-gpu=name,memory.total,driver_version",
                "--format=csv,noheader,nounits"])
    if smi:
        fields = [f.strip() for f in smi.splitlines()[0].split(",")]
        if len(fields) >= 3:
            info["driver"] = fields[2]
            info.setdefault("gpu", fields[0])
            with contextlib.suppress(ValueError):  # "[N/A]" on MIG and some virtual GPUs
                info.setdefault("gpu_memory_gb", round(float(fields[1]) / 1024, 1))
    if "gpu" not in info:
        try:
            import jax

            info["gpu"] = jax.devices("gpu")[0].device_kind
        except Exception:
            pass
    return info


def hardware_label(hw: dict[str, Any]) -> str:
    """A short name for tables: the GPU, else the CPU model and core count."""
    if hw.get("gpu"):
        return str(hw["gpu"])
    return f"{hw.get('cpu', '?')} ({hw.get('cores', '?')} cores)"


def command_line() -> str:
    return " ".join([Path(sys.executable).name, *sys.argv])
