"""The package type-checks with mypy, configured in pyproject.toml ``[tool.mypy]``.

Modules still being rewritten are listed there in commented overrides ("to be typed after the
refactor"); every other module must check clean. The cache goes to ``.mypy_cache`` in the
checkout (git-ignored), so a second run takes seconds.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def test_the_package_is_marked_typed():
    """PEP 561: ``py.typed`` in the package, and shipped with it."""
    assert (ROOT / "rfasim" / "py.typed").is_file()
    assert "py.typed" in PYPROJECT["tool"]["setuptools"]["package-data"]["rfasim"]


def test_every_overridden_rfasim_module_exists():
    """A stale entry in an override would silently stop meaning anything."""
    for override in PYPROJECT["tool"]["mypy"].get("overrides", []):
        modules = override["module"]
        for name in [modules] if isinstance(modules, str) else modules:
            if not name.startswith("rfasim"):
                continue
            relative = Path(*name.split("."))
            exists = (ROOT / relative.with_suffix(".py")).is_file() or (
                ROOT / relative / "__init__.py"
            ).is_file()
            assert exists, f"pyproject.toml [tool.mypy] override names {name}, which does not exist"


@pytest.mark.slow
def test_mypy_finds_no_errors():
    if importlib.util.find_spec("mypy") is None:
        pytest.fail("mypy is not installed: it is in the 'test' extra (pip install -e '.[test]')")
    completed = subprocess.run(
        [sys.executable, "-m", "mypy", "--cache-dir", str(ROOT / ".mypy_cache")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    report = (completed.stdout + completed.stderr).strip()
    assert completed.returncode == 0, f"mypy found errors:\n{report}"
