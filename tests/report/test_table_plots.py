"""The plot under each table (``bench.report.table_plots``): one column of panels per model,
at 150 dpi, with every entry of a model in a colour of its own."""

from __future__ import annotations

import numpy as np
from PIL import Image

from bench.report import table_plots


def _doc(model, variant, framework, seed, trial=True):
    t = np.linspace(0, 1, 30)
    return {"model": model, "variant": variant, "framework": framework, "seed": seed,
            "status": "ok",
            "curve": {"val_loss": list(np.exp(-5 * t) + 0.01 * (seed + 1)), "every": 1},
            "example": {"inputs": [[0.0]] * 20, "targets": [[1.0]] * 20,
                        "outputs": [[0.9]] * 20} if trial else None}


def _label(d):
    return d["model"] + (f" [{d['variant']}]" if d["variant"] else "")


def test_one_column_per_model_at_150_dpi(tmp_path):
    docs = [_doc(m, v, fw, s) for m in ("gnode", "gru") for v in ("N=6", "N=12", "")
            for fw in ("torch", "jax") for s in (0, 1)]
    path = tmp_path / "t.png"
    assert table_plots.draw(docs, "a table", path, _label)
    with Image.open(path) as im:
        assert im.size[0] == round(2 * 3.6 * 150)  # two models side by side
    entries = table_plots._entries(docs, _label)
    assert list(entries) == ["gnode", "gru"] and all(len(e) == 6 for e in entries.values())
    assert all(len(runs) == 2 for e in entries.values() for runs in e.values())  # the band


def test_colours_never_repeat_within_a_panel():
    for n in (1, 6, 10, 11, 37):
        assert len(set(table_plots.colours(n))) == n


def test_a_classification_table_draws_its_losses_alone(tmp_path):
    docs = [_doc("gru", "", "torch", s, trial=False) for s in (0, 1, 2)]
    path = tmp_path / "c.png"
    assert table_plots.draw(docs, "vowels", path, _label)
    assert not table_plots.draw([{**docs[0], "status": "diverged"}], "x", path, _label)
