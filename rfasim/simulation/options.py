"""Numerical options of a simulation: :class:`SimulationOptions`."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from rfasim.physics.electric import (
    FACE_NAMES,
    AMGSolver,
    ConjugateGradientSolver,
    MultigridSolver,
)

#: Planning figure for memory checks: bytes per voxel the solver needs at its peak (measured:
#: 349 B/voxel of growth on the 80 mm standard case, benchmarks/README.md; rounded up).
BYTES_PER_VOXEL_ESTIMATE = 400

#: The linear solvers that can be named in options and case files.
ELECTRIC_SOLVERS: dict[str, type] = {
    "multigrid": MultigridSolver,
    "amg": AMGSolver,
    "cg": ConjugateGradientSolver,
}


@runtime_checkable
class LinearSolver(Protocol):
    """What the electric problem needs of a linear solver (see :mod:`rfasim.physics.electric`)."""

    def solve(self, level: Any, rhs: np.ndarray, guess: np.ndarray | None) -> tuple[np.ndarray, int]:
        """Solve the level's system; return the potential (grid shape) and the iteration count."""
        ...


@dataclass(frozen=True)
class SimulationOptions:
    """Numerical options; the defaults are what the tests and benchmarks validate.

    Parameters
    ----------
    time_step_safety : float
        Fraction of the stable explicit step to use (0 < s <= 1).
    maximum_time_step_s : float
        Upper bound on the step (s), so the generator control and the records stay smooth.
    electric_update_tolerance : float
        Heating-weighted relative drift of sigma that triggers a new electric solve.
    record_interval_s : float
        Interval of the time-series records (s).
    grounded_faces : tuple of str
        Outer faces held at 0 V (all six by default; empty for an insulated bipolar box).
    electric_solver : str or LinearSolver
        ``"multigrid"`` (matrix-free geometric multigrid + CG, default), ``"amg"`` (pyamg),
        ``"cg"`` (Jacobi-preconditioned CG), or any object with ``solve(level, rhs, guess)``.
    electric_update : str
        How the field is re-solved when sigma drifts: ``"local"`` (default: a box around the
        electrodes, at least 10 voxels beyond them, with the last global potential outside,
        corrected globally when its error indicators trip, and global solves wherever that box
        would hold more than 40 % of the grid;
        :meth:`rfasim.physics.electric.ElectricProblem.update`) or ``"global"`` (a warm-started
        solve of the whole grid every time).
    damage_models : tuple of str
        Damage models accumulated during the run (names in
        :data:`rfasim.physics.damage.DAMAGE_MODELS`); ``"arrhenius"`` is always included because
        perfusion stops where its Omega reaches 1.
    """

    time_step_safety: float = 0.9
    maximum_time_step_s: float = 1.0
    electric_update_tolerance: float = 0.02
    record_interval_s: float = 1.0
    grounded_faces: tuple[str, ...] = FACE_NAMES
    electric_solver: str | LinearSolver = "multigrid"
    electric_update: str = "local"
    damage_models: tuple[str, ...] = ("arrhenius", "cem43")

    def __post_init__(self) -> None:
        if not 0 < self.time_step_safety <= 1:
            raise ValueError(f"time_step_safety must lie in (0, 1], got {self.time_step_safety!r}")
        for name in ("maximum_time_step_s", "electric_update_tolerance", "record_interval_s"):
            value = getattr(self, name)
            if not math.isfinite(value) or value <= 0:
                raise ValueError(f"{name} must be positive and finite, got {value!r}")
        if isinstance(self.electric_solver, str):
            if self.electric_solver not in ELECTRIC_SOLVERS:
                raise ValueError(
                    f"electric_solver must be one of {', '.join(map(repr, ELECTRIC_SOLVERS))} "
                    f"or a solver object, got {self.electric_solver!r}"
                )
        elif not isinstance(self.electric_solver, LinearSolver):
            raise ValueError(f"electric_solver object {self.electric_solver!r} has no solve(level, rhs, guess) method")
        if self.electric_update not in ("global", "local"):
            raise ValueError(f"electric_update must be 'global' or 'local', got {self.electric_update!r}")
        models: object = self.damage_models  # checked at run time: options also come from files
        if not isinstance(models, tuple) or not all(isinstance(n, str) for n in models):
            raise ValueError(f"damage_models must be a tuple of model names, got {models!r}")

    def make_electric_solver(self) -> LinearSolver:
        """A solver instance for one electric configuration."""
        if isinstance(self.electric_solver, str):
            return ELECTRIC_SOLVERS[self.electric_solver]()
        return self.electric_solver
