"""The repository itself: the tracked tree stays small enough to copy around (docs/results.md:
checkpoints and per-seed portraits are local artifacts, not in git)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LIMIT = 40_000_000  # bytes


def tracked_files() -> list[Path]:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout: no tracked tree to measure")
    out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=False)
    if out.returncode != 0:
        pytest.skip(f"git ls-files failed here: {out.stderr.decode().strip()[:200]}")
    return [ROOT / name for name in out.stdout.decode().split("\0") if name]


def test_the_tracked_tree_stays_under_40_mb():
    files = tracked_files()
    sizes = {p: p.stat().st_size for p in files if p.is_file()}  # a file deleted, not staged
    total = sum(sizes.values())
    largest = sorted(sizes, key=sizes.get, reverse=True)[:5]
    assert total < LIMIT, (
        f"the tracked tree is {total / 1e6:.1f} MB, over {LIMIT / 1e6:.0f} MB; largest: "
        + ", ".join(f"{p.relative_to(ROOT)} ({sizes[p] / 1e6:.2f} MB)" for p in largest)
        + ". Keep checkpoints and per-seed portraits out of git (docs/results.md)")


def test_no_checkpoint_is_tracked():
    ckpts = [p for p in tracked_files() if p.suffix in (".pt", ".eqx")]
    assert not ckpts, f"checkpoints are local artifacts (docs/results.md): {ckpts[:3]}"


def test_the_license_and_the_citation_file_say_what_pyproject_says():
    """CITATION.cff (Citation File Format 1.2.0) names the suite, its version and licence, and
    cites the paper it is built around; LICENSE is the licence pyproject declares."""
    import tomllib

    import yaml

    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert meta["license"]["text"] == "MIT"
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert cff["cff-version"] == "1.2.0"
    assert {"message", "title", "authors"} <= set(cff)
    assert cff["version"] == meta["version"] and cff["license"] == "MIT"
    [paper] = cff["references"]
    assert paper["year"] == 2023 and "Gated Neural ODEs" in paper["title"]
    assert [a["family-names"] for a in paper["authors"]] == ["Kim", "Can", "Krishnamurthy"]
