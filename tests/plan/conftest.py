"""Small, fast cases from the named phantoms (2 mm grid, 60 s protocol)."""

from __future__ import annotations

from pathlib import Path

import pytest

from rfasim.phantoms import write_phantom


def shrink_case(case_path: Path, spacing_mm: float = 2.0, duration_s: float = 60.0, margin_mm: float = 10.0) -> Path:
    """Rewrite a phantom's case.toml for a quick test run."""
    text = case_path.read_text()
    text = text.replace("spacing_mm = 1.0", f"spacing_mm = {spacing_mm}")
    text = text.replace("duration_s = 720.0", f"duration_s = {duration_s}")
    text = text.replace("margin_mm = 20.0", f"margin_mm = {margin_mm}")
    case_path.write_text(text)
    return case_path


@pytest.fixture
def small_case(tmp_path: Path):
    """Factory: ``small_case(name, **phantom_options) -> case.toml path``."""

    def make(name: str = "liver-25mm", **options) -> Path:
        paths = write_phantom(name, tmp_path / name, **options)
        return shrink_case(Path(paths["case"]))

    return make
