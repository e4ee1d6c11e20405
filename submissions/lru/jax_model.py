"""The linear recurrent unit (Orvieto, Smith, Gu, Fernando, Gulcehre, Pascanu & De,
"Resurrecting recurrent neural networks for long sequences", ICML 2023) in JAX, with a
continuous-time parameterisation for irregular intervals.

One LRU layer (the paper's Eq. 6-7 and Section 3), on inputs u_k of width H:

    x_k = Lambda_k x_{k-1} + gamma * (B u_k),   y_k = Re(C x_k) + D * u_k
    Lambda_k = exp((dt_k / tau) lambda),   lambda = -exp(nu) + i exp(theta)   (diagonal, N)
    gamma: trained, started at sqrt(1 - |exp(lambda)|^2)   (the paper's normalisation; the
           same for every interval)

With dt = tau it is the paper's exponential parameterisation, Lambda = exp(-exp(nu) + i
exp(theta)); other intervals decay and rotate the state for their own length, as a
continuous-time linear system (S5's view). nu and theta start on the paper's ring init:
|Lambda| uniform on the ring [r_min, r_max] by area, arg(Lambda) uniform on [0, max_phase].
B and C are complex Gaussian (variance 1 / 2H and 1 / N), D Gaussian.

The network: an encoder to width H, ``layers`` blocks of LayerNorm -> LRU -> GELU -> GLU
(a linear map to 2H, one half gating the other) with a residual, and a linear decoder.
The recurrence runs as a parallel associative scan over time (``jax.lax.associative_scan``).

No analysis interface: the state is spread over layers joined by nonlinear maps.
"""

import math

import equinox as eqx
import jax
import jax.numpy as jnp


def _combine(a, b):
    """Compose two steps x -> A x + c (a first, then b)."""
    return b[0] * a[0], b[0] * a[1] + b[1]


class LRU(eqx.Module):
    nu_log: jax.Array
    theta_log: jax.Array
    gamma_log: jax.Array
    B_re: jax.Array
    B_im: jax.Array
    C_re: jax.Array
    C_im: jax.Array
    D: jax.Array
    tau: float = eqx.field(static=True)

    def __init__(self, H: int, N: int, r_min: float, r_max: float, max_phase: float,
                 tau: float, *, key: jax.Array) -> None:
        k1, k2, k3, k4, k5, k6, k7 = jax.random.split(key, 7)
        u1, u2 = jax.random.uniform(k1, (N,)), jax.random.uniform(k2, (N,))
        self.nu_log = jnp.log(-0.5 * jnp.log(u1 * (r_max**2 - r_min**2) + r_min**2))
        self.theta_log = jnp.log(max_phase * u2)
        modulus = jnp.exp(-jnp.exp(self.nu_log))
        self.gamma_log = jnp.log(jnp.sqrt(1 - modulus**2))
        self.B_re = jax.random.normal(k3, (N, H)) / math.sqrt(2 * H)
        self.B_im = jax.random.normal(k4, (N, H)) / math.sqrt(2 * H)
        self.C_re = jax.random.normal(k5, (H, N)) / math.sqrt(N)
        self.C_im = jax.random.normal(k6, (H, N)) / math.sqrt(N)
        self.D = jax.random.normal(k7, (H,))
        self.tau = tau

    def __call__(self, u: jax.Array, dt: jax.Array) -> jax.Array:
        """u (T, H), dt (T,) -> (T, H)."""
        lam = -jnp.exp(self.nu_log) + 1j * jnp.exp(self.theta_log)
        decay = jnp.exp((dt / self.tau)[:, None] * lam[None, :])  # (T, N)
        B = (self.B_re + 1j * self.B_im) * jnp.exp(self.gamma_log)[:, None]
        drive = u.astype(jnp.complex64) @ B.T  # (T, N)
        _, x = jax.lax.associative_scan(_combine, (decay, drive))
        C = self.C_re + 1j * self.C_im
        return (x @ C.T).real + self.D * u


class Block(eqx.Module):
    norm: eqx.nn.LayerNorm
    lru: LRU
    glu: eqx.nn.Linear

    def __init__(self, H: int, N: int, r_min: float, r_max: float, max_phase: float,
                 tau: float, *, key: jax.Array) -> None:
        k1, k2 = jax.random.split(key)
        self.norm = eqx.nn.LayerNorm(H)
        self.lru = LRU(H, N, r_min, r_max, max_phase, tau, key=k1)
        self.glu = eqx.nn.Linear(H, 2 * H, key=k2)

    def __call__(self, u: jax.Array, dt: jax.Array) -> jax.Array:
        y = jax.nn.gelu(self.lru(jax.vmap(self.norm)(u), dt))
        a, b = jnp.split(jax.vmap(self.glu)(y), 2, axis=-1)
        return u + a * jax.nn.sigmoid(b)


class Network(eqx.Module):
    encoder: eqx.nn.Linear
    blocks: list
    decoder: eqx.nn.Linear

    def __init__(self, n_inputs: int, n_outputs: int, config: dict, *, key: jax.Array) -> None:
        H, keys = config["width"], jax.random.split(key, config["layers"] + 2)
        self.encoder = eqx.nn.Linear(n_inputs, H, key=keys[0])
        self.blocks = [Block(H, config["N"], config["r_min"], config["r_max"],
                             config["max_phase"], config["tau"], key=k) for k in keys[1:-1]]
        self.decoder = eqx.nn.Linear(H, n_outputs, key=keys[-1])

    def __call__(self, x: jax.Array, dt: jax.Array) -> jax.Array:
        """x (T, I), dt (T,) -> (T, O)."""
        u = jax.vmap(self.encoder)(x)
        for block in self.blocks:
            u = block(u, dt)
        return jax.vmap(self.decoder)(u)


def build(config: dict, n_inputs: int, n_outputs: int, *, key: jax.Array) -> eqx.Module:
    return Network(n_inputs, n_outputs, config, key=key)
