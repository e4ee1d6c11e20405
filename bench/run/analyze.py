"""Run the attractor analysis on a trained model and file its outputs beside the result.

Used by the harness right after training (in the cell's sandboxed process, same model), and by
``python -m bench analyze --result <file>``, which rebuilds the model from its checkpoint in a
sandboxed child of its own (``bench.run.isolation``): model code never runs in the harness.
Outputs, beside ``<cell>.json``:

- ``<cell>.slowpoints.json``: every reported slow point (state, readout, speed, stability,
  Jacobian eigenvalues) and the settings;
- ``<cell>.png``: the phase portrait (``bench.analysis.portraits``);
- the result file's ``attractor`` section: the summary the leaderboard shows, with the gate
  statistics of a gated model (``gate``).

The search starts from states visited on test trials and on the hold probe (``bench.analysis.hold``:
written values of the ideal memory set, then held at zero input), which is also where the gate
statistics are read: G on held states at zero input, the mechanism the paper names.
"""

from __future__ import annotations

import functools
import traceback
from pathlib import Path
from typing import Any

import numpy as np

from bench import atomic, results
from bench.analysis import attractors, hold, portraits
from bench.errors import UserError
from bench.results import environment, ledger
from bench.run import isolation, wire
from bench.spec.contract import missing_analysis_members
from bench.spec.tasks import Task, get_task
from bench.train import checkpoints

SETTINGS = {"smoke": attractors.Settings(initial=64, steps=200)}
PROBE_TRIALS = 64  # test trials whose states seed the search
TRAJECTORIES = 8  # hold probes drawn as trajectories
HELD_BINS = (0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)  # after a write: states kept
CLOSED = 0.05  # a gate below this is "closed": the unit's timescale is 20x tau or longer


def gate_statistics(gates: np.ndarray) -> dict[str, Any]:
    """The distribution of gate values (states x units, pooled): median, quantiles, the
    fraction below :data:`CLOSED`, and a 20-bin histogram over [0, 1]."""
    g = np.asarray(gates, np.float64).ravel()
    counts, _ = np.histogram(g, bins=20, range=(0.0, 1.0))
    q = np.quantile(g, [0.05, 0.25, 0.5, 0.75, 0.95])
    return {"median": float(q[2]), "fraction_closed": float(np.mean(g < CLOSED)),
            "closed_below": CLOSED, "quantiles": {"5": float(q[0]), "25": float(q[1]),
                                                   "50": float(q[2]), "75": float(q[3]),
                                                   "95": float(q[4])},
            "histogram": counts.tolist(), "n_values": int(g.size)}


def _system(model: Any, framework: str, dt: float, device: str) -> Any:
    if framework == "torch":
        from bench.analysis.system_torch import TorchSystem

        return TorchSystem(model, dt, device)
    from bench.analysis.system_jax import JaxSystem

    return JaxSystem(model, dt, device)


def analyse_model(model: Any, framework: str, task: Task, profile: str, device: str,
                  result_path: Path, title: str, test: dict | None = None,
                  probe: dict | None = None, write: bool = True) -> dict[str, Any]:
    """Analyse ``model``; write the slow points and the portrait; return the summary.

    ``test`` and ``probe`` (the test split's inputs and the hold probe) are made from the task
    when not given; the harness passes the ones it already has. ``write=False`` returns the
    summary and writes no file.

    Never raises for a model's fault: an unsupported or failing analysis is reported in the
    summary's ``status`` and ``reason``, and the cell's metrics stand.
    """
    lacking = missing_analysis_members(model)
    if lacking:
        return {"status": "unsupported",
                "reason": f"the model has no {', '.join(lacking)} (analysis interface; see "
                          "submissions/README.md)"}
    spec = hold.spec(task)
    if spec is None:
        return {"status": "unsupported", "reason": f"task {task.name} defines no memory_set "
                "and memory.hold probe"}
    try:
        system = _system(model, framework, float(task.data["dt"]), device)
        test = task.load_split("test", profile) if test is None else test
        probe = hold.probe(task) if probe is None else probe
        start = int(probe["start"])
        keep = [start + b for b in HELD_BINS if b <= max(spec["horizons"])]
        states = np.concatenate([  # the probe's states once: the search, gates, paths
            system.states(probe["inputs"][i : i + attractors.CHUNK],
                          probe["dt"][i : i + attractors.CHUNK])
            for i in range(0, len(probe["inputs"]), attractors.CHUNK)])
        probes = [{"inputs": test["inputs"][:PROBE_TRIALS], "dt": test["dt"][:PROBE_TRIALS]},
                  {"states": states[:, keep]}]
        criterion = attractors.Criterion(float(spec["epsilon"]), int(max(spec["horizons"])))
        report, arrays = attractors.analyse(system, probes, task.extra["memory_set"],
                                            task.extra["memory"]["coverage"],
                                            SETTINGS.get(profile, attractors.Settings()),
                                            criterion)
        held = states[:, keep].reshape(-1, states.shape[-1])  # after writes, zero input
        gates = system.gate(held)
        gate = None if gates is None else gate_statistics(gates)
        pick = np.linspace(0, len(probe["inputs"]) - 1, TRAJECTORIES).round().astype(int)
        traj = states[pick, start:]
        if not write:
            return {**attractors.summary(report), "gate": gate}
        base = Path(result_path)
        points_file = base.with_suffix(".slowpoints.json")
        results.write_atomic(points_file, report)
        png = portraits.draw(system, arrays, report, task.extra["memory_set"], traj, title,
                             base.with_suffix(".png"))
    except UserError:
        raise
    except Exception as e:  # the analysis must not cost the cell its metrics
        last = traceback.extract_tb(e.__traceback__)[-1]
        return {"status": "failed", "reason": f"{type(e).__name__}: {e} "
                f"({Path(last.filename).name}:{last.lineno})"}
    return {**attractors.summary(report), "gate": gate, "points_file": points_file.name,
            "portrait": png.name}


