"""``bench.spec.requirements``: a model's own pinned packages. Only pinned releases from the
index are accepted; each lives in a folder that only the model's own process puts on its path;
a model whose requirement is missing is skipped in one line while the rest of the run goes on.
"""

from __future__ import annotations

import json
import shutil
import sys
import uuid

import pytest
import yaml

from bench import cli
from bench.errors import UserError
from bench.spec import registry, requirements

GOOD = ["ncps==1.0.1", "torchcde==0.2.5", "Some_Package.name==2.0rc1"]
HOSTILE = [
    "ncps",  # unpinned: whatever the index serves that day
    "ncps>=1.0",
    "ncps==1.0.1; os_name == 'posix'",  # a marker
    "--index-url=http://evil.example/simple ncps==1.0.1",  # a pip option
    "-e .",
    "git+https://evil.example/ncps.git",
    "ncps @ https://evil.example/ncps-1.0.1-py3-none-any.whl",  # a direct URL
    "../../outside",
    "ncps==1.0.1 --pre",
    "ncps==1.0.1\nrequests==2.0",
    "ncps[extra]==1.0.1",  # extras pull packages nobody listed
    "x==1.tar.gz",  # pip would take a file of that name in its working folder
    "x==1.whl",
    "ncps==1.0.1\n",
    "ncps==1.0.1+local",
    "",
]


@pytest.mark.parametrize("requirement", GOOD)
def test_pinned_packages_from_the_index_are_accepted(requirement):
    assert requirements.problem([requirement]) is None


@pytest.mark.parametrize("requirement", HOSTILE)
def test_anything_but_a_pinned_package_is_refused_in_one_line(requirement):
    why = requirements.problem([requirement])
    assert why is not None and "\n" not in why and "name==version" in why


def test_the_field_must_be_a_list_and_name_each_package_once():
    assert "list" in requirements.problem("ncps==1.0.1")
    assert "list" in requirements.problem([1])
    assert "twice" in requirements.problem(["ncps==1.0.1", "NCPS==1.0.2"])
    assert requirements.problem([]) is None


def _model(folder, name: str, code: str, reqs: list[str]) -> None:
    (folder / name).mkdir()
    (folder / name / "metadata.yaml").write_text(yaml.safe_dump({
        "name": name, "authors": "Test", "framework": "torch", "description": "A model.",
        "link": "-", "config": {"N": 2}, "requirements": reqs}))
    (folder / name / "torch_model.py").write_text(code)


@pytest.fixture
def subs(tmp_path, monkeypatch):
    """An empty submissions folder beside the baselines."""
    folder = tmp_path / "submissions"
    folder.mkdir()
    monkeypatch.setattr(registry, "SOURCES", {"baseline": registry.ROOT / "baselines",
                                              "submission": folder})
    return folder


@pytest.fixture
def fake_package():
    """A package name no index has, installed by :func:`_fake_install` into the real
    requirements folder (the models' processes look there) and removed afterwards."""
    name = f"fakepkg_{uuid.uuid4().hex[:8]}"
    yield name
    shutil.rmtree(requirements.folder(f"{name}==1.0"), ignore_errors=True)


def test_metadata_with_a_hostile_requirement_is_a_one_line_error(subs):
    name = f"req-{uuid.uuid4().hex[:8]}"
    _model(subs, name, "def build(c, i, o):\n    pass\n", ["pkg @ https://evil.example/p.whl"])
    found, broken = registry.scan()
    assert name not in found
    message = str(broken[name])
    assert "metadata.yaml" in message and "name==version" in message and "\n" not in message


