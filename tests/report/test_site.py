"""``bench.report.site``: the static HTML leaderboard. Rendered from the markdown with every
link working from ``site/``; in a real headless Chromium it loads with no console error and no
request off the file system, and its tables sort and filter."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from bench.report import site
from bench.tools import screenshots

ROOT = Path(__file__).resolve().parents[2]

README = """# Leaderboard

Generated.

## Summary

| model | framework | task-a (mse ↓) |
|---|---|---|
| gru | torch | **0.1 [0.05, 0.2]** |

## Contents

- [task-a](#task-a)
- [task-b](#task-b)
- [the quick table](#task-b-v1--quick-profile)
- [How to read the tables](#how-to-read-the-tables)

## How to read the tables

See [claims.md](claims.md), [the memory metric](../docs/memory.md) and <https://arxiv.org/abs/2307.06398>.

## task-a

| rank | model | mse ↓ |
|---|---|---|
| 1 | gru | 0.1 |
| 2 | lstm | 0.3 |

![task-a plot](plots/task-a.png)

## task-b

### task-b v1 · quick profile

Back to [the summary](README.md#summary); a [portrait](../results/task-b@v1/x.png); the
[other task's table](README.md#task-a); [this page's own table](#notes).

#### Notes
"""


def _leaderboard(tmp_path: Path) -> Path:
    out = tmp_path / "leaderboard"
    out.mkdir()
    (out / "README.md").write_text(README)
    (out / "claims.md").write_text("# Claims\n\n[task-a's table](#task-a), [notes](#notes)"
                                   "\n\n## Notes\n")
    return out


def test_one_page_per_task_and_every_link_made_to_work_from_the_site(tmp_path):
    out = _leaderboard(tmp_path)
    written = site.build(out)
    names = sorted(p.name for p in written)
    assert names == ["claims.html", "index.html", "site.css", "site.js", "task-a.html",
                     "task-b.html"]
    index = (out / "site" / "index.html").read_text()
    task_a = (out / "site" / "task-a.html").read_text()
    task_b = (out / "site" / "task-b.html").read_text()
    claims = (out / "site" / "claims.html").read_text()
    # the front page holds the summary, the contents and how to read, not the tasks
    assert '<h2 id="summary">Summary</h2>' in index and "task-a plot" not in index
    assert '<table class="ranked">' in index and "<strong>0.1 [0.05, 0.2]</strong>" in index
    # contents: a task's heading is its page; a heading inside a task page is an anchor there
    assert 'href="task-a.html"' in index and 'href="task-b.html"' in index
    assert 'href="task-b.html#task-b-v1--quick-profile"' in index
    assert 'href="#how-to-read-the-tables"' in index
    assert '<h3 id="task-b-v1--quick-profile">' in task_b
    # other pages, files beside the markdown, and the outside world
    assert 'href="claims.html"' in index and 'href="../../docs/memory.md"' in index
    assert 'href="https://arxiv.org/abs/2307.06398"' in index
    assert '<img src="../plots/task-a.png" alt="task-a plot" loading="lazy"' in task_a
    assert 'href="index.html#summary"' in task_b
    assert 'href="../../results/task-b@v1/x.png"' in task_b
    assert 'href="task-a.html"' in claims
    # a heading on the page itself wins over one of the same name elsewhere
    assert 'href="#notes"' in claims and 'href="#notes"' in task_b
    assert 'href="task-a.html"' in task_b  # README.md#task-a: the task's own page now
    # nothing is fetched from elsewhere: the scripts and styles are the site's own
    for page in (index, task_a, task_b, claims):
        assert re.findall(r'<(?:script|link)[^>]*(?:src|href)="([^"]+)"', page) == [
            "site.css", "site.js"]
        assert '<nav><a href="index.html"' in page
    assert 'aria-current=page>task-a</a>' in task_a


def test_the_site_is_reproducible_and_drops_pages_of_tasks_that_are_gone(tmp_path):
    out = _leaderboard(tmp_path)
    first = {p.name: p.read_bytes() for p in site.build(out)}
    assert {p.name: p.read_bytes() for p in site.build(out)} == first
    (out / "README.md").write_text(README.split("## task-b")[0])
    names = {p.name for p in site.build(out)}
    assert "task-b.html" not in names and not (out / "site" / "task-b.html").exists()
    assert (out / "site" / "task-a.html").is_file()


def test_the_vendored_script_is_small_and_self_contained():
    js = (ROOT / "bench" / "report" / "site_assets" / "site.js").read_text()
    assert len(js.encode()) < 8_000
    assert not re.search(r"https?://|import\s|require\(|fetch\(|XMLHttpRequest", js)


@pytest.mark.slow
@pytest.mark.skipif(screenshots.missing() is not None,
                    reason=f"no browser to drive: {screenshots.missing()}")
def test_in_chromium_the_pages_load_cleanly_and_the_tables_sort_and_filter(tmp_path):
    """The committed leaderboard's markdown and plots, rendered and opened in Chromium."""
    out = tmp_path / "leaderboard"
    out.mkdir()
    for md in ("README.md", "claims.md", "perf.md"):
        shutil.copy(ROOT / "leaderboard" / md, out / md)
    shutil.copytree(ROOT / "leaderboard" / "plots", out / "plots")
    site.build(out)
    with screenshots.browser() as browser:
        for html in sorted((out / "site").glob("*.html")):
            page, visit = screenshots.open_page(browser, html)
            assert visit.errors == [] and visit.network == [], html.name
            assert page.locator("table").count() == page.locator("input.filter").count()
            page.close()

        page, visit = screenshots.open_page(browser, out / "site" / screenshots.TASK_PAGE)
        table = page.locator("table").last  # the quick profile's ranked table
        headers = table.locator("thead th").all_inner_texts()
        column = next(i for i, h in enumerate(headers) if h.startswith("mse ↓"))

        def values() -> list[float | None]:
            cells = table.locator(f"tbody tr:not([hidden]) td:nth-child({column + 1})")
            return [None if t.strip() == "—" else float(t.split()[0])
                    for t in cells.all_inner_texts()]

        header = table.locator("thead th").nth(column)
        header.click()
        up = values()
        numbers = [v for v in up if v is not None]
        assert len(numbers) >= 2 and numbers == sorted(numbers)
        assert up[:len(numbers)] == numbers  # no value: last
        assert header.get_attribute("aria-sort") == "ascending"
        header.click()
        down = [v for v in values() if v is not None]
        assert down == sorted(numbers, reverse=True)
        assert header.get_attribute("aria-sort") == "descending"

        rows = table.locator("tbody tr")
        box = page.locator("input.filter").last
        box.fill("lstm")
        shown = table.locator("tbody tr:not([hidden])").all_inner_texts()
        assert shown and all("lstm" in r for r in shown) and len(shown) < rows.count()
        box.fill("")
        assert table.locator("tbody tr:not([hidden])").count() == rows.count()
        shot = tmp_path / "task.png"
        page.screenshot(path=str(shot))
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
        assert visit.errors == [] and visit.network == []
