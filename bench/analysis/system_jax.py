"""A trained JAX (equinox) model seen as a dynamical system, for ``bench.analysis.attractors``.

The same interface as ``bench.analysis.system_torch``; the slow-point search uses ``optax.adam``
under ``jax.lax.scan`` and Jacobians come from ``jax.jacfwd``. Inputs and outputs are numpy.
"""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax


@eqx.filter_jit
def _field(model, h, dt):
    return jax.vmap(lambda x: model.field(x, dt))(h)


@eqx.filter_jit
def _states(model, x, dt):
    return jax.vmap(model.states)(x, dt)


@eqx.filter_jit
def _observe(model, h):
    return jax.vmap(model.observe)(h)


@eqx.filter_jit
def _gate(model, h):
    return jax.vmap(model.gate_values)(h)


@eqx.filter_jit
def _jacobians(model, h, dt):
    return jax.vmap(jax.jacfwd(lambda x: model.field(x, dt)))(h)


class JaxSystem:
    def __init__(self, model: Any, dt: float, device: str = "cpu") -> None:
        self.model, self.dt = model, float(dt)
        self.discrete = bool(model.discrete)
        self.dev = jax.devices("cpu" if device == "cpu" else "gpu")[0]

    def _run(self, fn, *arrays, **static):
        with jax.default_matmul_precision("highest"), jax.default_device(self.dev):
            args = (jnp.asarray(np.asarray(a, np.float32)) for a in arrays)
            return np.asarray(fn(self.model, *args, **static))

    def states(self, inputs: np.ndarray, dt: np.ndarray) -> np.ndarray:
        """The full state after every interval, (B, T, D)."""
        return self._run(_states, inputs, dt)

    def field(self, h: np.ndarray) -> np.ndarray:
        """Zero-input velocity per sampling interval, (B, D)."""
        return self._run(_field, h, dt=self.dt)

    def observe(self, h: np.ndarray) -> np.ndarray:
        return self._run(_observe, h)

    def gate(self, h: np.ndarray) -> np.ndarray | None:
        """The model's gate at zero input, (B, D), or None where it exposes none."""
        values = getattr(self.model, "gate_values", None)
        if values is None or values(jnp.zeros(np.shape(h)[1:], jnp.float32)) is None:
            return None
        return self._run(_gate, h)

    def minimise(self, h0: np.ndarray, steps: int, lr: float) -> tuple[np.ndarray, np.ndarray]:
        """Minimise q(h) = |field(h)|^2 / 2 from every row of ``h0`` at once."""
        schedule = optax.exponential_decay(lr, transition_steps=max(steps, 1), decay_rate=0.01)
        opt = optax.adam(schedule)
        model, dt = self.model, self.dt

        def q(h):
            return 0.5 * jnp.sum(_field(model, h, dt) ** 2, axis=-1)

        @jax.jit
        def search(h):
            def step(carry, _):
                h, state = carry
                grads = jax.grad(lambda x: jnp.sum(q(x)))(h)
                updates, state = opt.update(grads, state, h)
                return (optax.apply_updates(h, updates), state), None

            (h, _), _ = jax.lax.scan(step, (h, opt.init(h)), None, length=steps)
            return h, q(h)

        with jax.default_matmul_precision("highest"), jax.default_device(self.dev):
            h, qs = search(jnp.asarray(np.asarray(h0, np.float32)))
        return np.asarray(h), np.asarray(qs)

    def jacobians(self, h: np.ndarray) -> np.ndarray:
        """d field / d h at every row of ``h``, (K, D, D)."""
        return self._run(_jacobians, h, dt=self.dt)
