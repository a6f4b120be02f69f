"""Matrix-free geometric multigrid (Numba) for the cell-centred conductance system.

The system is stored as face conductances ``gx, gy, gz`` (S) between neighbouring voxels, an
extra diagonal ``diagonal_extra`` (S: couplings to Dirichlet nodes — grounded faces, electrode
metal) and an ``active`` mask; ``(A u)_i = (sum_j g_ij + d_i) u_i - sum_j g_ij u_j``.

Coarse levels merge 2x2x2 voxels.  With piecewise-constant transfer the Galerkin coarse
operator ``P^T A P`` sums the fine faces across a coarse interface; it is scaled by 1/2, which
turns it into the re-discretised operator for uniform conductivity (the classic fix for
aggregation-type cell-centred multigrid).  Symmetric red-black Gauss-Seidel smoothing
(red-black before, black-red after) keeps the V-cycle symmetric, so it preconditions CG.
No setup beyond the coarsening, and the conductivity can change freely between solves: this
is why it beats algebraic multigrid in the coupled loop (see ``benchmarks/README.md``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np


@dataclass
class Level:
    """One multigrid level: face conductances (S), extra diagonal (S), active mask."""

    gx: np.ndarray
    gy: np.ndarray
    gz: np.ndarray
    diagonal_extra: np.ndarray
    active: np.ndarray

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.active.shape  # type: ignore[return-value]


@numba.njit(parallel=True, cache=True)
def apply_operator(u, gx, gy, gz, d, active, out):  # pragma: no cover - compiled
    """out = A u (zero on inactive voxels)."""
    nx, ny, nz = u.shape
    for i in numba.prange(nx):
        for j in range(ny):
            for k in range(nz):
                if active[i, j, k] == 0:
                    out[i, j, k] = 0.0
                    continue
                center = u[i, j, k]
                total = d[i, j, k] * center
                if i > 0:
                    total += gx[i - 1, j, k] * (center - u[i - 1, j, k])
                if i < nx - 1:
                    total += gx[i, j, k] * (center - u[i + 1, j, k])
                if j > 0:
                    total += gy[i, j - 1, k] * (center - u[i, j - 1, k])
                if j < ny - 1:
                    total += gy[i, j, k] * (center - u[i, j + 1, k])
                if k > 0:
                    total += gz[i, j, k - 1] * (center - u[i, j, k - 1])
                if k < nz - 1:
                    total += gz[i, j, k] * (center - u[i, j, k + 1])
                out[i, j, k] = total


@numba.njit(parallel=True, cache=True)
def smooth_color(u, f, gx, gy, gz, d, active, color):  # pragma: no cover - compiled
    """One Gauss-Seidel half-sweep over voxels with (i + j + k) % 2 == color."""
    nx, ny, nz = u.shape
    for i in numba.prange(nx):
        for j in range(ny):
            start = (color + i + j) % 2
            for k in range(start, nz, 2):
                if active[i, j, k] == 0:
                    continue
                diagonal = d[i, j, k]
                total = f[i, j, k]
                if i > 0:
                    g = gx[i - 1, j, k]
                    diagonal += g
                    total += g * u[i - 1, j, k]
                if i < nx - 1:
                    g = gx[i, j, k]
                    diagonal += g
                    total += g * u[i + 1, j, k]
                if j > 0:
                    g = gy[i, j - 1, k]
                    diagonal += g
                    total += g * u[i, j - 1, k]
                if j < ny - 1:
                    g = gy[i, j, k]
                    diagonal += g
                    total += g * u[i, j + 1, k]
                if k > 0:
                    g = gz[i, j, k - 1]
                    diagonal += g
                    total += g * u[i, j, k - 1]
                if k < nz - 1:
                    g = gz[i, j, k]
                    diagonal += g
                    total += g * u[i, j, k + 1]
                if diagonal > 0.0:
                    u[i, j, k] = total / diagonal


@numba.njit(parallel=True, cache=True)
def restrict_sum(fine, coarse):  # pragma: no cover - compiled
    """coarse = sum of the (up to 8) children of each coarse voxel."""
    cx, cy, cz = coarse.shape
    nx, ny, nz = fine.shape
    for a in numba.prange(cx):
        for b in range(cy):
            for c in range(cz):
                total = 0.0
                for i in range(2 * a, min(2 * a + 2, nx)):
                    for j in range(2 * b, min(2 * b + 2, ny)):
                        for k in range(2 * c, min(2 * c + 2, nz)):
                            total += fine[i, j, k]
                coarse[a, b, c] = total


@numba.njit(parallel=True, cache=True)
def prolong_add(coarse, fine, active):  # pragma: no cover - compiled
    """fine += coarse value of the parent (piecewise-constant interpolation)."""
    nx, ny, nz = fine.shape
    for i in numba.prange(nx):
        for j in range(ny):
            for k in range(nz):
                if active[i, j, k] != 0:
                    fine[i, j, k] += coarse[i // 2, j // 2, k // 2]


@numba.njit(cache=True)
def _coarsen_faces(gx, gy, gz, d, active, cgx, cgy, cgz, cd, cactive):  # pragma: no cover - compiled
    nx, ny, nz = active.shape
    for i in range(nx):
        for j in range(ny):
            for k in range(nz):
                a, b, c = i // 2, j // 2, k // 2
                if active[i, j, k] != 0:
                    cactive[a, b, c] = 1
                cd[a, b, c] += 0.5 * d[i, j, k]
                # Fine faces crossing a coarse interface (odd fine index -> next coarse cell).
                if i < nx - 1 and i % 2 == 1:
                    cgx[a, b, c] += 0.5 * gx[i, j, k]
                if j < ny - 1 and j % 2 == 1:
                    cgy[a, b, c] += 0.5 * gy[i, j, k]
                if k < nz - 1 and k % 2 == 1:
                    cgz[a, b, c] += 0.5 * gz[i, j, k]


def coarsen(level: Level) -> Level:
    """The next coarser level (2x2x2 merge, half the Galerkin operator)."""
    nx, ny, nz = level.shape
    cx, cy, cz = (nx + 1) // 2, (ny + 1) // 2, (nz + 1) // 2
    cgx = np.zeros((max(cx - 1, 0), cy, cz))
    cgy = np.zeros((cx, max(cy - 1, 0), cz))
    cgz = np.zeros((cx, cy, max(cz - 1, 0)))
    cd = np.zeros((cx, cy, cz))
    cactive = np.zeros((cx, cy, cz), np.uint8)
    _coarsen_padded(level, cgx, cgy, cgz, cd, cactive)
    return Level(cgx, cgy, cgz, cd, cactive)


def _pad(array: np.ndarray, axis: int) -> np.ndarray:
    widths = [(0, 0)] * 3
    widths[axis] = (0, 1)
    return np.pad(array, widths)


def _coarsen_padded(level: Level, cgx, cgy, cgz, cd, cactive) -> None:
    # Face arrays padded to the voxel shape give the kernel one uniform indexing.
    padded = [_pad(level.gx, 0), _pad(level.gy, 1), _pad(level.gz, 2)]
    coarse_padded = [_pad(cgx, 0), _pad(cgy, 1), _pad(cgz, 2)]
    _coarsen_faces(*padded, level.diagonal_extra, level.active, *coarse_padded, cd, cactive)
    cgx[...] = coarse_padded[0][:-1] if cgx.shape[0] else cgx
    cgy[...] = coarse_padded[1][:, :-1] if cgy.shape[1] else cgy
    cgz[...] = coarse_padded[2][:, :, :-1] if cgz.shape[2] else cgz


class MultigridPreconditioner:
    """Symmetric V-cycle over a hierarchy built from the fine level.

    Parameters
    ----------
    fine : Level
        The fine-level system.
    smoothing_sweeps : int
        Symmetric Gauss-Seidel sweeps before and after the coarse correction.
    coarsest_size : int
        Stop coarsening when the smallest dimension is at most this.
    """

    def __init__(self, fine: Level, smoothing_sweeps: int = 2, coarsest_size: int = 3) -> None:
        self.levels = [fine]
        while min(self.levels[-1].shape) > coarsest_size and len(self.levels) < 12:
            self.levels.append(coarsen(self.levels[-1]))
        self.smoothing_sweeps = smoothing_sweeps
        self._work = [(np.zeros(lv.shape), np.zeros(lv.shape), np.zeros(lv.shape)) for lv in self.levels]

    def _cycle(self, depth: int, rhs: np.ndarray) -> np.ndarray:
        level = self.levels[depth]
        solution, residual, operator = self._work[depth]
        solution[...] = 0.0
        args = (level.gx, level.gy, level.gz, level.diagonal_extra, level.active)
        if depth == len(self.levels) - 1:
            for _ in range(40):
                smooth_color(solution, rhs, *args, 0)
                smooth_color(solution, rhs, *args, 1)
            return solution
        for _ in range(self.smoothing_sweeps):
            smooth_color(solution, rhs, *args, 0)
            smooth_color(solution, rhs, *args, 1)
        apply_operator(solution, *args, operator)
        np.subtract(rhs, operator, out=residual)
        coarse_rhs = np.zeros(self.levels[depth + 1].shape)
        restrict_sum(residual, coarse_rhs)
        correction = self._cycle(depth + 1, coarse_rhs)
        prolong_add(correction, solution, level.active)
        for _ in range(self.smoothing_sweeps):
            smooth_color(solution, rhs, *args, 1)
            smooth_color(solution, rhs, *args, 0)
        return solution

    def apply(self, residual: np.ndarray) -> np.ndarray:
        """Approximate A^-1 residual by one V-cycle (a new array)."""
        return self._cycle(0, residual).copy()


def conjugate_gradient(
    fine: Level,
    rhs: np.ndarray,
    guess: np.ndarray | None,
    relative_tolerance: float = 1e-8,
    maximum_iterations: int = 500,
    preconditioner: MultigridPreconditioner | None = None,
) -> tuple[np.ndarray, int]:
    """Multigrid-preconditioned CG on the matrix-free system; returns (solution, iterations).

    The tolerance is relative to ``||rhs||``, so a good warm start needs few iterations.
    """
    preconditioner = preconditioner if preconditioner is not None else MultigridPreconditioner(fine)
    args = (fine.gx, fine.gy, fine.gz, fine.diagonal_extra, fine.active)
    solution = np.zeros(fine.shape) if guess is None else np.where(fine.active != 0, guess, 0.0)
    product = np.empty(fine.shape)
    apply_operator(solution, *args, product)
    residual = rhs - product
    target = relative_tolerance * float(np.linalg.norm(rhs))
    if float(np.linalg.norm(residual)) <= target:
        return solution, 0
    z = preconditioner.apply(residual)
    direction = z.copy()
    rz = float(np.vdot(residual, z))
    for iteration in range(1, maximum_iterations + 1):
        apply_operator(direction, *args, product)
        alpha = rz / float(np.vdot(direction, product))
        solution += alpha * direction
        residual -= alpha * product
        if float(np.linalg.norm(residual)) <= target:
            return solution, iteration
        z = preconditioner.apply(residual)
        rz_next = float(np.vdot(residual, z))
        direction *= rz_next / rz
        direction += z
        rz = rz_next
    raise RuntimeError(f"multigrid CG did not converge in {maximum_iterations} iterations")
