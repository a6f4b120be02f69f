"""Local update of the RF field: re-solve a box around the electrodes, keep the far field.

During an ablation the conductivity changes fast only near the electrodes (heating falls off
as 1/r^2 to 1/r^4), so between two global solves the field is updated in a box around them
(``margin_mm`` beyond the metal and its partly filled voxels).  Outside the box the last
global potential ``u_g`` is kept, scaled by one number ``s``: the far field of a change near
the electrodes is dominated by the change of the total current (its monopole), so
``u = s u_g`` outside.  The box problem is linear in ``s``, so two box solves suffice:

* ``u_a``: electrodes at their potential, 0 V held outside the box;
* ``u_b``: electrodes at 0 V, ``u_g`` held outside;

and ``u = u_a + s u_b`` inside.  ``s`` is fixed by the current through the box's surface: it
must equal ``s`` times the current the global solution carried there (the exterior is linear
and, to first order, unchanged).  When the exterior carries no net current (bipolar pair,
insulated box) ``s`` minimises the face-by-face mismatch instead.

Error indicators, checked at every update, trigger a global solve (warm-started from the local
field) when they pass their tolerances:

* ``flux_mismatch``: the relative L1 mismatch, face by face, between the current leaving the
  box and ``s`` times the global solution's — zero when the exterior really is ``s u_g``.  On
  the standard case the heating error of the update was measured at about a quarter of it
  (``benchmarks/electric_local_update.py``);
* ``exterior_drift``: the heating-weighted conductivity drift outside the box since the global
  solve, relative to the power at that solve (the first-order change of the conductance that
  the update ignores).

Inside the box the heating is exact for the held boundary values; outside it is the global
heating times ``s^2`` (frozen potential, as between solves).  The conductance returned is the
power at 1 V, box plus scaled exterior, at the current conductivity — what the heat kernel's
frozen-potential estimate gives right after the update.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from rfasim.physics import electric_kernels
from rfasim.physics.multigrid import MultigridHierarchy

if TYPE_CHECKING:  # pragma: no cover
    from rfasim.physics.electric import ElectricProblem, ElectricSolution


@dataclass(frozen=True)
class LocalUpdateOptions:
    """Options of :meth:`rfasim.physics.electric.ElectricProblem.update`.

    Parameters
    ----------
    enabled : bool
        False: every update is a global solve.
    margin_mm : float
        Box margin beyond the electrodes' metal and partly filled voxels (mm).
    minimum_margin_voxels : int
        The margin is at least this many voxels.  The tolerances below were validated with a
        10-voxel margin (10 mm at 1 mm); on coarser grids a 10 mm margin is only a few voxels,
        the held exterior lies in the heated shell, and the error indicators under-report
        (measured: ``benchmarks/local_update_coarse.py``, benchmarks/README.md).
    flux_mismatch_tolerance : float
        Largest accepted face-by-face current mismatch on the box's surface (relative).
    exterior_drift_tolerance : float
        Largest accepted heating-weighted conductivity drift outside the box (relative).
    maximum_local_updates : int
        Local updates after which a global solve is done regardless.
    maximum_box_fraction : float
        No local updates when the box holds more than this fraction of the grid.
    relative_tolerance : float
        CG tolerance of the box solves (relative to their right-hand sides).  3e-5: a fifth
        fewer box V-cycles than 1e-5 on the standard case, and the algebraic error stays below
        the flux-mismatch indicator (heating error / indicator 0.18 at most on the drying-needle
        test, 0.14 at 1e-5; at 1e-4 it reached 2.6, i.e. the indicator no longer bounds the error).
    global_relative_tolerance : float
        CG tolerance of the global corrections that :meth:`update` makes (a correction starts
        from the local field; ``solve`` keeps the solver's own tolerance).
    response_refresh : int
        Grounded problems solve one box system per update, ``u_a + s_p u_b`` at the predicted
        scale ``s_p``, and correct it by ``(s - s_p) u_b`` with the response ``u_b`` to the
        outside potential re-solved only every ``response_refresh`` updates, after each global
        solve and after an update whose scale missed the prediction by more than 2 %; the
        error is of the order ``(s - s_p)`` times the change of ``u_b``.
    """

    enabled: bool = True
    margin_mm: float = 10.0
    minimum_margin_voxels: int = 10
    flux_mismatch_tolerance: float = 0.05
    exterior_drift_tolerance: float = 0.005
    maximum_local_updates: int = 100
    maximum_box_fraction: float = 0.4
    relative_tolerance: float = 3e-5
    global_relative_tolerance: float = 1e-4
    response_refresh: int = 8

    def __post_init__(self) -> None:
        for name in ("margin_mm", "flux_mismatch_tolerance", "exterior_drift_tolerance", "relative_tolerance",
                     "global_relative_tolerance"):
            value = getattr(self, name)
            if not math.isfinite(value) or value <= 0:
                raise ValueError(f"local update {name} must be positive and finite, got {value!r}")
        if self.response_refresh < 1:
            raise ValueError(f"response_refresh must be >= 1, got {self.response_refresh!r}")
        if self.minimum_margin_voxels < 0:
            raise ValueError(f"minimum_margin_voxels must be >= 0, got {self.minimum_margin_voxels!r}")
        if self.maximum_local_updates < 1:
            raise ValueError(f"maximum_local_updates must be >= 1, got {self.maximum_local_updates!r}")
        if not 0 < self.maximum_box_fraction <= 1:
            raise ValueError(f"maximum_box_fraction must lie in (0, 1], got {self.maximum_box_fraction!r}")


def electrode_box(problem: ElectricProblem, margin_mm: float, minimum_margin_voxels: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Bounds ``low, high`` (voxel indices, high exclusive) of the electrodes plus a margin
    (``margin_mm``, at least ``minimum_margin_voxels`` voxels)."""
    grid = problem.grid
    indices = [np.asarray(e.metal_index, dtype=np.int64) for e in problem.electrodes]
    indices += [np.asarray(e.coupling_index, dtype=np.int64) for e in problem.electrodes]
    flat = np.concatenate(indices)
    if flat.size == 0:
        return np.zeros(3, np.int64), np.array(grid.shape, np.int64)
    ijk = np.array(np.unravel_index(flat, grid.shape))
    margin = max(int(math.ceil(margin_mm / grid.spacing_mm - 1e-9)), int(minimum_margin_voxels))
    low = np.maximum(ijk.min(axis=1) - margin, 0).astype(np.int64)
    high = np.minimum(ijk.max(axis=1) + margin + 1, np.array(grid.shape)).astype(np.int64)
    return low, high


class LocalUpdate:
    """The state of the local update between two global solves (built by :meth:`after_global`)."""

    def __init__(self, problem: ElectricProblem, low: np.ndarray, high: np.ndarray) -> None:
        self.low, self.high = low, high
        self.box = tuple(slice(int(a), int(b)) for a, b in zip(low, high, strict=True))
        shape = tuple(int(b - a) for a, b in zip(low, high, strict=True))
        self.shape = shape
        options = problem.local_options
        self.hierarchy = MultigridHierarchy(shape, np.float32)
        # The box system is assembled straight into the hierarchy's fine level (single precision).
        *faces, self.diagonal = self.hierarchy.fine_system()
        self.faces = tuple(faces)
        self.rhs_electrodes = np.empty(shape)
        self.rhs_outside = np.empty(shape)
        size = electric_kernels.interface_size(shape)
        self.flux_global = np.zeros(size)
        # Ungrounded (floating) problems: a constant potential outside carries no current there,
        # so the exterior is s u_g + c; a third box solve gives the constant's response.
        self.floating = not problem.grounded_faces
        modes = 3 if self.floating else 2
        self.fluxes = [np.zeros(size) for _ in range(modes)]
        self._guesses: list[np.ndarray | None] = [None] * modes
        self.rhs_constant = np.empty(shape) if self.floating else None
        self._ones = np.ones(problem.grid.shape) if self.floating else None
        self.tolerance = options.relative_tolerance
        # The conductivity at the global solve, in single precision (it weighs a drift metric);
        # the global heating and potential are the solution's own arrays, which the problem's
        # output pool keeps intact while they are held here (ElectricProblem.output_pair).
        self.sigma_global = np.empty(problem.grid.shape, np.float32)
        self.heating_global: np.ndarray | None = None
        self.potential_global: np.ndarray | None = None
        self.conductance_global = 0.0
        self.uniform_weights = True
        self.count = 0
        self.warm_start: np.ndarray | None = None
        #: Why global corrections were made: indicator that tripped -> count.
        self.corrections = {"flux_mismatch": 0, "exterior_drift": 0, "count": 0, "scale": 0}
        # One-solve path (grounded problems): last box field, the outside response, last scale.
        self._combined: np.ndarray | None = None
        self._response: np.ndarray | None = None
        self._response_flux = np.zeros(size)
        self._response_age = 0
        self._response_stale = True
        self._scale = 1.0
        self._flux_combined = np.zeros(size)

    @classmethod
    def after_global(cls, problem: ElectricProblem, sigma: np.ndarray, solution: ElectricSolution,
                     previous: LocalUpdate | None) -> LocalUpdate | None:
        """The state for local updates from a new global solution (``None``: not worthwhile)."""
        options = problem.local_options
        if not options.enabled:
            return None
        low, high = electrode_box(problem, options.margin_mm, options.minimum_margin_voxels)
        if np.prod(high - low) > options.maximum_box_fraction * problem.grid.size:
            return None
        if previous is not None and np.array_equal(previous.low, low) and np.array_equal(previous.high, high):
            state = previous
        else:
            state = cls(problem, low, high)
        state._take_global(problem, sigma, solution)
        return state

    def _take_global(self, problem: ElectricProblem, sigma: np.ndarray, solution: ElectricSolution) -> None:
        np.copyto(self.sigma_global, sigma)
        self.heating_global = solution.heating_per_conductivity
        self.potential_global = solution.potential_v
        self.conductance_global = solution.conductance_s
        inside = np.ascontiguousarray(self.potential_global[self.box])
        electric_kernels.interface_fluxes(inside, self.potential_global, 1.0, sigma, problem._metal, self.low,
                                          problem.grid.spacing_m, self.flux_global)
        # Net exterior current (monopolar) -> conserve it; none (bipolar) -> least squares.
        self.uniform_weights = abs(self.flux_global.sum()) >= 0.05 * np.abs(self.flux_global).sum()
        self.count = 0
        self._response_stale = True
        self._scale = 1.0

    def _solve(self, rhs: np.ndarray, guess: np.ndarray | None) -> tuple[np.ndarray, int]:
        gx, gy, gz = self.faces
        return self.hierarchy.solve(gx, gy, gz, self.diagonal, rhs, guess, self.tolerance)

    def _solve_conserving(self, problem: ElectricProblem, sigma: np.ndarray):
        """Grounded problem, net current through the box's surface: one box solve per update.

        ``w`` solves the box at the predicted scale ``s_p`` (the last one); the scale that
        conserves the current follows from the fluxes of ``w`` and of the response ``u_b``, and
        the field is ``w + (s - s_p) u_b``.
        """
        metal, h = problem._metal, problem.grid.spacing_m
        options = problem.local_options
        iterations = 0
        if self._response_stale or self._response is None or self._response_age >= options.response_refresh:
            self._response, count = self._solve(self.rhs_outside, self._response)
            iterations += count
            electric_kernels.interface_fluxes(self._response, self.potential_global, 1.0, sigma, metal, self.low, h,
                                              self._response_flux)
            self._response_age = 0
            self._response_stale = False
        predicted = self._scale
        combined, count = self._solve(self.rhs_electrodes + predicted * self.rhs_outside, self._combined)
        iterations += count
        electric_kernels.interface_fluxes(combined, self.potential_global, predicted, sigma, metal, self.low, h,
                                          self._flux_combined)
        response_total = float(self._response_flux.sum())
        denominator = float(self.flux_global.sum()) - response_total
        if denominator == 0:
            return math.nan, combined, self._flux_combined, iterations
        scale = (float(self._flux_combined.sum()) - predicted * response_total) / denominator
        inside = combined + (scale - predicted) * self._response
        flux = self._flux_combined + (scale - predicted) * self._response_flux
        self._combined = inside
        self._scale = scale
        self._response_age += 1
        # A poor prediction means a fast change: refresh the response at the next update.
        if abs(scale - predicted) > 0.02 * abs(scale):
            self._response_stale = True
        return scale, inside, flux, iterations

    def _solve_all_modes(self, problem: ElectricProblem, sigma: np.ndarray):
        """Every mode solved (floating problems, or no net current): least squares on the faces."""
        metal, h = problem._metal, problem.grid.spacing_m
        solutions, iterations = [], 0
        for rhs, guess in zip(self._right_hand_sides(), self._guesses, strict=True):
            solution, count = self._solve(rhs, guess)
            solutions.append(solution)
            iterations += count
        self._guesses = solutions
        ghosts = (self.potential_global, self.potential_global, self._ones)
        for solution, ghost, scale, flux in zip(solutions, ghosts, (0.0, 1.0, 1.0), self.fluxes, strict=False):
            electric_kernels.interface_fluxes(solution, ghost, scale, sigma, metal, self.low, h, flux)
        flux_a, flux_b, flux_g = self.fluxes[0], self.fluxes[1], self.flux_global
        constant = 0.0
        if self.uniform_weights and not self.floating:
            denominator = flux_g.sum() - flux_b.sum()
            scale = flux_a.sum() / denominator if denominator != 0 else math.nan
        else:  # least squares over the faces (no BLAS: see multigrid)
            columns = [flux_b - flux_g] + ([self.fluxes[2]] if self.floating else [])
            normal = np.array([[float(np.sum(a * b)) for b in columns] for a in columns])
            right = -np.array([float(np.sum(a * flux_a)) for a in columns])
            try:
                coefficients = np.linalg.solve(normal, right)
            except np.linalg.LinAlgError:
                coefficients = np.full(len(columns), math.nan)
            scale = float(coefficients[0])
            constant = float(coefficients[1]) if self.floating else 0.0
        flux = flux_a + scale * flux_b + (constant * self.fluxes[2] if self.floating else 0.0)
        inside = solutions[0] + scale * solutions[1]
        if self.floating:
            inside += constant * solutions[2]
        return scale, constant, inside, flux, iterations

    def _right_hand_sides(self) -> list[np.ndarray]:
        rhs = [self.rhs_electrodes, self.rhs_outside]
        return rhs + [self.rhs_constant] if self.floating else rhs

    def update(self, problem: ElectricProblem, sigma: np.ndarray, start: float) -> ElectricSolution | None:
        """The locally updated solution, or ``None`` when a global solve is needed."""
        from rfasim.physics.electric import ElectricSolution

        options = problem.local_options
        if self.count >= options.maximum_local_updates or self.potential_global is None or self.heating_global is None:
            self.warm_start = problem._last_potential
            self.corrections["count"] += 1
            return None
        grid = problem.grid
        metal, h = problem._metal, grid.spacing_m
        gx, gy, gz = self.faces
        arguments = (problem._coupling_index, problem._coupling_factor, problem._coupling_factor_polarity)
        if self.floating:  # right-hand side of a unit potential held outside (the constant mode)
            electric_kernels.assemble(sigma, metal, problem._metal_potential, h, problem._grounded, self.low,
                                      self._ones, *arguments, gx, gy, gz, self.diagonal, self.rhs_electrodes,
                                      self.rhs_constant)
        electric_kernels.assemble(sigma, metal, problem._metal_potential, h, problem._grounded, self.low,
                                  self.potential_global, *arguments, gx, gy, gz, self.diagonal, self.rhs_electrodes,
                                  self.rhs_outside)
        hierarchy = self.hierarchy
        hierarchy.update(gx, gy, gz, self.diagonal)
        constant = 0.0
        if self.uniform_weights and not self.floating:
            scale, inside, flux, iterations = self._solve_conserving(problem, sigma)
        else:
            scale, constant, inside, flux, iterations = self._solve_all_modes(problem, sigma)
        if not (math.isfinite(scale) and scale > 0 and math.isfinite(constant)):
            self.warm_start = problem._last_potential
            self.corrections["scale"] += 1
            return None
        total = float(np.abs(flux).sum())
        mismatch = float(np.abs(flux - scale * self.flux_global).sum()) / total if total > 0 else math.inf
        # Output arrays from the problem's pool: no fresh pages (first-touch faults) per update.
        heating, potential = problem.output_pair()
        inverse_volume = 1.0 / grid.voxel_volume_m3
        exterior_power, exterior_drift = electric_kernels.exterior(
            self.heating_global, self.potential_global, sigma, self.sigma_global, scale, constant, self.low,
            self.high, inverse_volume, heating, potential, True,
        )
        ghost = self.potential_global if constant == 0.0 else scale * self.potential_global + constant
        box_power = electric_kernels.joule(
            inside, ghost, 1.0 if constant != 0.0 else scale, sigma, metal, problem._metal_potential, h, problem._grounded,
            self.low, gx, gy, gz, problem._coupling_index, problem._coupling_factor,
            problem._coupling_factor_polarity, problem._coupling_factor_polarity2, inverse_volume, heating,
            potential,
        )
        drift = exterior_drift / self.conductance_global if self.conductance_global > 0 else math.inf
        if not (mismatch <= options.flux_mismatch_tolerance and drift <= options.exterior_drift_tolerance):
            self.warm_start = potential  # the local field: the best start for the global solve
            self.corrections["flux_mismatch" if mismatch > options.flux_mismatch_tolerance else "exterior_drift"] += 1
            return None
        self.count += 1
        return ElectricSolution(
            potential_v=potential,
            heating_per_conductivity=heating,
            conductance_s=float(box_power + scale * scale * exterior_power),
            solve_seconds=time.perf_counter() - start,
            iterations=iterations,
            local=True,
            flux_mismatch=mismatch,
            exterior_drift=drift,
        )

