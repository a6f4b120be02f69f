"""Quasi-static RF electric field: ``div(sigma grad V) = 0`` on the voxel grid.

Finite volumes on the voxel grid: every voxel is a control volume, neighbours are joined by a
face conductance ``g = sigma_face * h`` (S), with ``sigma_face`` the harmonic mean of the two
voxels (conservative across tissue interfaces).  Electrode metal voxels are Dirichlet nodes at
the electrode's potential and the metal fills its voxel, so a tissue voxel sees the metal half a
voxel away (``g = 2 sigma h``).  Insulating voxels (sigma = 0: air, insulated shafts) carry no
current and are left out of the system.  The grounded outer faces are at 0 V half a voxel
outside the boundary voxels.

The problem is linear in the applied voltage at fixed sigma, so it is solved once at unit
voltage; the generator's voltage scales it.  Joule heat is computed face by face,
``P_face = g dV^2``, and split between the two voxels of each face, so that the sum of the
heat equals the electrical power ``V I`` exactly (the discrete energy identity); the energy
balance of the coupled solver rests on that.

The linear solver is injected (SimPEG style): :class:`AMGSolver` (pyamg smoothed aggregation
preconditioning CG, default) or :class:`ConjugateGradientSolver` (Jacobi-preconditioned CG).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sparse
import scipy.sparse.linalg as sparse_linalg

from rfasim.grid import Grid
from rfasim.sources import ElectrodeRaster

#: Outer faces of the box, by name.
FACE_NAMES = ("x-", "x+", "y-", "y+", "z-", "z+")


@dataclass
class ElectricSolution:
    """The unit-voltage solution of one electrode configuration.

    Attributes
    ----------
    potential_v : ndarray
        Potential (V) per voxel at 1 V applied.
    heating_per_conductivity : ndarray
        Joule heat density at 1 V divided by the local conductivity used in the solve
        (W/m^3 per (S/m)); multiply by the current sigma(T) and V^2 for the heat density.
        Zero in electrode metal and insulators.
    conductance_s : float
        Conductance between the generator's terminals at the solve's sigma (S); 1/impedance.
    solve_seconds : float
        Wall time of the linear solve.
    iterations : int
        Krylov iterations used.
    """

    potential_v: np.ndarray
    heating_per_conductivity: np.ndarray
    conductance_s: float
    solve_seconds: float
    iterations: int

    @property
    def impedance_ohm(self) -> float:
        """Impedance between the terminals at the solve's conductivity (Ohm)."""
        return 1.0 / self.conductance_s if self.conductance_s > 0 else float("inf")


@dataclass
class ConjugateGradientSolver:
    """Jacobi-preconditioned conjugate gradients (scipy), warm-started.

    Parameters
    ----------
    relative_tolerance : float
        Relative residual at which CG stops.
    """

    relative_tolerance: float = 1e-8
    maximum_iterations: int = 20000

    def solve(self, matrix: sparse.csr_matrix, rhs: np.ndarray, guess: np.ndarray | None) -> tuple[np.ndarray, int]:
        """Solve ``matrix @ x = rhs``; returns the solution and the iteration count."""
        inverse_diagonal = 1.0 / matrix.diagonal()
        preconditioner = sparse_linalg.LinearOperator(
            matrix.shape, matvec=lambda v: inverse_diagonal * v, dtype=float
        )
        count = [0]

        def callback(_: np.ndarray) -> None:
            count[0] += 1

        solution, info = sparse_linalg.cg(
            matrix, rhs, x0=guess, rtol=self.relative_tolerance, atol=0.0,
            maxiter=self.maximum_iterations, M=preconditioner, callback=callback,
        )
        if info > 0:
            raise RuntimeError(f"electric CG did not converge in {info} iterations")
        return solution, count[0]


@dataclass
class AMGSolver:
    """pyamg smoothed-aggregation multigrid as a CG preconditioner, reused across solves.

    The hierarchy is built once and kept as the preconditioner while the conductivity drifts
    (a slightly outdated multigrid is still an excellent preconditioner); it is rebuilt when CG
    needs more than ``rebuild_after_iterations`` iterations.

    Parameters
    ----------
    relative_tolerance : float
        Relative residual at which CG stops.
    rebuild_after_iterations : int
        Rebuild the hierarchy when a solve needed more iterations than this.
    """

    relative_tolerance: float = 1e-8
    rebuild_after_iterations: int = 25
    _hierarchy: object = field(default=None, repr=False)
    _shape: tuple[int, int] | None = field(default=None, repr=False)
    setups: int = 0

    def solve(self, matrix: sparse.csr_matrix, rhs: np.ndarray, guess: np.ndarray | None) -> tuple[np.ndarray, int]:
        """Solve ``matrix @ x = rhs``; returns the solution and the iteration count."""
        import pyamg

        if self._hierarchy is None or self._shape != matrix.shape:
            self._hierarchy = pyamg.smoothed_aggregation_solver(matrix, symmetry="symmetric")
            self._shape = matrix.shape
            self.setups += 1
        preconditioner = self._hierarchy.aspreconditioner(cycle="V")
        count = [0]

        def callback(_: np.ndarray) -> None:
            count[0] += 1

        solution, info = sparse_linalg.cg(
            matrix, rhs, x0=guess, rtol=self.relative_tolerance, atol=0.0, maxiter=500,
            M=preconditioner, callback=callback,
        )
        if info > 0 or count[0] > self.rebuild_after_iterations:
            self._hierarchy = None  # outdated: rebuild next time (or now, if not converged)
            if info > 0:
                return self.solve(matrix, rhs, solution)
        return solution, count[0]


