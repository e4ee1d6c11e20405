"""The model registry (``bench.spec.registry``): discovery, metadata validation, selection."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import yaml
from conftest import BASELINES, ROOT

from bench.errors import UserError
from bench.spec import registry

TORCH_MODEL = '''
import torch


class Zero(torch.nn.Module):
    def __init__(self, n_outputs):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))
        self.n_outputs = n_outputs

    def forward(self, x, dt):
        return x.new_zeros(*x.shape[:2], self.n_outputs) + self.w


def build(config, n_inputs, n_outputs):
    return Zero(n_outputs)
'''


def unique_name() -> str:
    # module objects are cached by model name in sys.modules: never reuse a fake name
    return f"fake-{uuid.uuid4().hex[:10]}"


def meta(name, **changes):
    doc = {"name": name, "authors": ["A. Person"], "framework": "torch",
           "description": "A fake model. Used by tests.", "link": "https://example.org",
           "config": {"N": 4}}
    doc.update(changes)
    return {k: v for k, v in doc.items() if v is not None}


def make_model(base: Path, name: str, doc=None, files=("torch_model.py",), code=TORCH_MODEL):
    folder = base / name
    folder.mkdir(parents=True)
    (folder / "metadata.yaml").write_text(
        doc if isinstance(doc, str) else yaml.safe_dump(doc or meta(name)))
    for f in files:
        (folder / f).write_text(code)
    return folder


def one_line(excinfo) -> str:
    msg = str(excinfo.value)
    assert msg and "\n" not in msg
    return msg


@pytest.fixture
def subs(tmp_path, monkeypatch):
    """An empty submissions folder beside the real baselines."""
    folder = tmp_path / "submissions"
    folder.mkdir()
    monkeypatch.setattr(registry, "SOURCES", {"baseline": ROOT / "baselines",
                                              "submission": folder})
    return folder


# -- discovery and selection -----------------------------------------------------------------

def test_scan_finds_every_folder_with_metadata():
    on_disk = {p.parent.name: kind for kind, base in (("baseline", ROOT / "baselines"),
                                                      ("submission", ROOT / "submissions"))
               for p in base.glob("*/metadata.yaml")}
    found, broken = registry.scan()
    assert set(found) | set(broken) == set(on_disk)
    assert {n: m.kind for n, m in found.items()} == {n: on_disk[n] for n in found}
    assert set(BASELINES) <= set(found)
    assert list(found)[: len(BASELINES)] == sorted(BASELINES)  # baselines first, sorted
    assert registry.discover() == found


def test_select_baselines_all_and_names(subs):
    name = unique_name()
    make_model(subs, name)
    assert {m.name for m in registry.select_models("baselines")} == set(BASELINES)
    assert [m.name for m in registry.select_models("submissions")] == [name]
    every = [m.name for m in registry.select_models("all")]
    assert sorted(every) == sorted([*BASELINES, name])
    assert [m.name for m in registry.select_models("gru, gnode,gru,baselines")] == \
        ["gru", "gnode", "lstm", "mgru", "node", "rnn"]


def test_unknown_model_suggests_close_names():
    with pytest.raises(UserError) as e:
        registry.select_models("gnod")
    msg = one_line(e)
    assert "gnod" in msg and "Did you mean gnode" in msg
    with pytest.raises(UserError) as e:
        registry.select_models("transformer")
    assert "Did you mean" not in one_line(e)


def test_empty_model_list():
    with pytest.raises(UserError, match="no model"):
        registry.select_models(" ,, ")


def test_duplicate_name_across_folders_is_broken_not_fatal(subs):
    make_model(subs, "gnode")
    models, broken = registry.scan()
    assert models["gnode"].kind == "baseline"  # the first one found keeps the name
    err = broken["gnode"]
    assert isinstance(err, UserError)
    assert "already taken" in str(err) and "\n" not in str(err)


def test_invalid_yaml_metadata_is_skipped_in_groups_and_fatal_when_named(subs):
    name = unique_name()
    make_model(subs, name, doc="name: [unclosed\n")
    good = unique_name()
    make_model(subs, good)
    models, broken = registry.scan()
    assert name not in models and good in models
    assert "not valid YAML" in str(broken[name]) and "\n" not in str(broken[name])
    warnings: list[str] = []
    chosen = registry.select_models("submissions", warn=warnings.append)
    assert [m.name for m in chosen] == [good]
    assert len(warnings) == 1 and name in warnings[0] and "not valid YAML" in warnings[0]
    with pytest.raises(UserError) as e:
        registry.select_models(name, warn=warnings.append)
    assert "not valid YAML" in one_line(e)


def test_invalid_metadata_folder_is_listed_as_broken(subs):
    name = unique_name()
    make_model(subs, name, doc=meta(name, framework="tensorflow"))
    models, broken = registry.scan()
    assert name not in models
    assert "framework must be" in str(broken[name])


# -- metadata validation ---------------------------------------------------------------------

def test_valid_metadata_passes(tmp_path):
    name = unique_name()
    folder = make_model(tmp_path, name, files=("torch_model.py", "jax_model.py"))
    doc = meta(name, framework=["torch", "jax"], authors="Solo Author",
               training={"lr": 0.1}, profiles={"smoke": {"config": {"N": 2}}})
    assert registry.validate_metadata(doc, folder) is doc


@pytest.mark.parametrize("changes,fragment", [
    ({"link": None}, "missing field(s) link"),
    ({"name": "Bad Name"}, "name must be"),
    ({"name": "x" * 41}, "name must be"),
    ({"name": "other-folder"}, "must match the folder name"),
    ({"authors": []}, "authors"),
    ({"authors": [1, 2]}, "authors"),
    ({"authors": "  "}, "authors"),
    ({"framework": "tensorflow"}, "framework must be"),
    ({"framework": []}, "framework must be"),
    ({"framework": ["torch", "jax"]}, "jax_model.py is missing"),
    ({"description": 3}, "description must be text"),
    ({"config": [1, 2]}, "config must be a mapping"),
    ({"training": [1]}, "training must be a mapping"),
    ({"profiles": "smoke"}, "profiles must be a mapping"),
])
def test_invalid_metadata(tmp_path, changes, fragment):
    name = unique_name()
    folder = make_model(tmp_path, name)
    doc = meta(name)
    doc.update(changes)
    doc = {k: v for k, v in doc.items() if v is not None}
    with pytest.raises(UserError) as e:
        registry.validate_metadata(doc, folder)
    msg = one_line(e)
    assert fragment in msg
    assert str(folder / "metadata.yaml") in msg


def test_metadata_must_be_a_mapping(tmp_path):
    with pytest.raises(UserError, match="mapping"):
        registry.validate_metadata(["a", "list"], tmp_path)


# -- ModelSpec -------------------------------------------------------------------------------

def test_resolve_layers_profile_and_task_config(subs):
    name = unique_name()
    make_model(subs, name, doc=meta(name, config={"N": 64, "widths": [128], "solver": "euler"},
                                    training={"lr": 0.01},
                                    profiles={"paper": {"config": {"N": 100},
                                                        "training": {"batch_size": 10}}}))
    configs = subs / name / "configs"
    configs.mkdir()
    (configs / "flipflop-2bit-ring.yaml").write_text("paper: {config: {N: 2}}\n")
    (configs / "flipflop-3bit.yaml").write_text(
        "paper: {training: {lr: 0.5}}\nquick: {sweep: {N: [6, 12], widths: [[8], [16]]}}\n")
    spec = registry.discover()[name]
    assert spec.resolve("flipflop-3bit", "quick") == (
        {"N": 64, "widths": [128], "solver": "euler"}, {"lr": 0.01})
    assert spec.resolve("flipflop-2bit-ring", "paper") == (
        {"N": 2, "widths": [128], "solver": "euler"}, {"lr": 0.01, "batch_size": 10})
    assert spec.resolve("flipflop-3bit", "paper") == (
        {"N": 100, "widths": [128], "solver": "euler"}, {"lr": 0.5, "batch_size": 10})
    # a sweep is the product of its lists; no sweep is one run
    assert spec.sweep("flipflop-3bit", "quick") == [
        {"N": 6, "widths": [8]}, {"N": 6, "widths": [16]},
        {"N": 12, "widths": [8]}, {"N": 12, "widths": [16]}]
    assert spec.sweep("flipflop-2bit-ring", "paper") == [{}]
    assert spec.metadata["config"]["N"] == 64  # resolving never changes the metadata


def test_real_baselines_use_the_papers_sizes():
    models = registry.discover()
    for name in ("gnode", "node"):
        assert models[name].resolve("flipflop-2bit-ring", "paper")[0]["widths"] == [316, 316]
    for name in BASELINES:
        for task in ("flipflop-2bit-square", "flipflop-2bit-disk"):
            for profile in ("smoke", "quick", "paper"):
                assert models[name].resolve(task, profile)[0]["N"] == 2
        assert models[name].sweep("flipflop-3bit-fixed", "paper") == [
            {"N": 6}, {"N": 12}, {"N": 18}]
    gnode_3bit = models["gnode"].resolve("flipflop-3bit", "paper")[0]
    assert (gnode_3bit["N"], gnode_3bit["widths"]) == (6, [100, 100, 100])
    for name in ("node", "gru", "lstm", "mgru", "rnn"):
        assert models[name].resolve("flipflop-3bit", "paper")[0]["N"] == 100
    assert registry.orphan_configs(models) == []


@pytest.mark.parametrize("text, where", [
    ("paper: [1, 2]\n", "paper"),
    ("fast: {config: {N: 2}}\n", "profiles"),
    ("quick: {sweep: {N: 6}}\n", "sweep"),
    ("quick: {sweep: {N: []}}\n", "sweep"),
    ("quick: {tasks: {x: 1}}\n", "quick"),
    ("quick: {config: [1\n", "YAML"),
])
def test_malformed_task_configs_are_rejected(subs, text, where):
    name = unique_name()
    make_model(subs, name)
    (subs / name / "configs").mkdir()
    (subs / name / "configs" / "flipflop-3bit.yaml").write_text(text)
    _, broken = registry.scan()
    assert where in one_line_error_text(broken[name])


def test_a_task_config_includes_another_and_overrides_it(subs):
    name = unique_name()
    make_model(subs, name)
    configs = subs / name / "configs"
    configs.mkdir()
    (configs / "flipflop-3bit.yaml").write_text(
        "quick: {config: {N: 3}, training: {lr: 0.01}}\npaper: {config: {N: 9}}\n")
    (configs / "flipflop-3bit-fixed.yaml").write_text(
        "include: flipflop-3bit.yaml\nquick: {config: {N: 4}, sweep: {N: [4, 5]}}\n")
    (configs / "_small.yaml").write_text("smoke: {config: {N: 1}}\n")  # a template
    (configs / "flipflop-2bit-ring.yaml").write_text("include: _small.yaml\n")
    models, broken = registry.scan()
    assert name not in broken, broken.get(name)
    m = models[name]
    assert m.resolve("flipflop-2bit-ring", "smoke")[0]["N"] == 1
    assert "_small" not in m.metadata["_task_configs"] and not registry.orphan_configs(models)
    trained = {**(m.metadata.get("training") or {}), "lr": 0.01}
    assert m.resolve("flipflop-3bit-fixed", "quick") == ({**m.metadata["config"], "N": 4}, trained)
    assert m.resolve("flipflop-3bit-fixed", "paper")[0]["N"] == 9  # taken whole from the base
    assert m.sweep("flipflop-3bit-fixed", "quick") == [{"N": 4}, {"N": 5}]
    assert m.sweep("flipflop-3bit", "quick") == [{}]


@pytest.mark.parametrize("include, why", [
    ("../metadata.yaml", "must name a .yaml file beside it"),  # out of configs/
    ("/etc/hostname", "must name a .yaml file beside it"),
    ("outside.yaml", "must name a .yaml file beside it"),  # a link out of the folder
    ("flipflop-3bit-fixed.yaml", "include cycle"),
    ("flipflop-3bit.yaml", "include cycle"),  # itself
    ("missing.yaml", "must name a .yaml file beside it"),
])
def test_a_task_config_include_cannot_leave_the_folder_or_loop(subs, tmp_path, include, why):
    name = unique_name()
    make_model(subs, name)
    configs = subs / name / "configs"
    configs.mkdir()
    secret = tmp_path / "secret.yaml"
    secret.write_text("quick: {config: {N: 1}}\n")
    (configs / "outside.yaml").symlink_to(secret)  # read only through the include
    (configs / "flipflop-3bit.yaml").write_text(f"include: {include!r}\n")
    (configs / "flipflop-3bit-fixed.yaml").write_text("include: flipflop-3bit.yaml\n")
    _, broken = registry.scan()
    assert "include" in one_line_error_text(broken[name])
    assert why in str(broken[name]) and name not in registry.discover()


def test_a_task_config_that_is_a_link_is_refused(subs, tmp_path):
    name = unique_name()
    make_model(subs, name)
    (subs / name / "configs").mkdir()
    secret = tmp_path / "secret.yaml"
    secret.write_text("quick: {config: {N: 1}}\n")
    (subs / name / "configs" / "flipflop-3bit.yaml").symlink_to(secret)
    _, broken = registry.scan()
    assert "is a link" in one_line_error_text(broken[name])


def test_config_named_after_no_task_is_reported(subs):
    name = unique_name()
    make_model(subs, name)
    (subs / name / "configs").mkdir()
    (subs / name / "configs" / "flipflop-3bt.yaml").write_text("quick: {config: {N: 2}}\n")
    models = registry.discover()
    assert name in models
    assert any("flipflop-3bt.yaml: names no task" in line
               for line in registry.orphan_configs(models))


def test_frameworks_from_a_single_string(subs):
    name = unique_name()
    make_model(subs, name)
    spec = registry.discover()[name]
    assert spec.frameworks == ("torch",)
    assert spec.code_file("torch") == subs / name / "torch_model.py"


def test_load_missing_framework_is_a_user_error(subs):
    name = unique_name()
    make_model(subs, name)
    spec = registry.discover()[name]
    with pytest.raises(UserError) as e:
        spec.load("jax")
    assert "no jax implementation" in one_line(e)
    module = spec.load("torch")
    assert spec.load("torch") is module  # imported once
    out = module.build({}, 3, 2)(__import__("torch").ones(4, 5, 3), None)
    assert tuple(out.shape) == (4, 5, 2)


def test_module_without_build(subs):
    name = unique_name()
    make_model(subs, name, code="x = 1\n")
    spec = registry.discover()[name]
    with pytest.raises(UserError) as e:
        spec.load("torch")
    assert "build" in one_line(e)


def test_module_without_build_fails_every_time(subs):
    name = unique_name()
    make_model(subs, name, code="x = 1\n")
    spec = registry.discover()[name]
    for _ in range(2):
        with pytest.raises(UserError):
            spec.load("torch")


@pytest.mark.parametrize("profiles", [
    {"quick": [1, 2]},
    {"quick": {"config": [1]}},
    {"paper": {"tasks": {"flipflop-*": {"config": {"N": 2}}}}},  # per-task sizes: configs/
])
def test_malformed_profiles_are_rejected(subs, profiles):
    make_model(subs, "m", doc=meta("m", profiles=profiles))
    _, broken = registry.scan()
    assert "profiles" in one_line_error_text(broken["m"])


def one_line_error_text(err: Exception) -> str:
    msg = str(err)
    assert msg and "\n" not in msg
    return msg

