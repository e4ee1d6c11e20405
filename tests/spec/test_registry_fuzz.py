"""Fuzzing (hypothesis): no metadata, however malformed, gets past the parser as a traceback."""

from __future__ import annotations

import pytest

pytest.importorskip("hypothesis")  # a test extra: absent offline, these skip

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(
    max_size=12)
_values = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=4)
                       | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)
_GOOD = {"name": "fuzzed", "authors": ["a"], "framework": "torch", "description": "d",
         "link": "l", "config": {"N": 4}, "training": {"lr": 0.1},
         "profiles": {"smoke": {"config": {"N": 2}}}}


@pytest.mark.slow
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow,
          HealthCheck.function_scoped_fixture])
@given(raw=_values | st.dictionaries(st.sampled_from(list(_GOOD)), _values)
       | st.builds(lambda k, v: {**_GOOD, k: v}, st.sampled_from(list(_GOOD)), _values))
def test_fuzzed_metadata_is_accepted_or_refused_in_one_line(tmp_path, raw):
    from bench.errors import UserError
    from bench.spec.registry import validate_metadata

    folder = tmp_path / "fuzzed"
    folder.mkdir(exist_ok=True)
    (folder / "torch_model.py").write_text("def build(config, n_inputs, n_outputs): ...\n")
    try:
        validate_metadata(raw, folder)
    except UserError as e:
        assert "\n" not in str(e)
