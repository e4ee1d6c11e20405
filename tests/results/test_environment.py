"""Provenance helpers (``bench.results.environment``)."""

from __future__ import annotations

import platform

from bench.results import environment


def test_hardware_label():
    assert environment.hardware_label({"gpu": "NVIDIA H100", "cpu": "x", "cores": 2}) == \
        "NVIDIA H100"
    assert environment.hardware_label({"gpu": None, "cpu": "Some CPU", "cores": 16}) == \
        "Some CPU (16 cores)"
    assert environment.hardware_label({}) == "? (? cores)"


def test_cpu_hardware_has_no_gpu_fields():
    hw = environment.hardware("cpu")
    assert hw["gpu"] is None and hw["gpu_memory_gb"] is None and hw["driver"] is None
    assert hw["platform"] == platform.platform()
    assert hw["cores"] >= 1 and hw["ram_gb"] > 0


def test_software_versions():
    import numpy

    sw = environment.software()
    assert sw["python"] == platform.python_version()
    assert sw["packages"]["numpy"] == numpy.__version__
    assert set(sw["packages"]) == set(environment.PACKAGES)


def test_git_state_outside_a_repository(monkeypatch, tmp_path):
    monkeypatch.setattr(environment, "ROOT", tmp_path)
    assert environment.git_state() == {"git_commit": None, "git_dirty": None}


def test_gpu_info_survives_odd_nvidia_smi_output(monkeypatch):
    """MIG and virtual GPUs print [N/A]; a provenance gap must never cost a trained cell."""
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(environment, "_run",
                        lambda cmd: "NVIDIA H100 80GB HBM3, [N/A], 580.65\nNVIDIA H100, 81559, x")
    info = environment._gpu()
    assert info["gpu"] == "NVIDIA H100 80GB HBM3" and info["driver"] == "580.65"
    assert "gpu_memory_gb" not in info
    monkeypatch.setattr(environment, "_run", lambda cmd: "NVIDIA H200, 143771, 580.65")
    assert environment._gpu()["gpu_memory_gb"] == 140.4
    monkeypatch.setattr(environment, "_run", lambda cmd: None)
    assert "driver" not in environment._gpu()


def test_torch_build_cuda_is_read_without_importing_torch(tmp_path, monkeypatch):
    """The CUDA version comes from torch's own version.py, and matches torch's answer."""
    import importlib.machinery
    import importlib.util

    import torch

    assert environment._torch_build_cuda() == torch.version.cuda
    fake = tmp_path / "torch"
    fake.mkdir()
    (fake / "__init__.py").write_text("raise ImportError('never imported')\n")
    for text, expected in (("cuda: Optional[str] = '12.8'\n", "12.8"), ("cuda = None\n", None),
                           ("hip = '6.0'\n", None)):
        (fake / "version.py").write_text("from typing import Optional\n" + text)
        spec = importlib.machinery.ModuleSpec("torch", None, origin=str(fake / "__init__.py"))
        monkeypatch.setattr(importlib.util, "find_spec", lambda name, s=spec: s)
        assert environment._torch_build_cuda() == expected
