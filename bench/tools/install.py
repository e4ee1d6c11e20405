"""Install what is missing, and nothing else (stdlib only: it runs before any dependency).

Run as ``python -m bench.tools.install`` inside the virtual environment that ``make setup`` made.

- torch: ``torch==2.13.0`` (this project's CPU build) only when no torch is importable,
  so a GPU machine keeps its CUDA build and no several-GB CUDA wheel is ever pulled.
- everything else: the floors in ``pyproject.toml``; a package is installed only when it is
  absent or older than its floor.
- with everything present it touches no network; when the network is missing, packages listed
  under ``[tool.ctrnn-bench] optional-at-runtime`` only produce a warning.
"""

from __future__ import annotations

import importlib.metadata as md
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TORCH_PIN = "torch==2.13.0"
PIP_NET = ["--retries", "1", "--timeout", "20"]


def _version_tuple(text: str) -> tuple[int, ...]:
    parts = []
    for piece in text.split("."):
        m = re.match(r"\d+", piece)
        if not m:
            break
        parts.append(int(m.group()))
    return tuple(parts)


def _older(have: str, floor: str) -> bool:
    """Whether version ``have`` is below ``floor`` (2.0 and 2.0.0 are equal)."""
    a, b = _version_tuple(have), _version_tuple(floor)
    width = max(len(a), len(b))
    return a + (0,) * (width - len(a)) < b + (0,) * (width - len(b))


def _parse(requirement: str) -> tuple[str, str | None]:
    m = re.fullmatch(r"\s*([A-Za-z0-9_.\-]+)\s*(?:>=\s*([0-9][0-9A-Za-z.]*))?\s*", requirement)
    if not m:
        raise SystemExit(f"error: cannot read requirement {requirement!r} in pyproject.toml")
    return m.group(1), m.group(2)


def missing_requirements(pyproject: Path = ROOT / "pyproject.toml",
                         extra: str | None = None) -> list[str]:
    """Return pip specifiers for every dependency (of the optional group ``extra``, if
    given) that is absent or below its floor."""
    meta = tomllib.loads(pyproject.read_text())
    project = meta["project"]
    wanted = []
    for req in project["optional-dependencies"][extra] if extra else project["dependencies"]:
        name, floor = _parse(req)
        if name == "torch":
            if importlib.util.find_spec("torch") is None:
                wanted.append(TORCH_PIN)
            continue
        try:
            have = md.version(name)
        except md.PackageNotFoundError:
            wanted.append(req)
            continue
        if floor and _older(have, floor):
            wanted.append(req)
    return wanted


def ensure_chromium(optional: bool) -> int:
    """Debian's Chromium, which the browser test drives, installed with apt-get (as root)
    where no Chromium is on the PATH or in ``$CHROMIUM``."""
    names = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
    if os.environ.get("CHROMIUM") or any(shutil.which(n) for n in names):
        return 0
    apt = shutil.which("apt-get")
    if apt and os.geteuid() == 0:
        print("setup: installing chromium (apt-get) for the browser test", flush=True)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}

        def quiet(*cmd: str) -> bool:
            return subprocess.call(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                   env=env) == 0

        install = (apt, "install", "-y", "-q", "chromium")
        if quiet(*install) or (quiet(apt, "update", "-q") and quiet(*install)):
            return 0
    why = "no Chromium, and apt-get could not install it; install Debian's chromium package"
    if optional:
        print(f"setup: warning: {why} (the browser test skips without it)", file=sys.stderr)
        return 0
    print(f"setup: error: {why}", file=sys.stderr)
    return 1


def main(argv: list[str] | None = None) -> int:
    """``python -m bench.tools.install [--extra NAME] [--optional] [--browser]``: the core
    dependencies, or an extra's; ``--browser``: Chromium too."""
    argv = sys.argv[1:] if argv is None else argv
    status = _packages(argv)
    if status == 0 and "--browser" in argv:
        status = ensure_chromium("--optional" in argv)
    if status == 0 and "--model" in argv[:-1]:
        model_requirements(argv[argv.index("--model") + 1])
    return status


def model_requirements(selection: str) -> None:
    """Each selected model's own requirements (``bench.spec.requirements``), each into its own
    folder: the wheel alone, no dependencies, no build step. A failure is one warning line;
    the run then skips that model."""
    import tempfile

    from bench.errors import UserError
    from bench.spec import requirements
    from bench.spec.registry import select_models

    try:
        models = select_models(selection, warn=lambda _: None)
    except UserError:
        return  # the run names the unknown model
    for model in models:
        for req in requirements.missing(model.requirements):
            print(f"setup: installing {req} for {model.name} (into its own folder)", flush=True)
            target = requirements.folder(req)
            target.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(dir=target.parent, prefix=".pip-",
                                             ignore_cleanup_errors=True) as tmp:
                cmd = [sys.executable, "-m", "pip", "install", "-q", *PIP_NET, "--no-deps",
                       "--only-binary=:all:", "--no-compile", "--target", tmp, req]
                # run from the empty target: pip finds no local file to take for the name
                if subprocess.call(cmd, cwd=tmp, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL) == 0:
                    shutil.rmtree(target, ignore_errors=True)
                    os.replace(tmp, target)
                    continue
            print(f"setup: warning: could not install {req} for {model.name} (no network?); "
                  "its cells will be skipped", file=sys.stderr)


def _packages(argv: list[str]) -> int:
    extra = argv[argv.index("--extra") + 1] if "--extra" in argv[:-1] else None
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    if extra is not None and extra not in meta["project"].get("optional-dependencies", {}):
        raise SystemExit(f"error: pyproject.toml has no optional dependencies {extra!r}")
    optional = set(meta.get("tool", {}).get("ctrnn-bench", {}).get("optional-at-runtime", []))
    wanted = missing_requirements(extra=extra)
    if "--optional" in argv:  # every package of this call may fail to install: warn only
        optional |= {re.split(r"[=>]", w)[0] for w in wanted}
    if not wanted:
        print(f"setup: every {extra + ' ' if extra else ''}dependency is present; "
              "nothing to install")
        return 0
    def name_of(spec: str) -> str:
        return re.split(r"[=>]", spec)[0]

    # torch first and alone, so that nothing that depends on it can pull another build;
    # optional packages last and apart, so that their failure cannot block the others.
    groups = [
        [w for w in wanted if w == TORCH_PIN],
        [w for w in wanted if w != TORCH_PIN and name_of(w) not in optional],
        [w for w in wanted if name_of(w) in optional],
    ]
    for group in groups:
        if not group:
            continue
        print("setup: installing " + " ".join(group), flush=True)
        cmd = [sys.executable, "-m", "pip", "install", "-q", *PIP_NET, *group]
        if subprocess.call(cmd) == 0:
            continue
        names = {name_of(g) for g in group}
        required = sorted(names - optional)
        if required:
            print(
                f"setup: error: could not install {', '.join(required)} "
                "(no network?). Install them by hand or from wheels, then rerun "
                + ("`make data`." if extra else "`make setup`."),
                file=sys.stderr,
            )
            return 1
        print(
            f"setup: warning: could not install optional {', '.join(sorted(names))}; "
            "the suite runs without it"
            + ("" if extra else " (plain progress lines instead of bars)"),
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
