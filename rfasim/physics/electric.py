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

The linear solver is injected (SimPEG style): :class:`MultigridSolver` (matrix-free geometric
multigrid in Numba preconditioning CG, the default), :class:`AMGSolver` (pyamg smoothed
aggregation) or :class:`ConjugateGradientSolver` (Jacobi-preconditioned CG).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numba
import numpy as np
import scipy.sparse as sparse
import scipy.sparse.linalg as sparse_linalg
from threadpoolctl import ThreadpoolController

from rfasim.grid import Grid
from rfasim.physics.multigrid import Level, conjugate_gradient
from rfasim.sources import ElectrodeRaster

_THREADPOOLS: ThreadpoolController | None = None


def _single_threaded_blas():
    """BLAS limited to one thread during a solve (its threads fight Numba's on small vectors).

    The controller inspects the loaded libraries once; limiting is cheap afterwards.
    """
    global _THREADPOOLS
    if _THREADPOOLS is None:
        _THREADPOOLS = ThreadpoolController()
    return _THREADPOOLS.limit(limits=1, user_api="blas")


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


@numba.njit(parallel=True, cache=True)
def assemble_faces(sigma, unknown, is_metal, metal_potential, spacing_m, gx, gy, gz, diagonal_extra, rhs):  # pragma: no cover
    """Face conductances between unknown voxels and the metal couplings (Numba; no races:
    each voxel writes only its own faces towards +x, +y, +z and its own diagonal/rhs).

    NumPy twin: :func:`assemble_faces_reference`.
    """
    nx, ny, nz = sigma.shape
    h = spacing_m
    for i in numba.prange(nx):
        for j in range(ny):
            for k in range(nz):
                here = sigma[i, j, k]
                own = unknown[i, j, k] != 0
                if i < nx - 1:
                    gx[i, j, k] = 0.0
                    if own and unknown[i + 1, j, k] != 0:
                        other = sigma[i + 1, j, k]
                        gx[i, j, k] = 2.0 * here * other / (here + other) * h
                if j < ny - 1:
                    gy[i, j, k] = 0.0
                    if own and unknown[i, j + 1, k] != 0:
                        other = sigma[i, j + 1, k]
                        gy[i, j, k] = 2.0 * here * other / (here + other) * h
                if k < nz - 1:
                    gz[i, j, k] = 0.0
                    if own and unknown[i, j, k + 1] != 0:
                        other = sigma[i, j, k + 1]
                        gz[i, j, k] = 2.0 * here * other / (here + other) * h
                diagonal = 0.0
                source = 0.0
                if own:
                    # Metal fills its voxel: its surface is half a voxel away (g = 2 sigma h).
                    g = 2.0 * here * h
                    if i > 0 and is_metal[i - 1, j, k] != 0:
                        diagonal += g
                        source += g * metal_potential[i - 1, j, k]
                    if i < nx - 1 and is_metal[i + 1, j, k] != 0:
                        diagonal += g
                        source += g * metal_potential[i + 1, j, k]
                    if j > 0 and is_metal[i, j - 1, k] != 0:
                        diagonal += g
                        source += g * metal_potential[i, j - 1, k]
                    if j < ny - 1 and is_metal[i, j + 1, k] != 0:
                        diagonal += g
                        source += g * metal_potential[i, j + 1, k]
                    if k > 0 and is_metal[i, j, k - 1] != 0:
                        diagonal += g
                        source += g * metal_potential[i, j, k - 1]
                    if k < nz - 1 and is_metal[i, j, k + 1] != 0:
                        diagonal += g
                        source += g * metal_potential[i, j, k + 1]
                diagonal_extra[i, j, k] = diagonal
                rhs[i, j, k] = source


