"""Progress output (``bench.progress``): plain lines when stderr is not a terminal."""

from __future__ import annotations

from bench import progress


def test_plain_lines_at_quarters_and_the_end_with_the_time_left(capsys, monkeypatch):
    now = [100.0]
    monkeypatch.setattr(progress.time, "monotonic", lambda: now[0])
    bar = progress.bar(8, "gnode/torch")  # pytest's stderr is not a terminal
    assert isinstance(bar, progress._Lines)
    bar.set_postfix_str("loss 1.0")
    for _ in range(8):
        now[0] += 15.0  # 15 s a step
        bar.update()
    bar.close()
    lines = capsys.readouterr().err.splitlines()
    assert lines == ["gnode/torch: 2/8 loss 1.0 (about 1 min 30 s left)",
                     "gnode/torch: 4/8 loss 1.0 (about 1 min 0 s left)",
                     "gnode/torch: 6/8 loss 1.0 (about 30 s left)",
                     "gnode/torch: 8/8 loss 1.0"]


def test_short_runs_print_every_step(capsys):
    bar = progress._Lines(3, "x")
    for _ in range(3):
        bar.update()
    out = capsys.readouterr().err.splitlines()
    assert [line.split(" (about")[0] for line in out] == ["x: 1/3 ", "x: 2/3 ", "x: 3/3 "]
