"""Run the attractor analysis on a trained model and file its outputs beside the result.

Used by the harness right after training (same process, same model), and by
``python -m bench analyze --result <file>``, which rebuilds the model from its checkpoint.
Outputs, beside ``<cell>.json``:

- ``<cell>.slowpoints.json``: every reported slow point (state, readout, speed, stability,
  Jacobian eigenvalues) and the settings;
- ``<cell>.png``: the phase portrait (``bench.portraits``);
- the result file's ``attractor`` section: the summary the leaderboard shows.
"""

from __future__ import annotations

import traceback
from pathlib import Path
from typing import Any

from bench import attractors, checkpoints, environment, memory, portraits, results
from bench.errors import UserError
from bench.tasks import Task, get_task

INTERFACE = ("states", "field", "observe", "discrete")
SETTINGS = {"smoke": attractors.Settings(initial=64, steps=200)}
PROBE_TRIALS = 64  # test trials whose states seed the search
TRAJECTORIES = 8  # drift probes drawn as trajectories


def missing_interface(model: Any) -> list[str]:
    return [name for name in INTERFACE if not hasattr(model, name)]


def _system(model: Any, framework: str, dt: float, device: str) -> Any:
    if framework == "torch":
        from bench.system_torch import TorchSystem

        return TorchSystem(model, dt, device)
    from bench.system_jax import JaxSystem

    return JaxSystem(model, dt, device)


def analyse_model(model: Any, framework: str, task: Task, profile: str, device: str,
                  result_path: Path, title: str, test: dict | None = None,
                  drift: dict | None = None) -> dict[str, Any]:
    """Analyse ``model``; write the slow points and the portrait; return the summary.

    ``test`` and ``drift`` (the test split and drift probe) are made from the task when not
    given; the harness passes the ones it already has.

    Never raises for a model's fault: an unsupported or failing analysis is reported in the
    summary's ``status`` and ``reason``, and the cell's metrics stand.
    """
    lacking = missing_interface(model)
    if lacking:
        return {"status": "unsupported",
                "reason": f"the model has no {', '.join(lacking)} (analysis interface; see "
                          "submissions/README.md)"}
    if "memory_set" not in task.extra:
        return {"status": "unsupported", "reason": f"task {task.name} defines no memory_set"}
    try:
        system = _system(model, framework, float(task.data["dt"]), device)
        test = task.load_split("test", profile) if test is None else test
        drift = memory.drift_probe(task, profile) if drift is None else drift
        probes = [{"inputs": test["inputs"][:PROBE_TRIALS], "dt": test["dt"][:PROBE_TRIALS]},
                  {"inputs": drift["inputs"], "dt": drift["dt"]}]
        report, arrays = attractors.analyse(system, probes, task.extra["memory_set"],
                                            task.extra["memory"]["coverage"],
                                            SETTINGS.get(profile, attractors.Settings()))
        start = int(drift["start"])
        traj = system.states(drift["inputs"][:TRAJECTORIES], drift["dt"][:TRAJECTORIES])
        base = Path(result_path)
        points_file = base.with_suffix(".slowpoints.json")
        results.write_atomic(points_file, report)
        png = portraits.draw(system, arrays, report, task.extra["memory_set"],
                             traj[:, start:], title, base.with_suffix(".png"))
    except UserError:
        raise
    except Exception as e:  # the analysis must not cost the cell its metrics
        last = traceback.extract_tb(e.__traceback__)[-1]
        return {"status": "failed", "reason": f"{type(e).__name__}: {e} "
                f"({Path(last.filename).name}:{last.lineno})"}
    return {**attractors.summary(report), "points_file": points_file.name,
            "portrait": png.name}


def analyze_result(path: Path, device: str = "cpu") -> dict[str, Any]:
    """Rerun the analysis for a result file from its checkpoint; update the file in place."""
    from bench.registry import discover

    doc = results.read(path)
    if doc["status"] != "ok":
        raise UserError(f"{path}: the cell {doc['status']}; there is no trained model to "
                        "analyse")
    models = discover()
    if doc["model"] not in models:
        raise UserError(f"{path}: model {doc['model']} is not registered here; add its folder "
                        "to submissions/")
    task = get_task(doc["task"])
    if task.version != doc["task_version"]:
        raise UserError(f"{path}: task {task.name} is at version {task.version} now, the "
                        f"result at {doc['task_version']}; rerun the cell")
    fw = doc["framework"]
    ckpt = checkpoints.path_for(path, fw)
    expected = (doc.get("checkpoint") or {}).get("sha256")
    if expected and ckpt.is_file() and checkpoints.sha256(ckpt) != expected:
        raise UserError(f"{ckpt} does not match the checksum in {path.name}; rerun the cell "
                        "with FORCE=1")
    sizes = doc.get("checkpoint") or {}
    if "n_inputs" not in sizes:
        raise UserError(f"{path}: the result records no checkpoint; rerun the cell (FORCE=1)")
    model = checkpoints.load(models[doc["model"]].load(fw), fw, doc["config"]["model"],
                             sizes["n_inputs"], sizes["n_outputs"], ckpt, device)
    doc["attractor"] = analyse_model(model, fw, task, doc["profile"], device, path,
                                     title_for(doc))
    # rerun later than training: say by which code
    doc["attractor"]["reanalysed_by"] = environment.git_state().get("git_commit")
    results.write_atomic(path, doc)
    return doc["attractor"]


def title_for(doc: dict[str, Any]) -> str:
    cfg = doc["config"]["model"]
    size = f"N = {cfg.get('N', '?')}" + (f", F = {cfg['widths']}" if "widths" in cfg else "")
    return (f"{doc['model']}/{doc['framework']} on {doc['task']} v{doc['task_version']} "
            f"({doc['profile']}, seed {doc['seed']}; {size})")

