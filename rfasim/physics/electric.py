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

Assembly and Joule heat are one fused Numba pass each (:mod:`rfasim.physics.electric_kernels`;
the NumPy twins :func:`assemble_reference` and :func:`joule_reference` keep the original
implementation for the tests).  :meth:`ElectricProblem.solve` is the exact global solve;
:meth:`ElectricProblem.update` is the time loop's re-solve: a box around the electrodes with the
far field scaled from the last global solution, and a global correction when an error indicator
trips (:mod:`rfasim.physics.local_update`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import numba
import numpy as np
import scipy.sparse as sparse
import scipy.sparse.linalg as sparse_linalg
from threadpoolctl import ThreadpoolController

from rfasim.grid import Grid
from rfasim.physics import electric_kernels
from rfasim.physics.local_update import LocalUpdate, LocalUpdateOptions
from rfasim.physics.multigrid import Level, MultigridHierarchy, pad_faces
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
        Krylov iterations used (for a local update: of both box solves).
    local : bool
        True for a local update (:meth:`ElectricProblem.update`), False for a global solve.
    flux_mismatch : float
        Local update: relative mismatch of the current through the box's surface between the
        box solution and the scaled exterior field (the error indicator; 0 for a global solve).
    exterior_drift : float
        Local update: heating-weighted conductivity drift outside the box since the last global
        solve, relative to the power at that solve.
    """

    potential_v: np.ndarray
    heating_per_conductivity: np.ndarray
    conductance_s: float
    solve_seconds: float
    iterations: int
    local: bool = False
    flux_mismatch: float = 0.0
    exterior_drift: float = 0.0

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

    The hierarchy's arrays are kept between solves (rebuilt in place from the new
    conductances), and the whole CG loop runs in compiled code
    (:class:`~rfasim.physics.multigrid.MultigridHierarchy`).

    Parameters
    ----------
    relative_tolerance : float
        Relative residual (to the right-hand side) at which CG stops.
    precision : str
        ``"float32"`` (default) or ``"float64"``: floating type of the V-cycle.  CG, the
        operator and the solution are float64 either way; float32 halves the V-cycle's memory
        traffic and changes the iteration count, not the converged answer.
    smoothing_sweeps : int
        Red-black Gauss-Seidel sweeps before and after each coarse correction.
    """

    relative_tolerance: float = 1e-5
    precision: str = "float32"
    smoothing_sweeps: int = 2
    setups: int = 0
    v_cycles: int = 0

    def __post_init__(self) -> None:
        if self.precision not in ("float32", "float64"):
            raise ValueError(f"precision must be 'float32' or 'float64', got {self.precision!r}")
        if not self.relative_tolerance > 0:
            raise ValueError(f"relative_tolerance must be positive, got {self.relative_tolerance!r}")
        self._hierarchies: dict[tuple[int, int, int], MultigridHierarchy] = {}

    def hierarchy(self, shape: tuple[int, int, int]) -> MultigridHierarchy:
        """The (reused) hierarchy for a grid shape."""
        shape = tuple(int(n) for n in shape)
        if shape not in self._hierarchies:
            self._hierarchies[shape] = MultigridHierarchy(shape, np.dtype(self.precision), self.smoothing_sweeps)
        return self._hierarchies[shape]

    def solve_padded(self, gx: np.ndarray, gy: np.ndarray, gz: np.ndarray, diagonal_extra: np.ndarray,
                     rhs: np.ndarray, guess: np.ndarray | None, relative_tolerance: float | None = None,
                     out: np.ndarray | None = None) -> tuple[np.ndarray, int]:
        """Solve the system given by padded faces (no mask: inactive voxels have a zero diagonal).

        Values of ``guess`` on inactive voxels are carried through unchanged and are harmless.
        ``relative_tolerance`` overrides the solver's; ``out`` receives the solution.
        """
        hierarchy = self.hierarchy(diagonal_extra.shape)
        hierarchy.update(gx, gy, gz, diagonal_extra)
        self.setups += 1
        before = hierarchy.v_cycles
        tolerance = self.relative_tolerance if relative_tolerance is None else relative_tolerance
        solution, iterations = hierarchy.solve(gx, gy, gz, diagonal_extra, rhs, guess, tolerance, out=out)
        self.v_cycles += hierarchy.v_cycles - before
        return solution, iterations

    def solve(self, level: Level, rhs: np.ndarray, guess: np.ndarray | None) -> tuple[np.ndarray, int]:
        """Solve the level's system; returns the potential (grid shape) and the iterations."""
        gx, gy, gz = pad_faces(level)
        start = None if guess is None else np.where(level.active != 0, guess, 0.0)
        solution, iterations = self.solve_padded(gx, gy, gz, level.diagonal_extra, rhs, start)
        return solution, iterations


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

    Kept for comparison (``benchmarks/standard_case.py --compare``): its setup dominates when the
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
    local_update : LocalUpdateOptions, optional
        Options of :meth:`update` (the local re-solve around the electrodes); defaults apply
        when omitted.

    Notes
    -----
    :meth:`solve` is the exact global solve.  :meth:`update` is what a time loop calls when
    the conductivity has changed since the last solve: it re-solves a box around the
    electrodes with the last global field outside, and falls back to :meth:`solve` when its
    error indicators pass their tolerances (:mod:`rfasim.physics.local_update`).
    """

    def __init__(
        self,
        grid: Grid,
        electrodes: list[ElectrodeRaster],
        grounded_faces: tuple[str, ...] = FACE_NAMES,
        solver: MultigridSolver | AMGSolver | ConjugateGradientSolver | None = None,
        local_update: LocalUpdateOptions | None = None,
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
        shape = grid.shape
        # Static parts of the system, prepared once.
        self._metal = np.zeros(shape, np.uint8)
        self._metal_potential = np.zeros(shape)
        for electrode in electrodes:
            self._metal.ravel()[electrode.metal_index] = 1
            self._metal_potential.ravel()[electrode.metal_index] = electrode.polarity
        self._grounded = np.array([face in self.grounded_faces for face in FACE_NAMES], dtype=np.int64)
        (self._coupling_index, self._coupling_factor, self._coupling_factor_polarity,
         self._coupling_factor_polarity2) = _aggregate_couplings(electrodes, grid.size)
        self._origin = np.zeros(3, np.int64)
        self._no_ghost = np.zeros((1, 1, 1))
        self._buffers: tuple[np.ndarray, ...] | None = None
        self._rhs: np.ndarray | None = None
        self._no_ghost_rhs = np.zeros((0, 0, 0))
        self._last_potential: np.ndarray | None = None
        self._last_digest: tuple[int, int] | None = None
        self._last_solution: ElectricSolution | None = None
        self.local_options = local_update if local_update is not None else LocalUpdateOptions()
        self._local: LocalUpdate | None = None
        # Output fields (heating, potential) of update(), global and local alike: three pairs.
        self._pool: list[tuple[np.ndarray, np.ndarray]] = []
        self._returned_potential: np.ndarray | None = None
        self.global_solves = 0
        self.local_updates = 0
        self.unchanged_calls = 0

    @property
    def metal_potential(self) -> np.ndarray:
        """Potential of every voxel at 1 V applied (flat, grid order): the electrode's polarity on
        its metal, NaN elsewhere (computed on demand; the problem keeps it as two fields)."""
        return np.where(self._metal != 0, self._metal_potential, np.nan).ravel()

    # -- assembly ------------------------------------------------------------------------------
    def _system(self, sigma: np.ndarray, own_buffers: bool = False) -> tuple[np.ndarray, ...]:
        """Fused assembly: padded gx, gy, gz, diagonal, rhs.

        With the multigrid solver the faces and the diagonal go straight into its hierarchy's
        fine level (its precision: no float64 copy of the operator is kept; the CG applies the
        same faces), else (or with ``own_buffers``) into float64 buffers of the problem's own.
        """
        into_hierarchy = isinstance(self.solver, MultigridSolver) and not own_buffers
        if into_hierarchy:
            if self._rhs is None:
                self._rhs = np.empty(self.grid.shape)
            gx, gy, gz, diagonal = self.solver.hierarchy(self.grid.shape).fine_system()
            rhs, unused = self._rhs, self._no_ghost_rhs
        else:
            if self._buffers is None:
                self._buffers = (*(np.empty(self.grid.shape) for _ in range(5)), np.zeros((0, 0, 0)))
            gx, gy, gz, diagonal, rhs, unused = self._buffers
        electric_kernels.assemble(
            sigma, self._metal, self._metal_potential, self.grid.spacing_m, self._grounded, self._origin,
            self._no_ghost, self._coupling_index, self._coupling_factor, self._coupling_factor_polarity,
            gx, gy, gz, diagonal, rhs, unused,
        )
        return gx, gy, gz, diagonal, rhs

    def _conductivity(self, conductivity_s_per_m: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(conductivity_s_per_m, dtype=float).reshape(self.grid.shape)

    def _changed(self, sigma: np.ndarray) -> bool:
        """Whether sigma differs from the last call's (by a 128-bit digest of its bytes, not a
        stored copy); checks it conducts."""
        flat = sigma.ravel()
        first, second, positive = electric_kernels.content_digest(flat.view(np.uint64), flat)
        if not positive:
            raise ValueError("the electric problem has no conducting tissue voxel")
        digest = (int(first), int(second))
        changed = digest != self._last_digest
        self._last_digest = digest
        return changed

    def assemble(self, conductivity_s_per_m: np.ndarray) -> tuple[Level, np.ndarray, dict[str, np.ndarray]]:
        """Build the matrix-free system (face conductances, extra diagonal, right-hand side).

        Returns the fine :class:`~rfasim.physics.multigrid.Level` (its own arrays), the
        right-hand side (A, per voxel, at 1 V) and the pieces the heat computation needs.
        """
        sigma = self._conductivity(conductivity_s_per_m)
        if not np.any(sigma > 0):
            raise ValueError("the electric problem has no conducting tissue voxel")
        gx, gy, gz, diagonal, rhs = (array.copy() for array in self._system(sigma, own_buffers=True))
        unknown = (sigma > 0) & (self._metal == 0)
        level = Level.from_padded(gx, gy, gz, diagonal, unknown.astype(np.uint8))
        pieces = {"sigma": sigma, "unknown": unknown, "is_metal": self._metal != 0,
                  "metal_potential": self._metal_potential}
        return level, rhs, pieces

    # -- solves --------------------------------------------------------------------------------
    def solve(self, conductivity_s_per_m: np.ndarray) -> ElectricSolution:
        """Solve at unit voltage for the given conductivity field (S/m, grid shape).

        A call with the same conductivity as the previous solve returns that solution again
        (same arrays) without solving.
        """
        start = time.perf_counter()
        sigma = self._conductivity(conductivity_s_per_m)
        cached = self._cached(sigma, start)
        if cached is not None:
            return cached
        return self._solve_global(sigma, self._last_potential, start, prepare_local=self._local is not None)

    def _cached(self, sigma: np.ndarray, start: float) -> ElectricSolution | None:
        if not self._changed(sigma) and self._last_solution is not None:
            self.unchanged_calls += 1
            return replace(self._last_solution, solve_seconds=time.perf_counter() - start, iterations=0)
        self._last_solution = None  # until this solve succeeds
        return None

    def _solve_global(self, sigma: np.ndarray, guess: np.ndarray | None, start: float,
                      prepare_local: bool, relative_tolerance: float | None = None,
                      buffers: tuple[np.ndarray, np.ndarray] | None = None) -> ElectricSolution:
        grid = self.grid
        gx, gy, gz, diagonal, rhs = self._system(sigma)
        with _single_threaded_blas():
            if isinstance(self.solver, MultigridSolver):
                potential, iterations = self.solver.solve_padded(
                    gx, gy, gz, diagonal, rhs, guess, relative_tolerance, None if buffers is None else buffers[1]
                )
            else:
                unknown = ((sigma > 0) & (self._metal == 0)).astype(np.uint8)
                level = Level.from_padded(gx, gy, gz, diagonal, unknown)
                potential, iterations = self.solver.solve(level, rhs, guess)
        self._last_potential = potential
        if buffers is None:
            heating, output = np.empty(grid.shape), np.empty(grid.shape)
        else:  # the potential is completed in place: Joule takes metal voxels' potential from
            # _metal_potential and reads insulator voxels only through zero face conductances
            heating, output = buffers
        power = electric_kernels.joule(
            potential, self._no_ghost, 1.0, sigma, self._metal, self._metal_potential, grid.spacing_m,
            self._grounded, self._origin, gx, gy, gz, self._coupling_index, self._coupling_factor,
            self._coupling_factor_polarity, self._coupling_factor_polarity2, 1.0 / grid.voxel_volume_m3,
            heating, output,
        )
        solution = ElectricSolution(
            potential_v=output,
            heating_per_conductivity=heating,
            conductance_s=float(power),
            solve_seconds=time.perf_counter() - start,
            iterations=iterations,
        )
        self._remember(sigma, solution)
        self.global_solves += 1
        if prepare_local and isinstance(self.solver, MultigridSolver):
            self._local = LocalUpdate.after_global(self, sigma, solution, self._local)
        return solution

    def _remember(self, sigma: np.ndarray, solution: ElectricSolution) -> None:
        self._last_solution = solution  # (the conductivity's digest was taken by _changed)

    def update(self, conductivity_s_per_m: np.ndarray, known_changed: bool = False) -> ElectricSolution:
        """The field at a changed conductivity: a local re-solve, or a global solve when needed.

        Re-solves a box around the electrodes (``local_update.margin_mm`` beyond them) with the
        last global potential outside, scaled so that the current through the box's surface is
        conserved; solves globally (:meth:`solve`) on the first call, when the flux mismatch
        on the box's surface or the conductivity drift outside it passes its tolerance, or
        after ``maximum_local_updates`` local updates.  Same return type as :meth:`solve`;
        ``solution.local`` tells which was done.  Only the multigrid solver has a local update;
        with another solver this is :meth:`solve`.

        The arrays of a solution of :meth:`update` (local or global) belong to the problem:
        they are reused (so no fresh pages are touched per update) and overwritten by the second
        following call of :meth:`update`.  Copy them to keep them longer.

        ``known_changed=True``: the caller knows the conductivity differs from the last call's
        (the coupled loop re-solves when the drift since the last solve passed its tolerance);
        the digest that tells an unchanged conductivity (one pass over the field) and its check
        that some voxel conducts are skipped, and the next call cannot be answered from cache.
        """
        start = time.perf_counter()
        sigma = self._conductivity(conductivity_s_per_m)
        if known_changed and self._last_solution is not None:
            self._last_digest = None
            self._last_solution = None  # until this solve succeeds
        else:
            cached = self._cached(sigma, start)
            if cached is not None:
                return cached
        if not isinstance(self.solver, MultigridSolver):
            return self._solve_global(sigma, self._last_potential, start, prepare_local=True)
        if self._local is None:
            solution = self._solve_global(sigma, self._last_potential, start, prepare_local=True,
                                          buffers=self.output_pair(self._last_potential))
            self._returned_potential = solution.potential_v
            return solution
        solution = self._local.update(self, sigma, start)
        if solution is None:  # an indicator passed its tolerance: correct globally
            solution = self._solve_global(sigma, self._local.warm_start, start, prepare_local=True,
                                          relative_tolerance=self.local_options.global_relative_tolerance,
                                          buffers=self.output_pair(self._local.warm_start))
        else:
            self._remember(sigma, solution)
            self.local_updates += 1
        self._returned_potential = solution.potential_v
        return solution


    def output_pair(self, prefer: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Arrays ``(heating, potential)`` for the next result of :meth:`update` (local or global).

        Three pairs serve every update: the next result never overwrites the last returned one
        (valid until the second following call) nor the last global field, which the local
        update holds as its exterior; among the free pairs the one whose potential is
        ``prefer`` (a warm start, then solved in place) is taken.  No grid-sized arrays are
        allocated per update.
        """
        if not self._pool:
            self._pool = [(np.empty(self.grid.shape), np.empty(self.grid.shape)) for _ in range(3)]
        held = self._local.potential_global if self._local is not None else None
        free = [pair for pair in self._pool if pair[1] is not held and pair[1] is not self._returned_potential]
        for pair in free:
            if pair[1] is prefer:
                return pair
        return free[0]

    def statistics(self) -> dict[str, int]:
        """Counts since construction: global solves, local updates, calls with an unchanged
        conductivity (answered from the last solution), V-cycles (global, local), and the
        global corrections of :meth:`update` by the indicator that tripped."""
        local_cycles = self._local.hierarchy.v_cycles if self._local is not None else 0
        global_cycles = getattr(self.solver, "v_cycles", 0)
        corrections = self._local.corrections if self._local is not None else {}
        return {
            "global_solves": self.global_solves,
            "local_updates": self.local_updates,
            "unchanged_calls": self.unchanged_calls,
            "v_cycles_global": int(global_cycles),
            "v_cycles_local": int(local_cycles),
            **{f"corrections_{reason}": count for reason, count in corrections.items()},
        }