@numba.njit(parallel=True, cache=True)
def face_joule_heat(potential, sigma, unknown, is_metal, metal_potential, spacing_m, gx, gy, gz, heat):  # pragma: no cover
    """Joule heat (W at 1 V) of the tissue faces: half of each tissue-tissue face to each side,
    all of a tissue-metal face to the tissue voxel.  NumPy twin: :func:`face_joule_heat_reference`."""
    nx, ny, nz = potential.shape
    h = spacing_m
    for i in numba.prange(nx):
        for j in range(ny):
            for k in range(nz):
                total = 0.0
                if unknown[i, j, k] != 0:
                    v = potential[i, j, k]
                    g_metal = 2.0 * sigma[i, j, k] * h
                    if i > 0:
                        total += 0.5 * gx[i - 1, j, k] * (v - potential[i - 1, j, k]) ** 2
                        if is_metal[i - 1, j, k] != 0:
                            total += g_metal * (v - metal_potential[i - 1, j, k]) ** 2
                    if i < nx - 1:
                        total += 0.5 * gx[i, j, k] * (v - potential[i + 1, j, k]) ** 2
                        if is_metal[i + 1, j, k] != 0:
                            total += g_metal * (v - metal_potential[i + 1, j, k]) ** 2
                    if j > 0:
                        total += 0.5 * gy[i, j - 1, k] * (v - potential[i, j - 1, k]) ** 2
                        if is_metal[i, j - 1, k] != 0:
                            total += g_metal * (v - metal_potential[i, j - 1, k]) ** 2
                    if j < ny - 1:
                        total += 0.5 * gy[i, j, k] * (v - potential[i, j + 1, k]) ** 2
                        if is_metal[i, j + 1, k] != 0:
                            total += g_metal * (v - metal_potential[i, j + 1, k]) ** 2
                    if k > 0:
                        total += 0.5 * gz[i, j, k - 1] * (v - potential[i, j, k - 1]) ** 2
                        if is_metal[i, j, k - 1] != 0:
                            total += g_metal * (v - metal_potential[i, j, k - 1]) ** 2
                    if k < nz - 1:
                        total += 0.5 * gz[i, j, k] * (v - potential[i, j, k + 1]) ** 2
                        if is_metal[i, j, k + 1] != 0:
                            total += g_metal * (v - metal_potential[i, j, k + 1]) ** 2
                heat[i, j, k] = total


def _axis_slices(axis: int) -> tuple[tuple[slice, ...], tuple[slice, ...]]:
    low = [slice(None)] * 3
    high = [slice(None)] * 3
    low[axis] = slice(0, -1)
    high[axis] = slice(1, None)
    return tuple(low), tuple(high)


def assemble_faces_reference(sigma, unknown, is_metal, metal_potential, spacing_m):
    """NumPy twin of :func:`assemble_faces`: returns (gx, gy, gz, diagonal_extra, rhs)."""
    unknown, is_metal = unknown != 0, is_metal != 0
    h = spacing_m
    diagonal_extra = np.zeros(sigma.shape)
    rhs = np.zeros(sigma.shape)
    faces = []
    for axis in range(3):
        low_t, high_t = _axis_slices(axis)
        sigma_low, sigma_high = sigma[low_t], sigma[high_t]
        with np.errstate(divide="ignore", invalid="ignore"):
            harmonic = np.where(unknown[low_t] & unknown[high_t],
                                2.0 * sigma_low * sigma_high / (sigma_low + sigma_high), 0.0)
        faces.append(harmonic * h)
        to_high_metal = np.where(unknown[low_t] & is_metal[high_t], 2.0 * sigma_low * h, 0.0)
        to_low_metal = np.where(unknown[high_t] & is_metal[low_t], 2.0 * sigma_high * h, 0.0)
        diagonal_extra[low_t] += to_high_metal
        rhs[low_t] += to_high_metal * metal_potential[high_t]
        diagonal_extra[high_t] += to_low_metal
        rhs[high_t] += to_low_metal * metal_potential[low_t]
    return faces[0], faces[1], faces[2], diagonal_extra, rhs


