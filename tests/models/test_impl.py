"""``bench.models.impl``: which implementation runs."""

from __future__ import annotations

import pytest

from bench.models import impl


def test_fast_is_the_default_and_using_restores(monkeypatch):
    monkeypatch.delenv(impl.ENV, raising=False)
    assert impl.selected() == "fast"
    with impl.using("reference"):
        assert impl.selected() == "reference"
        with impl.using("fast"):
            assert impl.selected() == "fast"
        assert impl.selected() == "reference"
    assert impl.selected() == "fast"


def test_environment_reaches_child_processes_and_is_checked(monkeypatch):
    monkeypatch.setenv(impl.ENV, "reference")
    assert impl.selected() == "reference"
    with impl.using("fast"):  # an explicit choice wins
        assert impl.selected() == "fast"
    monkeypatch.setenv(impl.ENV, "turbo")
    with pytest.raises(ValueError, match=r"turbo.*fast, reference"):
        impl.selected()


def test_unknown_names_are_refused():
    with pytest.raises(ValueError, match="unknown implementation"), impl.using("turbo"):
        pass