def _aggregate_couplings(electrodes: list[ElectrodeRaster], size: int):
    """Sub-voxel couplings summed per voxel: index, sum factor, sum factor p, sum factor p^2."""
    indices = [np.asarray(e.coupling_index, dtype=np.int64) for e in electrodes]
    if not indices or sum(i.size for i in indices) == 0:
        empty = np.zeros(0)
        return np.zeros(0, np.int64), empty, empty.copy(), empty.copy()
    index = np.concatenate(indices)
    factor = np.concatenate([np.asarray(e.coupling_factor_m, dtype=float) for e in electrodes])
    polarity = np.concatenate([np.full(e.coupling_index.size, float(e.polarity)) for e in electrodes])
    unique, inverse = np.unique(index, return_inverse=True)
    sums = [np.bincount(inverse, weights=w, minlength=unique.size) for w in
            (factor, factor * polarity, factor * polarity**2)]
    return unique.astype(np.int64), sums[0], sums[1], sums[2]


def assemble_reference(problem: ElectricProblem, conductivity_s_per_m: np.ndarray):
    """NumPy twin of the fused assembly (the original implementation, kept as the reference).

    Returns unpadded ``gx, gy, gz``, the extra diagonal, the right-hand side and the pieces
    :func:`joule_reference` needs.
    """
    grid = problem.grid
    sigma = np.asarray(conductivity_s_per_m, dtype=float).reshape(grid.shape)
    h = grid.spacing_m
    is_metal = ~np.isnan(problem.metal_potential).reshape(grid.shape)
    unknown = (sigma > 0) & ~is_metal
    metal_potential = np.nan_to_num(problem.metal_potential.reshape(grid.shape))
    gx, gy, gz, diagonal_extra, rhs = assemble_faces_reference(sigma, unknown, is_metal, metal_potential, h)
    boundary = np.zeros(grid.shape)
    for face in problem.grounded_faces:
        axis = "xyz".index(face[0])
        index = [slice(None)] * 3
        index[axis] = 0 if face[1] == "-" else -1
        index_t = tuple(index)
        boundary[index_t] += np.where(unknown[index_t], 2.0 * sigma[index_t] * h, 0.0)
    diagonal_extra += boundary
    coupling = np.zeros(grid.size)
    coupling_weighted = np.zeros(grid.size)
    coupling_square = np.zeros(grid.size)
    sigma_flat, unknown_flat = sigma.ravel(), unknown.ravel()
    for electrode in problem.electrodes:
        keep = unknown_flat[electrode.coupling_index]
        index = electrode.coupling_index[keep]
        g = sigma_flat[index] * electrode.coupling_factor_m[keep]
        np.add.at(coupling, index, g)
        np.add.at(coupling_weighted, index, g * electrode.polarity)
        np.add.at(coupling_square, index, g * electrode.polarity**2)
    diagonal_extra += coupling.reshape(grid.shape)
    rhs += coupling_weighted.reshape(grid.shape)
    pieces = {
        "sigma": sigma, "unknown": unknown, "is_metal": is_metal, "metal_potential": metal_potential,
        "boundary": boundary, "coupling": coupling.reshape(grid.shape),
        "coupling_weighted": coupling_weighted.reshape(grid.shape),
        "coupling_square": coupling_square.reshape(grid.shape),
    }
    return gx, gy, gz, diagonal_extra, rhs, pieces


def joule_reference(problem: ElectricProblem, potential: np.ndarray, faces, pieces):
    """NumPy twin of the fused Joule-heat pass: (potential, heating per conductivity, power)."""
    grid = problem.grid
    unknown, is_metal, sigma = pieces["unknown"], pieces["is_metal"], pieces["sigma"]
    potential = np.where(unknown, potential, 0.0)
    potential[is_metal] = pieces["metal_potential"][is_metal]
    heat = face_joule_heat_reference(potential, sigma, unknown, is_metal, pieces["metal_potential"],
                                     grid.spacing_m, *faces)
    heat += pieces["boundary"] * potential**2
    heat += np.where(unknown, pieces["coupling"] * potential**2 - 2.0 * potential * pieces["coupling_weighted"]
                     + pieces["coupling_square"], 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        heating = np.where(sigma > 0, heat / (grid.voxel_volume_m3 * sigma), 0.0)
    heating[is_metal] = 0.0
    return potential, heating, float(heat.sum())
