"""Fuzzing (hypothesis): no task file, however malformed, gets past the parser as a traceback."""

from __future__ import annotations

import pytest

pytest.importorskip("hypothesis")  # a test extra: absent offline, these skip

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(
    max_size=12)
_values = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=4)
                       | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)


def _real(name: str) -> dict:
    from bench.spec.tasks import _read, task_files

    return _read(task_files()[name])


def _mutate(raw: dict, path: list, value) -> dict:
    """``raw`` with the entry at ``path`` (one or two keys deep) replaced or deleted."""
    import copy

    out = copy.deepcopy(raw)
    node = out
    for key in path[:-1]:
        if not isinstance(node.get(key), dict):
            return out
        node = node[key]
    if value is _DELETE:
        node.pop(path[-1], None)
    else:
        node[path[-1]] = value
    return out


_DELETE = object()


@st.composite
def _task_files(draw):
    raw = _real(draw(st.sampled_from(["flipflop-2bit-ring", "expressivity-smooth", "vowels"])))
    for _ in range(draw(st.integers(1, 3))):
        top = draw(st.sampled_from(sorted(raw)))
        path = [top]
        if isinstance(raw.get(top), dict) and raw[top] and draw(st.booleans()):
            path.append(draw(st.sampled_from(sorted(raw[top]))))
        raw = _mutate(raw, path, draw(st.just(_DELETE) | _values))
    return raw


@pytest.mark.slow
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow,
          HealthCheck.function_scoped_fixture])
@given(raw=_task_files() | _values)
def test_fuzzed_task_files_are_accepted_or_refused_in_one_line(tmp_path, raw):
    import yaml

    from bench.errors import UserError
    from bench.spec.tasks import load_task_file

    path = tmp_path / "fuzzed.yaml"
    path.write_text(yaml.safe_dump(raw))
    try:
        load_task_file(path)
    except UserError as e:
        assert "\n" not in str(e)
