"""Every docstring example in the package runs (one test per module; examples use tiny grids)."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import rfasim

MODULES = sorted(
    info.name for info in pkgutil.walk_packages(rfasim.__path__, prefix="rfasim.") if not info.name.endswith("__main__")
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in finder.find(module, name):
        runner.run(test)
    results = runner.summarize(verbose=False)
    assert results.failed == 0, f"{results.failed} of {results.attempted} docstring examples failed in {name}"


def test_the_package_has_examples() -> None:
    """Guard against a finder that silently finds nothing."""
    found = sum(len(doctest.DocTestFinder(exclude_empty=True).find(importlib.import_module(n), n)) for n in MODULES)
    assert found >= 30
