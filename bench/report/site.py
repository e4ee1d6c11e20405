"""The static HTML leaderboard, ``leaderboard/site/``, rendered from the markdown pages.

The markdown (``README.md``, ``claims.md``, ``perf.md``) stays the source; the site renders it
with markdown-it-py into a front page (the summary matrices, contents and how to read), one
page per task, the claims and the performance page. Its tables sort and filter (``site.js``,
vendored, a few kilobytes, no library), and it opens from the file system: no server, no
network. Like the markdown, it is a pure function of its input, so byte-for-byte
reproducible.
"""

from __future__ import annotations

import html
import re
from importlib import resources
from pathlib import Path

from markdown_it import MarkdownIt
from markdown_it.token import Token

from bench.atomic import write_bytes_atomic
from bench.report.summary import anchor

FRONT_SECTIONS = ("Summary", "Contents", "How to read the tables")
OTHER_PAGES = {"claims.md": ("claims.html", "Claims"), "perf.md": ("perf.html", "Performance")}
TITLES = dict(OTHER_PAGES.values())  # an HTML page -> its title
ASSETS = ("site.js", "site.css")
EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)  # http:, mailto:, ...


def split(readme: str) -> tuple[str, dict[str, str]]:
    """(the front page's markdown, {task: its section}) of the leaderboard's README: every
    ``## `` section but the summary, contents and how-to-read is a task's."""
    parts = re.split(r"(?m)^(?=## )", readme)
    front, tasks = [parts[0]], {}
    for part in parts[1:]:
        title = part.splitlines()[0][3:].strip()
        if title in FRONT_SECTIONS:
            front.append(part)
        else:
            tasks[title] = part
    return "".join(front), tasks


def _page_of(name: str) -> str:
    return "index.html" if name == "README.md" else name


def _headings(tokens: list[Token]) -> list[str]:
    return [anchor(tokens[i + 1].content) for i, t in enumerate(tokens)
            if t.type == "heading_open"]


class _Renderer:
    """Markdown to HTML for one site: heading anchors as GitHub writes them, and links made to
    work from ``site/``."""

    def __init__(self, pages: dict[str, str]) -> None:
        self.md = MarkdownIt("commonmark", {"html": False}).enable("table")
        self.tokens = {page: self.md.parse(text) for page, text in pages.items()}
        self.anchors = {page: set(_headings(toks)) for page, toks in self.tokens.items()}
        # where each heading's anchor lives: a link to #x from another page goes there
        self.home = {a: page for page, toks in self.tokens.items() for a in _headings(toks)}

    def _anchor(self, fragment: str, page: str, written_on: str) -> str:
        """A link to ``#fragment`` written on ``written_on``, seen from ``page``: that page's
        own heading if it has one, else the page that does."""
        home = written_on if fragment in self.anchors.get(written_on, ()) else (
            self.home.get(fragment, written_on))
        if home == page:
            return f"#{fragment}"
        if home == f"task:{fragment}":  # a task's own heading: its page
            return _file(home)
        return f"{_file(home)}#{fragment}"

    def url(self, target: str, page: str) -> str:
        """``target`` as written in a leaderboard markdown page, seen from ``site/<page>``."""
        if EXTERNAL.match(target) or target.startswith("/"):
            return target
        path, _, fragment = target.partition("#")
        if not path:  # an anchor: on this page, or on the page that has the heading
            return self._anchor(fragment, page, page) if fragment else target
        if path == "README.md":  # the front page, or the task page the heading moved to
            return self._anchor(fragment, page, "index.html") if fragment else "index.html"
        if path in OTHER_PAGES:
            return OTHER_PAGES[path][0] + (f"#{fragment}" if fragment else "")
        return "../" + target  # a plot, a portrait, the docs: beside the markdown

    def render(self, page: str) -> str:
        tokens = self.tokens[page]
        for i, t in enumerate(tokens):
            if t.type == "heading_open":
                t.attrSet("id", anchor(tokens[i + 1].content))
            elif t.type == "table_open":
                t.attrSet("class", "ranked")
            for child in t.children or []:
                if child.type == "link_open":
                    child.attrSet("href", self.url(str(child.attrGet("href")), page))
                elif child.type == "image":
                    child.attrSet("src", self.url(str(child.attrGet("src")), page))
                    child.attrSet("loading", "lazy")
        return self.md.renderer.render(tokens, self.md.options, {})


def _file(page: str) -> str:
    if page.startswith("task:"):
        return f"{page.removeprefix('task:')}.html"
    return page


def _document(title: str, body: str, nav: list[tuple[str, str]], current: str) -> str:
    links = "".join(
        f'<a href="{href}"{" aria-current=page" if href == current else ""}>'
        f"{html.escape(text)}</a>" for text, href in nav)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        f"<title>{html.escape(title)} · ctrnn-bench leaderboard</title>\n"
        "<link rel=\"stylesheet\" href=\"site.css\">\n"
        "<script src=\"site.js\" defer></script>\n</head>\n<body>\n"
        f"<nav>{links}</nav>\n<main>\n{body}</main>\n</body>\n</html>\n")


def build(leaderboard_dir: Path) -> list[Path]:
    """Render ``leaderboard_dir``'s markdown into ``leaderboard_dir/site``; returns the files
    written. Pages of tasks that are gone are removed."""
    leaderboard_dir = Path(leaderboard_dir)
    readme = leaderboard_dir / "README.md"
    if not readme.is_file():
        return []
    front, tasks = split(readme.read_text())
    pages = {"index.html": front, **{f"task:{name}": text for name, text in tasks.items()}}
    for md_name, (page, _) in OTHER_PAGES.items():
        if (leaderboard_dir / md_name).is_file():
            pages[page] = (leaderboard_dir / md_name).read_text()
    renderer = _Renderer(pages)
    nav = [("Summary", "index.html"), *((name, f"{name}.html") for name in tasks),
           *((title, page) for page, title in OTHER_PAGES.values() if page in pages)]
    site = leaderboard_dir / "site"
    site.mkdir(parents=True, exist_ok=True)
    written = []
    for page in pages:
        title = page.removeprefix("task:") if page.startswith("task:") else TITLES.get(
            page, "Summary")
        text = _document(title, renderer.render(page), nav, _file(page))
        written.append(site / _file(page))
        write_bytes_atomic(written[-1], text.encode())
    for asset in ASSETS:
        written.append(site / asset)
        write_bytes_atomic(written[-1], resources.files("bench.report").joinpath(
            "site_assets", asset).read_bytes())
    for old in site.glob("*.html"):
        if old not in written:
            old.unlink()
    return written
