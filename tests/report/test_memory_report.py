"""The memory picture of a flip-flop table (bench/report/memory_report.py)."""

from __future__ import annotations

import numpy as np

from bench.report import memory_report, plotting

PNG = b"\x89PNG\r\n\x1a\n"


def LABEL(doc):
    return doc["model"] + ("" if doc.get("verified", True) else " †")


def doc(model, fw, seed, coverage, gate=None, status="ok"):
    return {"model": model, "variant": "", "framework": fw, "seed": seed, "status": status,
            "hold": {"coverage": {"10": coverage[0], "100": coverage[1], "1000": coverage[2]}},
            "attractor": {"gate": None if gate is None else {
                "histogram": np.histogram(gate, bins=20, range=(0, 1))[0].tolist()}}}


def test_nothing_is_drawn_without_the_memory_metric(tmp_path):
    plain = {"model": "gru", "variant": "", "framework": "torch", "seed": 0, "status": "ok"}
    assert not memory_report.draw([plain], "t", tmp_path / "m.png", LABEL)
    assert not (tmp_path / "m.png").exists()


def test_coverage_curves_are_seed_means_and_gates_are_pooled(tmp_path, monkeypatch):
    figs, save = [], plotting.save
    monkeypatch.setattr(plotting, "save", lambda fig, path: (figs.append(fig), save(fig, path)))
    rng = np.random.default_rng(0)
    docs = [doc("gnode", "jax", 0, (1.0, 0.8, 0.4), gate=rng.uniform(0, 0.1, 100)),
            doc("gnode", "jax", 1, (1.0, 0.6, 0.2), gate=rng.uniform(0, 0.1, 100)),
            doc("node", "jax", 0, (0.5, 0.1, 0.0)),
            doc("node", "jax", 1, (0.0, 0.0, 0.0), status="diverged"),
            {**doc("node", "jax", 2, (1.0, 1.0, 1.0)), "verified": False}]
    assert memory_report.draw(docs, "t", tmp_path / "m.png", LABEL)
    assert (tmp_path / "m.png").read_bytes()[:8] == PNG
    curves, gates = figs[0].axes[0], figs[0].axes[1]  # one framework, then the gates
    lines = {line.get_label(): line.get_ydata() for line in curves.get_lines()}
    np.testing.assert_allclose(lines["gnode (2)"], [1.0, 0.7, 0.3])
    np.testing.assert_allclose(lines["node (1)"], [0.5, 0.1, 0.0])  # the diverged seed left out
    np.testing.assert_allclose(lines["node † (1)"], [1.0, 1.0, 1.0])  # never pooled
    (stairs,) = gates.patches
    heights = stairs.get_data().values
    assert heights.sum() == np.float64(1.0) and heights[:2].sum() == 1.0  # all below 0.1
