"""Every module's docstring examples run as tests (the same as ``pytest --doctest-modules
src/sua``), so a runnable example in the docs cannot go stale."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import sua

#: Every module of the package but the ``python -m sua`` entry point, which runs the CLI on import.
MODULES = sorted(m.name for m in pkgutil.walk_packages(sua.__path__, "sua.")
                 if not m.name.endswith("__main__"))


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples in {name} failed (see stdout)"