def predict(model: Any, framework: str, inputs: np.ndarray, dt: np.ndarray, device: str,
            batch: int = 256) -> np.ndarray:
    """The model's outputs on ``inputs`` (B, T, I), in batches, as numpy (B, T, O)."""
    outs = []
    for i in range(0, len(inputs), batch):
        x, d = inputs[i : i + batch], dt[i : i + batch]
        if framework == "torch":
            import torch

            with torch.no_grad():
                outs.append(model(torch.as_tensor(x, device=device),
                                  torch.as_tensor(d, device=device)).cpu().numpy())
        else:
            import jax

            with jax.default_matmul_precision("highest"):
                outs.append(np.asarray(_jax_batched()(model, x, d)))
    return np.concatenate(outs)


@functools.cache
def _jax_batched():
    import equinox as eqx
    import jax

    return eqx.filter_jit(lambda model, x, dt: jax.vmap(model)(x, dt))


def current(doc: dict[str, Any], task: Task) -> bool:
    """Whether a result's memory metric and analysis come from this version of both, with the
    task's present hold settings (epsilon, grid, horizons)."""
    a, h, spec = doc.get("attractor") or {}, doc.get("hold") or {}, hold.spec(task)
    if spec is None or a.get("version") != attractors.VERSION or h.get("version") != hold.VERSION:
        return False
    settings = h.get("settings") or {}
    crit = a.get("criterion") or {}
    return (settings.get("epsilon") == float(spec["epsilon"])
            and settings.get("grid_step") == float(spec["grid_step"])
            and settings.get("horizons") == [int(x) for x in spec["horizons"]]
            and crit.get("epsilon") == float(spec["epsilon"])
            and crit.get("horizon") == int(max(spec["horizons"])))


def results_root(path: Path) -> Path:
    """The results folder a result file belongs to: the nearest folder above it with a ledger
    (else the one its layout implies, ``<results>/<task>@v/<profile>/<class>/<file>``)."""
    for parent in Path(path).resolve().parents:
        if (parent / ledger.NAME).is_file():
            return parent
    return Path(path).resolve().parents[3]