def face_joule_heat_reference(potential, sigma, unknown, is_metal, metal_potential, spacing_m, gx, gy, gz):
    """NumPy twin of :func:`face_joule_heat`."""
    unknown, is_metal = unknown != 0, is_metal != 0
    h = spacing_m
    heat = np.zeros(potential.shape)
    for axis, conductance in enumerate((gx, gy, gz)):
        low_t, high_t = _axis_slices(axis)
        power = conductance * (potential[high_t] - potential[low_t]) ** 2
        heat[low_t] += 0.5 * power
        heat[high_t] += 0.5 * power
        to_high_metal = np.where(unknown[low_t] & is_metal[high_t], 2.0 * sigma[low_t] * h, 0.0)
        to_low_metal = np.where(unknown[high_t] & is_metal[low_t], 2.0 * sigma[high_t] * h, 0.0)
        heat[low_t] += to_high_metal * (potential[low_t] - metal_potential[high_t]) ** 2
        heat[high_t] += to_low_metal * (potential[high_t] - metal_potential[low_t]) ** 2
    return heat


def to_csr(level: Level) -> tuple[sparse.csr_matrix, np.ndarray]:
    """The matrix of a matrix-free level over its active voxels, and the active flat indices."""
    active = level.active.ravel() != 0
    number = np.full(active.size, -1, np.int64)
    index = np.flatnonzero(active)
    number[index] = np.arange(index.size)
    number = number.reshape(level.shape)
    diagonal = level.diagonal_extra.copy()
    rows, cols, values = [], [], []
    for axis, conductance in enumerate((level.gx, level.gy, level.gz)):
        low = [slice(None)] * 3
        high = [slice(None)] * 3
        low[axis] = slice(0, -1)
        high[axis] = slice(1, None)
        low_t, high_t = tuple(low), tuple(high)
        diagonal[low_t] += conductance
        diagonal[high_t] += conductance
        present = conductance > 0
        a, b, g = number[low_t][present], number[high_t][present], conductance[present]
        rows += [a, b]
        cols += [b, a]
        values += [-g, -g]
    rows.append(np.arange(index.size))
    cols.append(np.arange(index.size))
    values.append(diagonal.ravel()[index])
    matrix = sparse.csr_matrix(
        (np.concatenate(values), (np.concatenate(rows), np.concatenate(cols))), shape=(index.size, index.size)
    )
    return matrix, index


@dataclass
class MultigridSolver:
    """Matrix-free geometric multigrid preconditioning CG (Numba), warm-started (default).

    Parameters
    ----------
    relative_tolerance : float
        Relative residual (to the right-hand side) at which CG stops.
    """

    relative_tolerance: float = 1e-6
    setups: int = 0

    def solve(self, level: Level, rhs: np.ndarray, guess: np.ndarray | None) -> tuple[np.ndarray, int]:
        """Solve the level's system; returns the potential (grid shape) and the iterations."""
        self.setups += 1
        return conjugate_gradient(level, rhs, guess, self.relative_tolerance)


@dataclass
class ConjugateGradientSolver:
    """Jacobi-preconditioned conjugate gradients (scipy), warm-started.

    Parameters
    ----------
    relative_tolerance : float
        Relative residual at which CG stops.
    """

    relative_tolerance: float = 1e-7
    maximum_iterations: int = 20000

    def solve(self, level: Level, rhs: np.ndarray, guess: np.ndarray | None) -> tuple[np.ndarray, int]:
        """Solve the level's system; returns the potential (grid shape) and the iterations."""
        matrix, index = to_csr(level)
        inverse_diagonal = 1.0 / matrix.diagonal()
        preconditioner = sparse_linalg.LinearOperator(
            matrix.shape, matvec=lambda v: inverse_diagonal * v, dtype=float
        )
        return _scipy_cg(matrix, index, level, rhs, guess, preconditioner, self.relative_tolerance,
                         self.maximum_iterations)


