"""The package's structure: README's layer order holds, and the core functions stay short.

Imports are read from the source (``ast``), not by importing: every ``import rfasim...`` and
``from rfasim... import`` anywhere in a module counts (lazy imports inside functions included),
except under ``if TYPE_CHECKING:``, which names types for the type checker and creates no
dependency at run time (``viz`` annotates with the plan types it draws).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "rfasim"
README = ROOT / "README.md"

#: Longest function (lines from ``def`` to its last line, docstring included).
MAX_FUNCTION_LINES = 80


def layer_order() -> dict[str, int]:
    """``{unit: layer}`` from README's "Layer order" list (``1. `grid`, `tissue` ...``)."""
    text = README.read_text(encoding="utf-8")
    match = re.search(r"^### Layer order\n(.*?)(?=^#|\Z)", text, flags=re.MULTILINE | re.DOTALL)
    assert match, "README.md has no '### Layer order' section"
    layers: dict[str, int] = {}
    for line in match.group(1).splitlines():
        item = re.match(r"^(\d+)\.\s+(.*)$", line)
        if not item:
            continue
        # Only the names before the dash are the layer; the rest of the line explains it.
        for unit in re.findall(r"`([a-z_]+)`", item.group(2).split(" — ")[0]):
            assert unit not in layers, f"README lists {unit!r} in two layers"
            layers[unit] = int(item.group(1))
    assert layers, "README's layer order lists no module"
    return layers


def package_units() -> set[str]:
    """The package's top-level modules and subpackages (``plan``, ``solver``...) and ``rfasim``."""
    units = {"rfasim"}
    for path in PACKAGE.iterdir():
        if path.suffix == ".py" and path.name != "__init__.py":
            units.add(path.stem)
        elif path.is_dir() and (path / "__init__.py").exists():
            units.add(path.name)
    return units


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def unit_of(module: str) -> str:
    """``rfasim.plan.pipeline`` -> ``plan``; ``rfasim`` (the package root) -> ``rfasim``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "rfasim"


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


class _Imports(ast.NodeVisitor):
    """Every ``rfasim`` module a source file imports at run time, with its line."""

    def __init__(self, module: str, is_package: bool) -> None:
        self.module = module
        self.is_package = is_package
        self.found: list[tuple[int, str]] = []

    def visit_If(self, node: ast.If) -> None:  # noqa: N802 (ast's name)
        if _is_type_checking(node.test):
            for child in node.orelse:
                self.visit(child)
            return
        self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:  # noqa: N802
        for alias in node.names:
            if alias.name.split(".")[0] == "rfasim":
                self.found.append((node.lineno, alias.name))

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:  # noqa: N802
        if node.level:
            base = self.module.split(".")
            base = base[: len(base) - node.level + (1 if self.is_package else 0)]
            target = ".".join(base + ([node.module] if node.module else []))
        else:
            target = node.module or ""
        if target.split(".")[0] != "rfasim":
            return
        if target == "rfasim":  # from rfasim import plan (a submodule) or __version__ (the root)
            for alias in node.names:
                submodule = alias.name in package_units()
                self.found.append((node.lineno, f"rfasim.{alias.name}" if submodule else "rfasim"))
            return
        self.found.append((node.lineno, target))


def runtime_imports(path: Path) -> list[tuple[int, str]]:
    visitor = _Imports(module_name(path), path.name == "__init__.py")
    visitor.visit(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
    return visitor.found


def source_files() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_readme_layer_order_matches_the_folders() -> None:
    layers = layer_order()
    units = package_units()
    missing = sorted(units - set(layers))
    stale = sorted(set(layers) - units)
    assert not missing, f"not in README's layer order: {missing} (add each to the layer it belongs to)"
    assert not stale, f"README's layer order names what the package does not have: {stale}"


def test_no_module_imports_upward() -> None:
    layers = layer_order()
    upward = []
    for path in source_files():
        source = unit_of(module_name(path))
        for line, target in runtime_imports(path):
            destination = unit_of(target)
            if source in layers and destination in layers and layers[destination] > layers[source]:
                upward.append(
                    f"{path.relative_to(ROOT)}:{line} ({source}, layer {layers[source]}) imports "
                    f"{target} ({destination}, layer {layers[destination]})"
                )
    assert not upward, "upward imports:\n" + "\n".join(upward)


def test_the_checker_sees_upward_imports(tmp_path: Path) -> None:
    """The import reader finds lazy and relative imports and skips type-only ones."""
    package = tmp_path / "rfasim" / "metrics"
    package.mkdir(parents=True)
    source = package / "margin.py"
    source.write_text(
        "from typing import TYPE_CHECKING\n"
        "from .zone import x\n"
        "if TYPE_CHECKING:\n"
        "    from rfasim.plan.result import PlanResult\n"
        "def f():\n"
        "    from rfasim.plan import result\n"
        "    import rfasim.viz.scene\n"
    )
    visitor = _Imports("rfasim.metrics.margin", is_package=False)
    visitor.visit(ast.parse(source.read_text()))
    assert visitor.found == [(2, "rfasim.metrics.zone"), (6, "rfasim.plan"), (7, "rfasim.viz.scene")]


def long_functions(paths: list[Path]) -> list[str]:
    found = []
    for path in paths:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name}: {length} lines")
    return found


def test_plan_functions_are_short() -> None:
    paths = sorted((PACKAGE / "plan").rglob("*.py"))
    assert paths
    too_long = long_functions(paths)
    assert not too_long, f"functions over {MAX_FUNCTION_LINES} lines:\n" + "\n".join(too_long)


def test_physics_and_solver_functions_are_short() -> None:
    """The time loop and the kernels stay readable (issue 11 split ``simulate()`` and the kernels)."""
    paths = sorted((PACKAGE / "physics").rglob("*.py"))
    paths += [path for path in sorted(PACKAGE.glob("*.py")) if path.stem == "solver" or path.stem.startswith("simulation")]
    paths += sorted(PACKAGE.glob("simulation*/**/*.py"))
    assert paths
    too_long = long_functions(paths)
    assert not too_long, f"functions over {MAX_FUNCTION_LINES} lines:\n" + "\n".join(too_long)