def analyze_result(path: Path, device: str = "cpu") -> dict[str, Any]:
    """Recompute the memory metric (``hold``) and the attractor analysis of a result from its
    checkpoint; update the file, and its ledger line, in place.

    Only a result the suite wrote is updated (its bytes match the ledger), so that a file
    edited by hand never becomes verified by being analysed.
    """
    from bench.spec.registry import discover

    doc = results.read(path)
    if doc["status"] != "ok":
        raise UserError(f"{path}: the cell {doc['status']}; there is no trained model to "
                        "analyse")
    root = results_root(path)
    if not ledger.verified(root, path):
        raise UserError(f"{path}: not a result the suite wrote (its bytes differ from "
                        f"{root / ledger.NAME}); rerun the cell instead")
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
    if not ckpt.is_file():
        raise UserError(f"{ckpt}: no such file; checkpoints are local artifacts, not in git: "
                        "rerun the cell with FORCE=1 to recreate it")
    if expected and checkpoints.sha256(ckpt) != expected:
        raise UserError(f"{ckpt} does not match the checksum in {path.name}; rerun the cell "
                        "with FORCE=1")
    sizes = doc.get("checkpoint") or {}
    if "n_inputs" not in sizes:
        raise UserError(f"{path}: the result records no checkpoint; rerun the cell (FORCE=1)")
    probe = hold.probe(task) if hold.spec(task) is not None else None
    test = task.load_split("test", doc["profile"])  # its inputs seed the search
    answer = _analyse_isolated(models[doc["model"]], doc, task, path, ckpt, sizes, device,
                               {"inputs": test["inputs"][:PROBE_TRIALS],
                                "dt": test["dt"][:PROBE_TRIALS]}, probe, root)
    if probe is not None:
        doc["hold"] = hold.metrics(answer["hold"], probe, task)
    doc["attractor"] = answer["attractor"]
    # rerun later than training: say by which code
    by = environment.git_state().get("git_commit")
    doc["attractor"]["reanalysed_by"] = by
    if doc.get("hold"):
        doc["hold"]["computed_by"] = by
    ledger.write_result(root, path, doc)
    return doc["attractor"]


ANALYSIS_LIMITS = isolation.Limits(4 * 3600, 32)
ANSWER_SCHEMA = {"hold": (wire.Array("f"), type(None)), "attractor": wire.MapOf(wire.JSON)}


def analyze_main(job: dict[str, Any]) -> dict[str, Any]:
    """The isolated child's target: rebuild the model from its checkpoint (a copy in the
    scratch folder), predict on the hold probe, analyse; files go to the scratch folder."""
    from bench.spec.registry import ModelSpec

    spec: ModelSpec = job["model"]
    fw, device, probe = job["framework"], job["device"], job["probe"]
    model = checkpoints.load(spec.load(fw), fw, job["config"], job["n_inputs"],
                             job["n_outputs"], Path(job["checkpoint"]), device)
    held = None if probe is None else predict(model, fw, probe["inputs"], probe["dt"], device)
    attractor = analyse_model(model, fw, job["task"], job["profile"], device,
                              Path(job["where"]), job["title"], test=job["test"], probe=probe)
    return {"hold": held, "attractor": attractor}


def _analyse_isolated(spec: Any, doc: dict[str, Any], task: Task, path: Path, ckpt: Path,
                      sizes: dict[str, Any], device: str, test: dict[str, Any],
                      probe: dict[str, Any] | None, root: Path) -> dict[str, Any]:
    """:func:`analyze_main` in a sandboxed child (``bench.run.isolation``); its files into place."""
    with isolation.scratch_folder() as scratch:
        copy = scratch / ckpt.name  # the child cannot read the results folder
        copy.write_bytes(ckpt.read_bytes())
        job = {"model": spec, "framework": doc["framework"], "device": device,
               "config": doc["config"]["model"], "n_inputs": sizes["n_inputs"],
               "n_outputs": sizes["n_outputs"], "checkpoint": str(copy), "task": task,
               "profile": doc["profile"], "where": str(scratch / path.name),
               "title": title_for(doc), "test": test,
               "probe": None if probe is None else
               {k: probe[k] for k in ("inputs", "dt", "start")}}
        out = isolation.run("bench.run.analyze:analyze_main", job, scratch, ANALYSIS_LIMITS,
                            ANSWER_SCHEMA, [root], framework=doc["framework"])
        if not out.returned:
            why = isolation.ended(out, ANALYSIS_LIMITS)[1]
            raise UserError(f"{path}: the analysis could not finish: {why}")
        answer = out.value
        expected = {path.with_suffix(".slowpoints.json").name, path.with_suffix(".png").name}
        for key in ("points_file", "portrait"):
            name = answer["attractor"].get(key)
            if name is None:
                continue
            if name not in expected:
                raise UserError(f"{path}: the analysis' process named an unexpected file "
                                f"{name!r}")
            data = wire.read_file(scratch / name, wire.MAX_ARRAY_BYTES)
            atomic.write_bytes_atomic(path.with_name(name), data)
    return answer


def title_for(doc: dict[str, Any]) -> str:
    cfg = doc["config"]["model"]
    size = f"N = {cfg.get('N', '?')}" + (f", F = {cfg['widths']}" if "widths" in cfg else "")
    return (f"{doc['model']}/{doc['framework']} on {doc['task']} v{doc['task_version']} "
            f"({doc['profile']}, seed {doc['seed']}; {size})")

