"""The plain-data channel from a model's process to the harness.

A model's process answers with a folder: ``answer.json`` (JSON values) and one ``.npy`` file per
numeric array, referenced from the JSON as ``{"__array__": "a0.npy"}``. The harness reads it
with ``json.loads`` and ``numpy.load(allow_pickle=False)``, opens nothing through a symbolic
link, reads only regular files within size limits, and checks the value against a schema.
Nothing a model's process sends is ever unpickled or executed in the harness.

Schemas are plain Python values:

- a type (``str``, ``int``, ``float``, ``bool``, ``type(None)``); ``Number`` is int or float,
  never bool;
- a tuple of schemas: any of them;
- a dict ``{key: schema}``: a JSON object with exactly these keys (a key written ``"name?"`` may
  be missing);
- :class:`MapOf`, :class:`ListOf`, :class:`Array`, and :data:`JSON` (any JSON value).
"""

from __future__ import annotations

import io
import json
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench.atomic import write_bytes_atomic

ANSWER = "answer.json"
MAX_JSON_BYTES = 64 * 2**20
MAX_ARRAY_BYTES = 8 * 2**30
MAX_ARRAYS = 10_000
_ARRAY_NAME = re.compile(r"a[0-9]{1,6}\.npy")


class WireError(ValueError):
    """The answer is not plain data of the expected shape; the message says what and where."""


class _Number:
    pass


Number = _Number  # int or float, not bool


class _Json:
    pass


JSON = _Json  # any JSON value (no arrays)


@dataclass(frozen=True)
class MapOf:
    """A JSON object with string keys and values of one schema."""
    value: Any


@dataclass(frozen=True)
class ListOf:
    item: Any


@dataclass(frozen=True)
class Array:
    """A numeric array: ``kinds`` its dtype kinds (``f`` float, ``i`` int, ``u``, ``b``)."""
    kinds: str = "fiub"
    ndim: int | None = None


# ---------------------------------------------------------------------------- the child's side

def _encode(value: Any, folder: Path, arrays: list[str]) -> Any:
    if isinstance(value, dict):
        return {str(k): _encode(v, folder, arrays) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_encode(v, folder, arrays) for v in value]
    if isinstance(value, (np.generic,)):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "__array__") and not isinstance(value, (str, bytes)):
        name = f"a{len(arrays)}.npy"
        np.save(folder / name, np.asarray(value), allow_pickle=False)
        arrays.append(name)
        return {"__array__": name}
    return value


def write(folder: Path, value: Any) -> None:
    """Write ``value`` (JSON values, numpy-like arrays) as an answer folder."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    plain = _encode(value, folder, [])
    write_bytes_atomic(folder / ANSWER, json.dumps(plain).encode())


# --------------------------------------------------------------------------- the harness's side

def read_file(path: Path, max_bytes: int) -> bytes:
    """A regular file's bytes, never through a symbolic link, never past ``max_bytes``."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as e:
        raise WireError(f"{Path(path).name}: cannot be opened ({e.strerror}; a link or missing)"
                        ) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise WireError(f"{Path(path).name}: not a regular file")
        if st.st_size > max_bytes:
            raise WireError(f"{Path(path).name}: {st.st_size} bytes, past the limit of "
                            f"{max_bytes}")
        chunks, left = [], max_bytes + 1
        while left > 0:
            chunk = os.read(fd, min(left, 2**24))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        data = b"".join(chunks)
        if len(data) > max_bytes:
            raise WireError(f"{Path(path).name}: grew past the limit of {max_bytes} bytes")
        return data
    finally:
        os.close(fd)


