"""JAX's persistent compilation cache, for cells of one shape run in separate processes.

The harness gives each model its own cache folder (``bench.run.isolation.compile_cache_dir``),
the only folder besides its scratch that its sandboxed process may write: a submission can fill
its own cache, never the baselines'. A JAX trainer calls :func:`enable` first; the compiles it
then looks up and finds are counted from JAX's monitoring events and reported in the cell's
timing (``compile_cache_hits``, ``compile_cache_misses``).
"""

from __future__ import annotations

import os

ENV = "BENCH_JAX_COMPILE_CACHE"  # the folder, set by the harness in the model's process
_HIT, _MISS = "/jax/compilation_cache/cache_hits", "/jax/compilation_cache/cache_misses"
_counts = {_HIT: 0, _MISS: 0}
_listening = False


def _count(event: str, **_: object) -> None:
    if event in _counts:
        _counts[event] += 1


def enable(folder: str | None = None) -> bool:
    """Use the persistent cache in ``folder`` (default: ``$BENCH_JAX_COMPILE_CACHE``) for every
    compile from now on, however short; False (nothing changed) when there is none."""
    global _listening
    folder = folder or os.environ.get(ENV)
    if not folder:
        return False
    import jax
    from jax._src import compilation_cache  # no public reset: a forked child inherits state

    if not _listening:
        jax.monitoring.register_event_listener(_count)
        _listening = True
    jax.config.update("jax_compilation_cache_dir", folder)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    compilation_cache.reset_cache()  # initialised, unused, in the zygote before the fork
    return True


def stats() -> dict[str, int]:
    """Compiles found in the cache and compiles it did not have, since this process began."""
    return {"compile_cache_hits": _counts[_HIT], "compile_cache_misses": _counts[_MISS]}
