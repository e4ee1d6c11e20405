"""Trained parameters beside each result file, in each framework's usual format.

PyTorch: ``torch.save(model.state_dict())`` (``.pt``); JAX: equinox's
``tree_serialise_leaves`` (``.eqx``). A model is restored by calling its ``build`` with the
config stored in the result file, then loading the parameters into it. Written atomically,
like result files.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any

from bench.errors import UserError

SUFFIX = {"torch": ".pt", "jax": ".eqx"}


def path_for(result_path: Path, framework: str) -> Path:
    """``.../gnode-torch-seed0.json`` -> ``.../gnode-torch-seed0.pt``."""
    return Path(result_path).with_suffix(SUFFIX[framework])


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def save(model: Any, framework: str, path: Path) -> None:
    """Write ``model``'s parameters to ``path`` atomically (temporary file, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        if framework == "torch":
            import torch

            # Into a file object: given a path, torch names the archive after the (random)
            # temporary file, and the same parameters would not give the same bytes.
            with open(tmp, "wb") as f:
                torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, f)
        else:
            import equinox as eqx

            eqx.tree_serialise_leaves(tmp, model)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load(module: Any, framework: str, config: dict, n_inputs: int, n_outputs: int,
         path: Path, device: str = "cpu") -> Any:
    """Rebuild the model with ``module.build`` and load the parameters saved at ``path``."""
    if not Path(path).is_file():
        raise UserError(f"no checkpoint {path}; rerun the cell (FORCE=1) to make one")
    try:
        if framework == "torch":
            import torch

            model = module.build(config, n_inputs, n_outputs)
            state = torch.load(path, map_location="cpu", weights_only=True)
            model.load_state_dict(state)
            return model.to(device).eval()
        import equinox as eqx
        import jax

        skeleton = module.build(config, n_inputs, n_outputs, key=jax.random.PRNGKey(0))
        return eqx.tree_deserialise_leaves(path, skeleton)
    except Exception as e:  # torch.load raises many kinds (UnpicklingError, IndexError, ...)
        raise UserError(f"checkpoint {path} does not load into the model "
                        f"({type(e).__name__}: {(str(e).splitlines() or [''])[0][:120]}); "
                        "rerun the cell with FORCE=1") from None