class ElectricProblem:
    """Assembles and solves the unit-voltage potential problem for a set of electrodes.

    Parameters
    ----------
    grid : Grid
        The simulation grid.
    electrodes : list of ElectrodeRaster
        Electrodes (validated); their ``polarity`` is the potential at 1 V applied.
    grounded_faces : tuple of str
        Outer faces held at 0 V (``"x-"``, ``"x+"``, ...).  Empty for a bipolar pair in an
        insulated box.  A single face models a ground pad.
    solver : object with ``solve(matrix, rhs, guess)``
        The linear solver (default :class:`AMGSolver`).
    """

    def __init__(
        self,
        grid: Grid,
        electrodes: list[ElectrodeRaster],
        grounded_faces: tuple[str, ...] = FACE_NAMES,
        solver: AMGSolver | ConjugateGradientSolver | None = None,
    ) -> None:
        unknown = [face for face in grounded_faces if face not in FACE_NAMES]
        if unknown:
            raise ValueError(f"unknown grounded face {unknown[0]!r}; valid: {', '.join(FACE_NAMES)}")
        if not electrodes:
            raise ValueError("the electric problem needs at least one electrode")
        self.grid = grid
        self.electrodes = electrodes
        self.grounded_faces = tuple(grounded_faces)
        self.solver = solver if solver is not None else AMGSolver()
        polarities = {np.sign(e.polarity) for e in electrodes}
        if not grounded_faces and len(polarities) < 2:
            raise ValueError("with no grounded face the electrodes need both polarities (bipolar)")
        self.metal_potential = np.full(grid.size, np.nan)
        for electrode in electrodes:
            self.metal_potential[electrode.metal_index] = electrode.polarity
        self._last_potential: np.ndarray | None = None

    def conductivity_mask(self, conductivity: np.ndarray) -> np.ndarray:
        """Voxels that take part in the electric problem (conducting, flat)."""
        return conductivity.ravel() > 0

    def solve(self, conductivity_s_per_m: np.ndarray) -> ElectricSolution:
        """Solve at unit voltage for the given conductivity field (S/m, grid shape)."""
        start = time.perf_counter()
        grid = self.grid
        sigma = np.asarray(conductivity_s_per_m, dtype=float).reshape(grid.shape)
        h = grid.spacing_m
        is_metal = ~np.isnan(self.metal_potential).reshape(grid.shape)
        unknown = (sigma > 0) & ~is_metal
        unknown_number = np.full(grid.shape, -1, dtype=np.int64)
        count = int(unknown.sum())
        unknown_number[unknown] = np.arange(count)
        metal_potential = np.nan_to_num(self.metal_potential.reshape(grid.shape))

        diagonal = np.zeros(count)
        rhs = np.zeros(count)
        rows: list[np.ndarray] = []
        cols: list[np.ndarray] = []
        values: list[np.ndarray] = []
        # Each face is stored once as (low side, high side, conductance) for the heat pass.
        face_records: list[tuple[int, np.ndarray, np.ndarray, np.ndarray]] = []

        for axis in range(3):
            low = [slice(None)] * 3
            high = [slice(None)] * 3
            low[axis] = slice(0, -1)
            high[axis] = slice(1, None)
            low_t, high_t = tuple(low), tuple(high)
            sigma_low, sigma_high = sigma[low_t], sigma[high_t]
            unknown_low, unknown_high = unknown[low_t], unknown[high_t]
            metal_low, metal_high = is_metal[low_t], is_metal[high_t]
            with np.errstate(divide="ignore", invalid="ignore"):
                harmonic = np.where(
                    (sigma_low > 0) & (sigma_high > 0),
                    2.0 * sigma_low * sigma_high / (sigma_low + sigma_high),
                    0.0,
                )
            conductance = harmonic * h
            # Metal fills its voxel: the tissue voxel sees the metal surface half a voxel away.
            conductance = np.where(metal_low & unknown_high, 2.0 * sigma_high * h, conductance)
            conductance = np.where(metal_high & unknown_low, 2.0 * sigma_low * h, conductance)

            both = unknown_low & unknown_high & (conductance > 0)
            a = unknown_number[low_t][both]
            b = unknown_number[high_t][both]
            g = conductance[both]
            rows += [a, b]
            cols += [b, a]
            values += [-g, -g]
            np.add.at(diagonal, a, g)
            np.add.at(diagonal, b, g)

            to_metal_high = unknown_low & metal_high
            a = unknown_number[low_t][to_metal_high]
            g = conductance[to_metal_high]
            np.add.at(diagonal, a, g)
            np.add.at(rhs, a, g * metal_potential[high_t][to_metal_high])
            to_metal_low = unknown_high & metal_low
            b = unknown_number[high_t][to_metal_low]
            g = conductance[to_metal_low]
            np.add.at(diagonal, b, g)
            np.add.at(rhs, b, g * metal_potential[low_t][to_metal_low])
            face_records.append((axis, low_t, high_t, conductance))  # type: ignore[arg-type]

        # Grounded outer faces: 0 V half a voxel outside.
        boundary_conductance = np.zeros(grid.shape)
        for face in self.grounded_faces:
            axis = "xyz".index(face[0])
            index = [slice(None)] * 3
            index[axis] = 0 if face[1] == "-" else -1
            index_t = tuple(index)
            boundary_conductance[index_t] += np.where(unknown[index_t], 2.0 * sigma[index_t] * h, 0.0)
        on_boundary = unknown & (boundary_conductance > 0)
        np.add.at(diagonal, unknown_number[on_boundary], boundary_conductance[on_boundary])

        # Sub-voxel coupling of partly filled voxels to their electrode.
        coupling_conductance = np.zeros(grid.size)
        coupling_potential_weighted = np.zeros(grid.size)
        sigma_flat = sigma.ravel()
        unknown_flat = unknown.ravel()
        for electrode in self.electrodes:
            index = electrode.coupling_index
            keep = unknown_flat[index]
            index = index[keep]
            g = sigma_flat[index] * electrode.coupling_factor_m[keep]
            np.add.at(coupling_conductance, index, g)
            np.add.at(coupling_potential_weighted, index, g * electrode.polarity)
        coupled = unknown_flat & (coupling_conductance > 0)
        numbers = unknown_number.ravel()[coupled]
        np.add.at(diagonal, numbers, coupling_conductance[coupled])
        np.add.at(rhs, numbers, coupling_potential_weighted[coupled])

        if count == 0:
            raise ValueError("the electric problem has no conducting tissue voxel")
        # A vanishing shift keeps floating conducting islands (no path to any Dirichlet node) regular.
        diagonal_with_shift = diagonal + 1e-12 * max(float(diagonal.max()), 1e-30)
        rows.append(np.arange(count))
        cols.append(np.arange(count))
        values.append(diagonal_with_shift)
        matrix = sparse.csr_matrix(
            (np.concatenate(values), (np.concatenate(rows), np.concatenate(cols))), shape=(count, count)
        )
        guess = self._last_potential if self._last_potential is not None and self._last_potential.size == count else None
        assembled = time.perf_counter()
        solution, iterations = self.solver.solve(matrix, rhs, guess)
        self._last_potential = solution

        potential = np.zeros(grid.shape)
        potential[unknown] = solution
        potential[is_metal] = metal_potential[is_metal]

        # Joule heat, face by face (W at 1 V), split between the two voxels.
        heat = np.zeros(grid.shape)
        for axis, low_t, high_t, conductance in face_records:
            participating = (unknown[low_t] | is_metal[low_t]) & (unknown[high_t] | is_metal[high_t])
            drop = potential[high_t] - potential[low_t]
            power = np.where(participating, conductance * drop**2, 0.0)
            metal_low, metal_high = is_metal[low_t], is_metal[high_t]
            share_low = np.where(metal_low, 0.0, np.where(metal_high, 1.0, 0.5))
            share_high = np.where(metal_high, 0.0, np.where(metal_low, 1.0, 0.5))
            heat[low_t] += power * share_low
            heat[high_t] += power * share_high
            del axis
        heat += boundary_conductance * np.where(unknown, potential, 0.0) ** 2
        coupled_grid = coupled.reshape(grid.shape)
        # Each coupled voxel's own coupling power: sum over electrodes g (V - p)^2.
        coupling_power = np.zeros(grid.size)
        potential_flat = potential.ravel()
        for electrode in self.electrodes:
            index = electrode.coupling_index
            keep = unknown_flat[index]
            index = index[keep]
            g = sigma_flat[index] * electrode.coupling_factor_m[keep]
            np.add.at(coupling_power, index, g * (potential_flat[index] - electrode.polarity) ** 2)
        heat += np.where(coupled_grid, coupling_power.reshape(grid.shape), 0.0)
        total_power = float(heat.sum())
        with np.errstate(divide="ignore", invalid="ignore"):
            heating_per_conductivity = np.where(sigma > 0, heat / (grid.voxel_volume_m3 * sigma), 0.0)
        del assembled
        return ElectricSolution(
            potential_v=potential,
            heating_per_conductivity=heating_per_conductivity,
            conductance_s=total_power,
            solve_seconds=time.perf_counter() - start,
            iterations=iterations,
        )