def _scipy_cg(matrix, index, level, rhs, guess, preconditioner, tolerance, maximum_iterations):
    count = [0]

    def callback(_: np.ndarray) -> None:
        count[0] += 1

    start = None if guess is None else guess.ravel()[index]
    solution, info = sparse_linalg.cg(
        matrix, rhs.ravel()[index], x0=start, rtol=tolerance, atol=0.0,
        maxiter=maximum_iterations, M=preconditioner, callback=callback,
    )
    if info > 0:
        raise RuntimeError(f"electric CG did not converge in {info} iterations")
    full = np.zeros(level.shape)
    full.ravel()[index] = solution
    return full, count[0]


@dataclass
class AMGSolver:
    """pyamg smoothed-aggregation multigrid preconditioning CG, hierarchy rebuilt per solve.

    Kept for comparison (``benchmarks/electric_solvers.py``): its setup dominates when the
    conductivity changes between solves, and a stale hierarchy is a poor preconditioner once
    tissue desiccates.

    Parameters
    ----------
    relative_tolerance : float
        Relative residual at which CG stops.
    """

    relative_tolerance: float = 1e-7
    setups: int = 0

    def solve(self, level: Level, rhs: np.ndarray, guess: np.ndarray | None) -> tuple[np.ndarray, int]:
        """Solve the level's system; returns the potential (grid shape) and the iterations."""
        import pyamg

        matrix, index = to_csr(level)
        hierarchy = pyamg.smoothed_aggregation_solver(matrix, symmetry="symmetric")
        self.setups += 1
        return _scipy_cg(matrix, index, level, rhs, guess, hierarchy.aspreconditioner(cycle="V"),
                         self.relative_tolerance, 500)


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
    solver : object with ``solve(level, rhs, guess)``
        The linear solver (default :class:`MultigridSolver`).
    """

    def __init__(
        self,
        grid: Grid,
        electrodes: list[ElectrodeRaster],
        grounded_faces: tuple[str, ...] = FACE_NAMES,
        solver: MultigridSolver | AMGSolver | ConjugateGradientSolver | None = None,
    ) -> None:
        unknown = [face for face in grounded_faces if face not in FACE_NAMES]
        if unknown:
            raise ValueError(f"unknown grounded face {unknown[0]!r}; valid: {', '.join(FACE_NAMES)}")
        if not electrodes:
            raise ValueError("the electric problem needs at least one electrode")
        self.grid = grid
        self.electrodes = electrodes
        self.grounded_faces = tuple(grounded_faces)
        self.solver = solver if solver is not None else MultigridSolver()
        polarities = {np.sign(e.polarity) for e in electrodes}
        if not grounded_faces and len(polarities) < 2:
            raise ValueError("with no grounded face the electrodes need both polarities (bipolar)")
        self.metal_potential = np.full(grid.size, np.nan)
        for electrode in electrodes:
            self.metal_potential[electrode.metal_index] = electrode.polarity
        self._last_potential: np.ndarray | None = None

    def assemble(self, conductivity_s_per_m: np.ndarray) -> tuple[Level, np.ndarray, dict[str, np.ndarray]]:
        """Build the matrix-free system (face conductances, extra diagonal, right-hand side).

        Returns the fine :class:`~rfasim.physics.multigrid.Level`, the right-hand side (A, per
        voxel, at 1 V) and the pieces the heat computation needs.
        """
        grid = self.grid
        sigma = np.asarray(conductivity_s_per_m, dtype=float).reshape(grid.shape)
        h = grid.spacing_m
        is_metal = ~np.isnan(self.metal_potential).reshape(grid.shape)
        unknown = (sigma > 0) & ~is_metal
        metal_potential = np.nan_to_num(self.metal_potential.reshape(grid.shape))
        shape = grid.shape
        gx = np.zeros((shape[0] - 1, shape[1], shape[2]))
        gy = np.zeros((shape[0], shape[1] - 1, shape[2]))
        gz = np.zeros((shape[0], shape[1], shape[2] - 1))
        diagonal_extra = np.empty(shape)
        rhs = np.empty(shape)
        unknown_codes, metal_codes = unknown.view(np.uint8), is_metal.view(np.uint8)
        assemble_faces(sigma, unknown_codes, metal_codes, metal_potential, h, gx, gy, gz, diagonal_extra, rhs)
        faces = [gx, gy, gz]
        # Grounded outer faces: 0 V half a voxel outside.
        boundary = np.zeros(grid.shape)
        for face in self.grounded_faces:
            axis = "xyz".index(face[0])
            index = [slice(None)] * 3
            index[axis] = 0 if face[1] == "-" else -1
            index_t = tuple(index)
            boundary[index_t] += np.where(unknown[index_t], 2.0 * sigma[index_t] * h, 0.0)
        diagonal_extra += boundary
        # Sub-voxel coupling of partly filled voxels to their electrode.
        coupling = np.zeros(grid.size)
        coupling_weighted = np.zeros(grid.size)
        sigma_flat, unknown_flat = sigma.ravel(), unknown.ravel()
        for electrode in self.electrodes:
            keep = unknown_flat[electrode.coupling_index]
            index = electrode.coupling_index[keep]
            g = sigma_flat[index] * electrode.coupling_factor_m[keep]
            np.add.at(coupling, index, g)
            np.add.at(coupling_weighted, index, g * electrode.polarity)
        diagonal_extra += coupling.reshape(grid.shape)
        rhs += coupling_weighted.reshape(grid.shape)
        if not unknown.any():
            raise ValueError("the electric problem has no conducting tissue voxel")
        level = Level(faces[0], faces[1], faces[2], diagonal_extra, unknown.astype(np.uint8))
        pieces = {
            "sigma": sigma, "unknown": unknown, "is_metal": is_metal, "metal_potential": metal_potential,
            "boundary": boundary, "coupling": coupling.reshape(grid.shape),
            "coupling_weighted": coupling_weighted.reshape(grid.shape),
        }
        return level, rhs, pieces

    def solve(self, conductivity_s_per_m: np.ndarray) -> ElectricSolution:
        """Solve at unit voltage for the given conductivity field (S/m, grid shape)."""
        start = time.perf_counter()
        grid = self.grid
        level, rhs, pieces = self.assemble(conductivity_s_per_m)
        with _single_threaded_blas():
            potential, iterations = self.solver.solve(level, rhs, self._last_potential)
        self._last_potential = potential
        unknown, is_metal = pieces["unknown"], pieces["is_metal"]
        potential = np.where(unknown, potential, 0.0)
        potential[is_metal] = pieces["metal_potential"][is_metal]

        # Joule heat (W at 1 V), face by face, split between the two voxels of each face;
        # heat on a tissue-metal face belongs to the tissue voxel.
        heat = np.empty(grid.shape)
        face_joule_heat(
            potential, pieces["sigma"], unknown.view(np.uint8), is_metal.view(np.uint8),
            pieces["metal_potential"], grid.spacing_m, level.gx, level.gy, level.gz, heat,
        )
        heat += pieces["boundary"] * potential**2
        # Coupling power sum_e g (V - p_e)^2 = G V^2 - 2 V sum g p + sum g p^2.
        coupling_square = np.zeros(grid.size)
        for electrode in self.electrodes:
            keep = unknown.ravel()[electrode.coupling_index]
            index = electrode.coupling_index[keep]
            g = pieces["sigma"].ravel()[index] * electrode.coupling_factor_m[keep]
            np.add.at(coupling_square, index, g * electrode.polarity**2)
        heat += np.where(
            unknown,
            pieces["coupling"] * potential**2 - 2.0 * potential * pieces["coupling_weighted"]
            + coupling_square.reshape(grid.shape),
            0.0,
        )
        sigma = pieces["sigma"]
        with np.errstate(divide="ignore", invalid="ignore"):
            heating_per_conductivity = np.where(sigma > 0, heat / (grid.voxel_volume_m3 * sigma), 0.0)
        heating_per_conductivity[is_metal] = 0.0
        return ElectricSolution(
            potential_v=potential,
            heating_per_conductivity=heating_per_conductivity,
            conductance_s=float(heat.sum()),
            solve_seconds=time.perf_counter() - start,
            iterations=iterations,
        )