def _load_array(folder: Path, name: Any, loaded: list[int]) -> np.ndarray:
    if not isinstance(name, str) or not _ARRAY_NAME.fullmatch(name):
        raise WireError(f"array reference {name!r} is not a file name like a0.npy")
    loaded[0] += 1
    if loaded[0] > MAX_ARRAYS:
        raise WireError(f"more than {MAX_ARRAYS} arrays")
    data = read_file(folder / name, MAX_ARRAY_BYTES)
    try:
        array = np.load(io.BytesIO(data), allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise WireError(f"{name}: not a plain numeric .npy file ({e})") from None
    if not isinstance(array, np.ndarray) or array.dtype.kind not in "fiub":
        raise WireError(f"{name}: dtype {getattr(array, 'dtype', '?')} is not numeric")
    return array


def _decode(value: Any, folder: Path, loaded: list[int]) -> Any:
    if isinstance(value, dict):
        if set(value) == {"__array__"}:
            return _load_array(folder, value["__array__"], loaded)
        return {k: _decode(v, folder, loaded) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v, folder, loaded) for v in value]
    return value


def read(folder: Path, schema: Any = JSON) -> Any:
    """The answer in ``folder``, checked against ``schema``; :class:`WireError` otherwise."""
    folder = Path(folder)
    raw = read_file(folder / ANSWER, MAX_JSON_BYTES)
    try:
        value = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise WireError(f"{ANSWER}: not JSON ({type(e).__name__})") from None
    value = _decode(value, folder, [0])
    check(value, schema, "answer")
    return value


def check(value: Any, schema: Any, where: str) -> None:
    """Raise :class:`WireError` naming ``where`` unless ``value`` fits ``schema``."""
    if isinstance(schema, tuple):
        problems = []
        for option in schema:
            try:
                check(value, option, where)
                return
            except WireError as e:
                problems.append(str(e))
        raise WireError(problems[0] if len(problems) == 1 else
                        f"{where}: {_describe(value)} fits none of the allowed forms")
    if schema is Number:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise WireError(f"{where}: {_describe(value)}, not a number")
        return
    if schema is JSON:
        if isinstance(value, np.ndarray):
            raise WireError(f"{where}: an array where plain JSON is expected")
        if isinstance(value, dict):
            for k, v in value.items():
                check(v, JSON, f"{where}.{k}")
        elif isinstance(value, list):
            for i, v in enumerate(value):
                check(v, JSON, f"{where}[{i}]")
        return
    if isinstance(schema, type):
        ok = isinstance(value, schema) and not (schema in (int, float) and isinstance(value, bool))
        if schema is float and isinstance(value, int) and not isinstance(value, bool):
            ok = True
        if not ok:
            raise WireError(f"{where}: {_describe(value)}, not {schema.__name__}")
        return
    if isinstance(schema, Array):
        if not isinstance(value, np.ndarray) or value.dtype.kind not in schema.kinds:
            raise WireError(f"{where}: {_describe(value)}, not a numeric array")
        if schema.ndim is not None and value.ndim != schema.ndim:
            raise WireError(f"{where}: an array of {value.ndim} dimensions, not {schema.ndim}")
        return
    if isinstance(schema, ListOf):
        if not isinstance(value, list):
            raise WireError(f"{where}: {_describe(value)}, not a list")
        for i, v in enumerate(value):
            check(v, schema.item, f"{where}[{i}]")
        return
    if isinstance(schema, MapOf):
        if not isinstance(value, dict):
            raise WireError(f"{where}: {_describe(value)}, not an object")
        for k, v in value.items():
            check(v, schema.value, f"{where}.{k}")
        return
    if isinstance(schema, dict):
        if not isinstance(value, dict):
            raise WireError(f"{where}: {_describe(value)}, not an object")
        optional = {k[:-1] for k in schema if k.endswith("?")}
        fields = {k.rstrip("?"): s for k, s in schema.items()}
        unknown = sorted(set(value) - set(fields))
        if unknown:
            raise WireError(f"{where}: unexpected field {unknown[0]!r}")
        for key, sub in fields.items():
            if key not in value:
                if key not in optional:
                    raise WireError(f"{where}: missing field {key!r}")
                continue
            check(value[key], sub, f"{where}.{key}")
        return
    raise TypeError(f"not a schema: {schema!r}")


def _describe(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return f"an array of dtype {value.dtype}"
    text = repr(value)
    return f"{type(value).__name__} {text[:40] + '…' if len(text) > 40 else text}"
