"""``python -m bench screenshots``: open the leaderboard's HTML site in headless Chromium, fail
on any console error, and save screenshots of the front page and one task page.

Playwright drives the system's Chromium (Debian's ``chromium`` package, or ``$CHROMIUM``): no
browser is downloaded. The pages are opened from the file system, with every request that
leaves it refused, so a page that needs the network shows up as an error.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.errors import UserError

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
VIEWPORT = {"width": 1400, "height": 1000}
TASK_PAGE = "flipflop-2bit-ring.html"  # the one task page shot: the paper's headline task


def chromium() -> str | None:
    """The Chromium to drive: ``$CHROMIUM``, or the first on the PATH."""
    if os.environ.get("CHROMIUM"):
        return os.environ["CHROMIUM"]
    return next((p for name in CANDIDATES if (p := shutil.which(name))), None)


def missing() -> str | None:
    """Why no browser can be driven here (None: one can)."""
    try:
        import playwright.sync_api  # noqa: F401
    except ModuleNotFoundError:
        return "playwright is not installed (make test installs it: pip install playwright)"
    if chromium() is None:
        return "no Chromium on the PATH (apt-get install chromium, or set CHROMIUM)"
    return None


@dataclass
class Visit:
    """What a page did when it loaded: console errors and uncaught exceptions, and requests
    that tried to leave the file system."""

    url: str
    errors: list[str] = field(default_factory=list)
    network: list[str] = field(default_factory=list)


@contextmanager
def browser() -> Iterator[Any]:
    """A headless Chromium (a Playwright ``Browser``); a one-line UserError without one."""
    why = missing()
    if why:
        raise UserError(f"screenshots: {why}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=chromium(), headless=True,
                               args=["--no-sandbox", "--disable-gpu"])
        try:
            yield b
        finally:
            b.close()


def open_page(b: Any, path: Path) -> tuple[Any, Visit]:
    """Open ``path`` in a new page of ``b``, recording errors; (the page, its visit)."""
    page = b.new_page(viewport=VIEWPORT)
    visit = Visit(path.resolve().as_uri())

    def route(r: Any) -> None:
        if r.request.url.startswith("file:"):
            r.continue_()
        else:
            visit.network.append(r.request.url)
            r.abort()

    def console(message: Any) -> None:
        if message.type == "error":
            visit.errors.append(message.text)

    page.route("**/*", route)
    page.on("console", console)
    page.on("pageerror", lambda e: visit.errors.append(str(e)))
    page.goto(visit.url, wait_until="load")
    return page, visit


def take(site: Path, out: Path) -> list[Path]:
    """Screenshots of ``site``'s front page and task page into ``out``; a UserError naming the
    first page that logged an error or reached for the network."""
    pages = [("leaderboard-front-page.png", site / "index.html"),
             ("leaderboard-task-page.png", site / TASK_PAGE)]
    for _, path in pages:
        if not path.is_file():
            raise UserError(f"screenshots: {path} is missing; run `make leaderboard` first")
    out.mkdir(parents=True, exist_ok=True)
    written = []
    with browser() as b:
        for name, path in pages:
            page, visit = open_page(b, path)
            if visit.errors or visit.network:
                raise UserError(f"screenshots: {path}: "
                                + "; ".join(visit.errors + [f"network: {u}"
                                                            for u in visit.network]))
            page.screenshot(path=str(out / name))
            page.close()
            written.append(out / name)
    return written
