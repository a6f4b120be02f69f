"""Shared test set-up: deterministic RNG, quiet progress bars, headless plotting."""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("PYVISTA_OFF_SCREEN", "true")


@pytest.fixture(autouse=True)
def _seed_random_generators() -> None:
    np.random.seed(12345)  # noqa: NPY002 - seeds legacy global-state users (py-pde, Numba RNG)
