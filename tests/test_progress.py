"""Progress output (``bench.progress``): plain lines when stderr is not a terminal."""

from __future__ import annotations

from bench import progress


def test_plain_lines_at_quarters_and_the_end(capsys):
    bar = progress.bar(8, "gnode/torch")  # pytest's stderr is not a terminal
    assert isinstance(bar, progress._Lines)
    bar.set_postfix_str("loss 1.0")
    for _ in range(8):
        bar.update()
    bar.close()
    lines = capsys.readouterr().err.splitlines()
    assert lines == [f"gnode/torch: {n}/8 loss 1.0" for n in (2, 4, 6, 8)]


def test_short_runs_print_every_step(capsys):
    bar = progress._Lines(3, "x")
    for _ in range(3):
        bar.update()
    assert capsys.readouterr().err.splitlines() == ["x: 1/3 ", "x: 2/3 ", "x: 3/3 "]
