"""Set-up (``bench.tools.install``): only what is absent or below its floor is listed."""

from __future__ import annotations

import importlib.metadata as md
import importlib.util

import pytest

from bench.tools import install


def pyproject(tmp_path, deps):
    path = tmp_path / "pyproject.toml"
    lines = ",\n".join(f'    "{d}"' for d in deps)
    path.write_text(f'[project]\nname = "x"\ndependencies = [\n{lines}\n]\n')
    return path


def test_installed_at_or_above_floor_is_not_listed(tmp_path):
    have = md.version("numpy")
    deps = ["numpy>=1.0", f"numpy>={have}", "pyyaml"]
    assert install.missing_requirements(pyproject(tmp_path, deps)) == []


def test_absent_package_is_listed(tmp_path):
    deps = ["numpy>=1.0", "surely-not-installed-pkg-4b2f>=1.0", "another-absent-pkg-91c3"]
    assert install.missing_requirements(pyproject(tmp_path, deps)) == [
        "surely-not-installed-pkg-4b2f>=1.0", "another-absent-pkg-91c3"]


def test_floor_above_installed_version_is_listed(tmp_path):
    have = md.version("pyyaml")
    major = int(have.split(".")[0])
    deps = [f"pyyaml>={major + 1}.0", "numpy>=999"]
    assert install.missing_requirements(pyproject(tmp_path, deps)) == deps


def test_torch_present_is_never_reinstalled(tmp_path):
    assert importlib.util.find_spec("torch") is not None
    # even a floor far above the installed build: a GPU machine keeps its CUDA torch
    assert install.missing_requirements(pyproject(tmp_path, ["torch>=99.0"])) == []


def test_torch_absent_gets_the_pinned_cpu_build(tmp_path, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "torch" else real(name, *a))
    assert install.missing_requirements(pyproject(tmp_path, ["torch>=2.4", "numpy>=1"])) == [
        install.TORCH_PIN]
    assert install.TORCH_PIN.startswith("torch==")


def test_the_projects_own_pyproject_is_satisfied_here():
    """This environment runs the tests, so it has everything the project requires (packages
    that are optional at run time may be missing on an offline machine)."""
    import tomllib

    meta = tomllib.loads((install.ROOT / "pyproject.toml").read_text())
    optional = set(meta["tool"]["ctrnn-bench"]["optional-at-runtime"])
    missing = [m for m in install.missing_requirements() if install._parse(m)[0] not in optional]
    assert missing == []


def test_main_installs_torch_first_alone_and_optional_packages_last(monkeypatch, capsys):
    calls = []
    monkeypatch.setattr(install, "missing_requirements",
                        lambda **kw: ["tqdm>=4.60", install.TORCH_PIN, "pandas>=2.0"])
    monkeypatch.setattr(install.subprocess, "call", lambda cmd: calls.append(cmd) or 0)
    assert install.main([]) == 0
    groups = [cmd[cmd.index("-q") + 1 + len(install.PIP_NET):] for cmd in calls]
    assert groups == [[install.TORCH_PIN], ["pandas>=2.0"], ["tqdm>=4.60"]]
    assert all(cmd[:4] == [install.sys.executable, "-m", "pip", "install"] for cmd in calls)


def test_main_fails_only_for_required_packages(monkeypatch, capsys):
    monkeypatch.setattr(install.subprocess, "call", lambda cmd: 1)  # no network
    monkeypatch.setattr(install, "missing_requirements", lambda **kw: ["tqdm>=4.60"])
    assert install.main([]) == 0
    assert "warning" in capsys.readouterr().err
    monkeypatch.setattr(install, "missing_requirements", lambda **kw: ["pandas>=2.0", "tqdm>=4.60"])
    assert install.main([]) == 1
    assert "could not install pandas" in capsys.readouterr().err


def test_main_with_nothing_missing_touches_nothing(monkeypatch, capsys):
    monkeypatch.setattr(install, "missing_requirements", lambda **kw: [])
    monkeypatch.setattr(install.subprocess, "call", lambda cmd: pytest.fail("pip was called"))
    assert install.main([]) == 0
    assert "nothing to install" in capsys.readouterr().out


def test_unreadable_requirement(tmp_path):
    with pytest.raises(SystemExit, match="cannot read requirement"):
        install.missing_requirements(pyproject(tmp_path, ["numpy<2"]))


@pytest.mark.parametrize("low,high", [
    ("0.4.30", "0.10.2"),
    ("1.9", "1.10"),
    ("2.4", "2.13.0+cpu"),
    ("1.26.4", "2.0"),
    ("0.2.3", "0.2.5"),
])
def test_version_tuple_orders_numerically(low, high):
    assert install._version_tuple(low) < install._version_tuple(high)


def test_version_tuple_parsing():
    assert install._version_tuple("2.13.0+cpu") == (2, 13, 0)
    assert install._version_tuple("0.4.30") == (0, 4, 30)
    assert install._version_tuple("1.2rc1") == (1, 2)
    assert install._version_tuple("3.1.1") == install._version_tuple("3.1.1")


def test_trailing_zeros_do_not_make_a_version_older(tmp_path, monkeypatch):
    monkeypatch.setattr(install.md, "version", lambda name: "2.0")
    assert install.missing_requirements(pyproject(tmp_path, ["somepkg>=2.0.0"])) == []


def test_extra_lists_the_optional_group(tmp_path):
    path = tmp_path / "pyproject.toml"
    path.write_text('[project]\nname = "x"\ndependencies = ["numpy"]\n'
                    '[project.optional-dependencies]\n'
                    'data = ["numpy>=1.0", "surely-not-installed-pkg-4b2f>=1.0"]\n')
    assert install.missing_requirements(path) == []
    assert install.missing_requirements(path, extra="data") == [
        "surely-not-installed-pkg-4b2f>=1.0"]


def test_an_optional_extra_only_warns_when_it_cannot_be_installed(monkeypatch, capsys):
    monkeypatch.setattr(install.subprocess, "call", lambda cmd: 1)  # no network
    monkeypatch.setattr(install, "missing_requirements",
                        lambda extra=None: ["aeon>=1.0"] if extra == "data" else [])
    assert install.main(["--extra", "data"]) == 1  # make data: a real failure
    assert "could not install aeon" in capsys.readouterr().err
    assert install.main(["--extra", "data", "--optional"]) == 0  # make test: a warning
    assert "warning" in capsys.readouterr().err
