"""The list of slow tests in tests/conftest.py names tests that exist."""

from __future__ import annotations

import importlib

from tests.conftest import SLOW_TESTS


def test_every_listed_slow_test_exists() -> None:
    for node_id in SLOW_TESTS:
        path, _, name = node_id.partition("::")
        module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
        assert callable(getattr(module, name, None)), f"{node_id} is gone: update SLOW_TESTS"