def _fake_install(name: str, version: str, module: str, pth: str | None = None) -> None:
    """What pip --target leaves: the package and its .dist-info; ``pth``: a .pth file, which
    site-packages would run at every interpreter start."""
    where = requirements.folder(f"{name}=={version}")
    where.mkdir(parents=True)
    (where / f"{name}.py").write_text(module)
    (where / f"{name}-{version}.dist-info").mkdir()
    (where / f"{name}-{version}.dist-info" / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n\nThe description.\n")
    if pth is not None:
        (where / "zz-hook.pth").write_text(pth)


def test_installed_means_the_pinned_version_is_in_its_folder(fake_package):
    pin = f"{fake_package}==1.0"
    assert requirements.missing([pin]) == [pin]
    _fake_install(fake_package, "1.0", "VALUE = 1\n")
    assert requirements.missing([pin]) == []
    assert requirements.missing([f"{fake_package}==1.1"]) == [f"{fake_package}==1.1"]
    # the dist-info is judged by its metadata, not its folder's spelling
    info = next(requirements.folder(pin).glob("*.dist-info"))
    info.rename(info.with_name(f"{fake_package.replace('_', '.')}-1.0.0.dist-info"))
    assert requirements.missing([pin]) == []
    (next(requirements.folder(pin).glob("*.dist-info")) / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {fake_package}\nVersion: 1.1\n")
    assert requirements.missing([pin]) == [pin]


MODEL_USING_FAKEPKG = '''
import torch
from torch import nn

import fakepkg as pkg


class M(nn.Module):
    def __init__(self, o):
        super().__init__()
        self.readout = nn.Linear(1, o)

    def forward(self, x, dt):
        return self.readout(x[..., :1] * pkg.SCALE)


def build(config, n_inputs, n_outputs):
    return M(n_outputs)
'''


@pytest.mark.slow
def test_a_run_skips_a_model_whose_requirement_is_missing_and_isolates_the_rest(
        subs, fake_package, tmp_path, capsys):
    """Three models: one whose requirement set-up never installed (one line, skipped), one
    whose requirement is installed (it runs, and records its requirement), and the GRU. The
    installed requirement carries a .pth hook: neither the harness nor the model's process
    runs it, and the harness never has the requirement's folder on its path."""
    missing, ready = f"req-{uuid.uuid4().hex[:8]}", f"req-{uuid.uuid4().hex[:8]}"
    code = MODEL_USING_FAKEPKG.replace("import fakepkg", f"import {fake_package}")
    _model(subs, missing, code, ["nonexistent-package==9.9.9"])
    _model(subs, ready, code, [f"{fake_package}==1.0"])
    marker = tmp_path / "pth-ran"
    _fake_install(fake_package, "1.0", "SCALE = 2.0\n",
                  pth=f"import pathlib; pathlib.Path({str(marker)!r}).write_text('ran')\n")
    out = tmp_path / "results"
    status = cli.main(["run", "--model", f"{missing},{ready},gru", "--framework", "torch",
                       "--task", "flipflop-2bit-ring", "--profile", "smoke", "--seeds", "0",
                       "--results-dir", str(out)])
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if missing in line]
    assert len(lines) == 1 and "nonexistent-package==9.9.9" in lines[0]
    assert "make setup MODEL=" in lines[0] and "skipped" in lines[0]
    assert status == 0
    assert not list(out.rglob(f"{missing}-*.json"))
    doc, = (json.loads(p.read_text()) for p in out.rglob(f"{ready}-torch-seed0.json"))
    assert doc["status"] == "ok"
    assert doc["provenance"]["requirements"] == [f"{fake_package}==1.0"]
    assert json.loads(next(out.rglob("gru-torch-seed0.json")).read_text())["status"] == "ok"
    assert not marker.exists()
    assert str(requirements.folder(f"{fake_package}==1.0")) not in sys.path
    assert fake_package not in sys.modules


def test_a_model_process_without_its_requirement_fails_in_one_line(subs, fake_package):
    name = f"req-{uuid.uuid4().hex[:8]}"
    _model(subs, name, MODEL_USING_FAKEPKG, [f"{fake_package}==2.0"])
    with pytest.raises(UserError, match=rf"needs {fake_package}==2\.0, not installed; `make"):
        registry.discover()[name].load("torch")
