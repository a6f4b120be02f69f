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

Two implementations of the same method:

- :class:`MultigridHierarchy` (production): the levels live in flat buffers reused across
  solves, and one compiled call runs the whole preconditioned CG.  The red-black sweep is one
  pass (the second colour of plane ``i - 1`` follows the first colour of plane ``i``), the
  residual is restricted as it is computed, and the V-cycle can run in float32 while CG stays
  float64.  It is serial: on the shared 2-core machine a two-thread version gave no speed-up
  (wall = CPU time: the second core was not free) and its parallel variants cost ~30 s more of
  first-run compilation (``benchmarks/README.md``).
- :class:`MultigridPreconditioner` with :func:`conjugate_gradient` (the reference, driven from
  Python one kernel per call): the tests check the production path against it.
"""

from __future__ import annotations

import math
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
    #: Optional face arrays padded to the voxel shape, of which ``gx, gy, gz`` are views.
    padded: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    @classmethod
    def from_padded(cls, gx: np.ndarray, gy: np.ndarray, gz: np.ndarray, diagonal_extra: np.ndarray,
                    active: np.ndarray) -> Level:
        """A level from padded face arrays (the face past the last plane of each axis is zero)."""
        return cls(gx[:-1], gy[:, :-1], gz[:, :, :-1], diagonal_extra, active, (gx, gy, gz))

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


# ---------------------------------------------------------------------------------------------
# Production path: the whole preconditioned CG in compiled code.
#
# Face arrays are padded to the voxel shape (the face towards +x of the last plane is zero), so
# every level has one indexing.  Inactive voxels are voxels whose diagonal (faces plus extra) is
# zero: smoothing sets them to zero and the operator gives zero there, so no mask is read.
# Kernel bodies take a range of x-planes (the whole grid in production; a range keeps them
# ready for a threaded caller).
# ---------------------------------------------------------------------------------------------


@numba.njit(cache=True)
def _relax_plane(u, f, gx, gy, gz, inverse, i, color, zero_guess):  # pragma: no cover - compiled
    """Gauss-Seidel update of the voxels of one colour in plane ``i``.

    ``inverse`` is the inverse of the full diagonal (0 on inactive voxels).  Rows whose voxels
    have their x and y neighbours on the level skip those bounds checks.  With ``zero_guess``
    the neighbours are taken as zero (the first sweep from a zero start).  No helper calls in
    the loops: a call per voxel (array arguments, reference counts) costs more than the update.
    """
    nx, ny, nz = u.shape
    inner_i = 0 < i < nx - 1
    for j in range(ny):
        start = (color + i + j) % 2
        if zero_guess:
            for k in range(start, nz, 2):
                u[i, j, k] = f[i, j, k] * inverse[i, j, k]
        elif inner_i and 0 < j < ny - 1:
            for k in range(start, nz, 2):
                total = (f[i, j, k] + gx[i - 1, j, k] * u[i - 1, j, k] + gx[i, j, k] * u[i + 1, j, k]
                         + gy[i, j - 1, k] * u[i, j - 1, k] + gy[i, j, k] * u[i, j + 1, k])
                if k > 0:
                    total += gz[i, j, k - 1] * u[i, j, k - 1]
                if k < nz - 1:
                    total += gz[i, j, k] * u[i, j, k + 1]
                u[i, j, k] = total * inverse[i, j, k]
        else:
            for k in range(start, nz, 2):
                total = f[i, j, k]
                if i > 0:
                    total += gx[i - 1, j, k] * u[i - 1, j, k]
                if i < nx - 1:
                    total += gx[i, j, k] * u[i + 1, j, k]
                if j > 0:
                    total += gy[i, j - 1, k] * u[i, j - 1, k]
                if j < ny - 1:
                    total += gy[i, j, k] * u[i, j + 1, k]
                if k > 0:
                    total += gz[i, j, k - 1] * u[i, j, k - 1]
                if k < nz - 1:
                    total += gz[i, j, k] * u[i, j, k + 1]
                u[i, j, k] = total * inverse[i, j, k]


@numba.njit(cache=True)
def _sweep(u, f, gx, gy, gz, inverse, first, zero_guess):  # pragma: no cover - compiled
    """One red-black sweep (colour ``first``, then the other) in one pass over the planes.

    The second colour of plane ``i - 1`` is updated right after the first colour of plane ``i``:
    it reads only first-colour neighbours, all final by then, so the result is the same as two
    half-sweeps over the whole grid while the data passes through the cache once.
    """
    second = 1 - first
    nx = u.shape[0]
    for i in range(nx):
        _relax_plane(u, f, gx, gy, gz, inverse, i, first, zero_guess)
        if i > 0:
            _relax_plane(u, f, gx, gy, gz, inverse, i - 1, second, False)
    _relax_plane(u, f, gx, gy, gz, inverse, nx - 1, second, False)


@numba.njit(cache=True)
def _inverse_diagonal_planes(gx, gy, gz, d, inverse):  # pragma: no cover - compiled
    """inverse = 1 / (d + the faces' sum) where positive, else 0 (padded faces)."""
    nx, ny, nz = d.shape
    for i in range(nx):
        for j in range(ny):
            for k in range(nz):
                diagonal = d[i, j, k]
                if i > 0:
                    diagonal += gx[i - 1, j, k]
                diagonal += gx[i, j, k]
                if j > 0:
                    diagonal += gy[i, j - 1, k]
                diagonal += gy[i, j, k]
                if k > 0:
                    diagonal += gz[i, j, k - 1]
                diagonal += gz[i, j, k]
                inverse[i, j, k] = 1.0 / diagonal if diagonal > 0.0 else 0.0


@numba.njit(cache=True)
def _residual_restrict_planes(u, f, gx, gy, gz, d, coarse, low, high):  # pragma: no cover - compiled
    """coarse[a] = sum over the children of (f - A u), for coarse planes ``low:high``."""
    nx, ny, nz = u.shape
    _, cy, cz = coarse.shape
    for a in range(low, high):
        for b in range(cy):
            for c in range(cz):
                coarse[a, b, c] = 0.0
        for i in range(2 * a, min(2 * a + 2, nx)):
            for j in range(ny):
                for k in range(nz):
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
                    coarse[a, j // 2, k // 2] += f[i, j, k] - total


@numba.njit(cache=True)
def _prolong_planes(coarse, fine, low, high):  # pragma: no cover - compiled
    """fine += the parent's value (piecewise-constant interpolation), fine planes ``low:high``."""
    _, ny, nz = fine.shape
    for i in range(low, high):
        for j in range(ny):
            for k in range(nz):
                fine[i, j, k] += coarse[i // 2, j // 2, k // 2]


@numba.njit(cache=True)
def _coarsen_planes(gx, gy, gz, d, cgx, cgy, cgz, cd, low, high):  # pragma: no cover - compiled
    """Half the Galerkin operator of the 2x2x2 merge, coarse planes ``low:high`` (padded faces)."""
    nx, ny, nz = d.shape
    _, cy, cz = cd.shape
    for a in range(low, high):
        for b in range(cy):
            for c in range(cz):
                diagonal = 0.0
                face_x = 0.0
                face_y = 0.0
                face_z = 0.0
                for i in range(2 * a, min(2 * a + 2, nx)):
                    for j in range(2 * b, min(2 * b + 2, ny)):
                        for k in range(2 * c, min(2 * c + 2, nz)):
                            diagonal += d[i, j, k]
                            if i == 2 * a + 1:
                                face_x += gx[i, j, k]
                            if j == 2 * b + 1:
                                face_y += gy[i, j, k]
                            if k == 2 * c + 1:
                                face_z += gz[i, j, k]
                cd[a, b, c] = 0.5 * diagonal
                cgx[a, b, c] = 0.5 * face_x
                cgy[a, b, c] = 0.5 * face_y
                cgz[a, b, c] = 0.5 * face_z


@numba.njit(cache=True)
def _convert_planes(gx, gy, gz, d, out_gx, out_gy, out_gz, out_d, low, high):  # pragma: no cover
    for i in range(low, high):
        out_gx[i] = gx[i]
        out_gy[i] = gy[i]
        out_gz[i] = gz[i]
        out_d[i] = d[i]


@numba.njit(cache=True)
def _level(buffer, offsets, shapes, level):  # pragma: no cover - compiled
    """View of one level's 3-D array in a flat buffer."""
    start = offsets[level]
    nx, ny, nz = shapes[level, 0], shapes[level, 1], shapes[level, 2]
    return buffer[start:start + nx * ny * nz].reshape((nx, ny, nz))


@numba.njit(cache=True)
def _build_hierarchy(gx, gy, gz, d, hgx, hgy, hgz, hd, hi, offsets, shapes):  # pragma: no cover - compiled
    """Level 0 = the fine system in the hierarchy's precision, then each coarser level; ``hi``
    receives each level's inverse full diagonal (what the smoother multiplies by)."""
    levels = shapes.shape[0]
    fgx = _level(hgx, offsets, shapes, 0)
    fgy = _level(hgy, offsets, shapes, 0)
    fgz = _level(hgz, offsets, shapes, 0)
    fd = _level(hd, offsets, shapes, 0)
    _convert_planes(gx, gy, gz, d, fgx, fgy, fgz, fd, 0, d.shape[0])
    _inverse_diagonal_planes(fgx, fgy, fgz, fd, _level(hi, offsets, shapes, 0))
    for level in range(1, levels):
        agx = _level(hgx, offsets, shapes, level - 1)
        agy = _level(hgy, offsets, shapes, level - 1)
        agz = _level(hgz, offsets, shapes, level - 1)
        ad = _level(hd, offsets, shapes, level - 1)
        bgx = _level(hgx, offsets, shapes, level)
        bgy = _level(hgy, offsets, shapes, level)
        bgz = _level(hgz, offsets, shapes, level)
        bd = _level(hd, offsets, shapes, level)
        _coarsen_planes(agx, agy, agz, ad, bgx, bgy, bgz, bd, 0, bd.shape[0])
        _inverse_diagonal_planes(bgx, bgy, bgz, bd, _level(hi, offsets, shapes, level))


@numba.njit(cache=True)
def _v_cycle(hgx, hgy, hgz, hd, hi, hu, hf, offsets, shapes, sweeps, coarsest_sweeps):  # pragma: no cover - compiled
    """One symmetric V-cycle: ``hu`` level 0 = V(``hf`` level 0), from a zero start.

    Pre-smoothing red-black ``sweeps`` times, post-smoothing black-red (symmetric operator).
    """
    levels = shapes.shape[0]
    for level in range(levels - 1):
        gx = _level(hgx, offsets, shapes, level)
        gy = _level(hgy, offsets, shapes, level)
        gz = _level(hgz, offsets, shapes, level)
        d = _level(hd, offsets, shapes, level)
        u = _level(hu, offsets, shapes, level)
        f = _level(hf, offsets, shapes, level)
        inverse = _level(hi, offsets, shapes, level)
        coarse_f = _level(hf, offsets, shapes, level + 1)
        for sweep in range(sweeps):
            _sweep(u, f, gx, gy, gz, inverse, 0, sweep == 0)
        _residual_restrict_planes(u, f, gx, gy, gz, d, coarse_f, 0, coarse_f.shape[0])
    last = levels - 1
    gx = _level(hgx, offsets, shapes, last)
    gy = _level(hgy, offsets, shapes, last)
    gz = _level(hgz, offsets, shapes, last)
    inverse = _level(hi, offsets, shapes, last)
    u = _level(hu, offsets, shapes, last)
    f = _level(hf, offsets, shapes, last)
    for sweep in range(coarsest_sweeps):
        _sweep(u, f, gx, gy, gz, inverse, 0, sweep == 0)
    for level in range(levels - 2, -1, -1):
        gx = _level(hgx, offsets, shapes, level)
        gy = _level(hgy, offsets, shapes, level)
        gz = _level(hgz, offsets, shapes, level)
        inverse = _level(hi, offsets, shapes, level)
        u = _level(hu, offsets, shapes, level)
        f = _level(hf, offsets, shapes, level)
        _prolong_planes(_level(hu, offsets, shapes, level + 1), u, 0, u.shape[0])
        for _ in range(sweeps):
            _sweep(u, f, gx, gy, gz, inverse, 1, False)


@numba.njit(cache=True)
def _apply_dot_planes(p, gx, gy, gz, d, out, low, high):  # pragma: no cover - compiled
    """out = A p on planes ``low:high``; returns the partial p . A p."""
    nx, ny, nz = p.shape
    curvature = 0.0
    for i in range(low, high):
        for j in range(ny):
            for k in range(nz):
                center = p[i, j, k]
                total = d[i, j, k] * center
                if i > 0:
                    total += gx[i - 1, j, k] * (center - p[i - 1, j, k])
                if i < nx - 1:
                    total += gx[i, j, k] * (center - p[i + 1, j, k])
                if j > 0:
                    total += gy[i, j - 1, k] * (center - p[i, j - 1, k])
                if j < ny - 1:
                    total += gy[i, j, k] * (center - p[i, j + 1, k])
                if k > 0:
                    total += gz[i, j, k - 1] * (center - p[i, j, k - 1])
                if k < nz - 1:
                    total += gz[i, j, k] * (center - p[i, j, k + 1])
                out[i, j, k] = total
                curvature += center * total
    return curvature


@numba.njit(cache=True)
def _initial_residual_planes(x, b, gx, gy, gz, d, r, low, high):  # pragma: no cover - compiled
    """r = b - A x on planes ``low:high``; returns the partial |r|^2."""
    nx, ny, nz = x.shape
    squared = 0.0
    for i in range(low, high):
        for j in range(ny):
            for k in range(nz):
                center = x[i, j, k]
                total = d[i, j, k] * center
                if i > 0:
                    total += gx[i - 1, j, k] * (center - x[i - 1, j, k])
                if i < nx - 1:
                    total += gx[i, j, k] * (center - x[i + 1, j, k])
                if j > 0:
                    total += gy[i, j - 1, k] * (center - x[i, j - 1, k])
                if j < ny - 1:
                    total += gy[i, j, k] * (center - x[i, j + 1, k])
                if k > 0:
                    total += gz[i, j, k - 1] * (center - x[i, j, k - 1])
                if k < nz - 1:
                    total += gz[i, j, k] * (center - x[i, j, k + 1])
                value = b[i, j, k] - total
                r[i, j, k] = value
                squared += value * value
    return squared


@numba.njit(cache=True)
def _step_planes(x, r, p, q, alpha, f, low, high):  # pragma: no cover - compiled
    """x += alpha p, r -= alpha q, f = r (preconditioner precision); returns partial |r|^2."""
    _, ny, nz = x.shape
    total = 0.0
    for i in range(low, high):
        for j in range(ny):
            for k in range(nz):
                x[i, j, k] += alpha * p[i, j, k]
                value = r[i, j, k] - alpha * q[i, j, k]
                r[i, j, k] = value
                f[i, j, k] = value
                total += value * value
    return total


@numba.njit(cache=True)
def _dot_planes(a, b, low, high):  # pragma: no cover - compiled
    _, ny, nz = a.shape
    total = 0.0
    for i in range(low, high):
        for j in range(ny):
            for k in range(nz):
                total += a[i, j, k] * b[i, j, k]
    return total


@numba.njit(cache=True)
def _direction_planes(p, z, beta, low, high):  # pragma: no cover - compiled
    """p = z + beta p."""
    _, ny, nz = p.shape
    for i in range(low, high):
        for j in range(ny):
            for k in range(nz):
                p[i, j, k] = z[i, j, k] + beta * p[i, j, k]


@numba.njit(cache=True)
def _pcg(gx, gy, gz, d, b, x, r, p, q, hgx, hgy, hgz, hd, hi, hu, hf, offsets, shapes, sweeps,
         coarsest_sweeps, target_squared, maximum_iterations):  # pragma: no cover - compiled
    """Multigrid-preconditioned CG on the padded fine system; x holds the start and the result.

    Returns the iterations (0 when the start already meets the target; -1 when the limit was
    reached), and the final squared residual norm.
    """
    nx = x.shape[0]
    f0 = _level(hf, offsets, shapes, 0)
    z = _level(hu, offsets, shapes, 0)
    residual_squared = _initial_residual_planes(x, b, gx, gy, gz, d, r, 0, nx)
    if residual_squared <= target_squared:
        return 0, residual_squared
    f0[...] = r
    _v_cycle(hgx, hgy, hgz, hd, hi, hu, hf, offsets, shapes, sweeps, coarsest_sweeps)
    p[...] = z
    rz = _dot_planes(r, z, 0, nx)
    for iteration in range(1, maximum_iterations + 1):
        curvature = _apply_dot_planes(p, gx, gy, gz, d, q, 0, nx)
        if curvature <= 0.0:
            return -1, residual_squared
        alpha = rz / curvature
        residual_squared = _step_planes(x, r, p, q, alpha, f0, 0, nx)
        if residual_squared <= target_squared:
            return iteration, residual_squared
        _v_cycle(hgx, hgy, hgz, hd, hi, hu, hf, offsets, shapes, sweeps, coarsest_sweeps)
        rz_next = _dot_planes(r, z, 0, nx)
        beta = rz_next / rz
        rz = rz_next
        _direction_planes(p, z, beta, 0, nx)
    return -1, residual_squared


def pad_faces(level: Level) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The level's face arrays padded to the voxel shape (zero face past the last plane)."""
    if level.padded is not None:
        return level.padded
    return _pad(level.gx, 0), _pad(level.gy, 1), _pad(level.gz, 2)


class MultigridHierarchy:
    """Coarse levels, work arrays and CG vectors for one grid shape, reused across solves.

    The V-cycle and the whole preconditioned CG run in compiled code (one call per solve): the
    red-black sweep is one pass over the data and the residual is restricted as it is computed.

    Parameters
    ----------
    shape : tuple of int
        Fine grid shape.
    precision : numpy dtype
        Floating type of the V-cycle (the preconditioner): ``float32`` halves its memory traffic;
        CG itself, the operator and the solution are always float64, so the precision of the
        preconditioner changes the iteration count, not the converged answer.
    smoothing_sweeps : int
        Red-black Gauss-Seidel sweeps before and after each coarse correction.
    coarsest_size : int
        Coarsening stops when the smallest dimension is at most this.
    coarsest_sweeps : int
        Sweeps on the coarsest level.
    """

    def __init__(self, shape: tuple[int, int, int], precision=np.float32, smoothing_sweeps: int = 2,
                 coarsest_size: int = 3, coarsest_sweeps: int = 40) -> None:
        shapes = [tuple(int(n) for n in shape)]
        while min(shapes[-1]) > coarsest_size and len(shapes) < 12:
            shapes.append(tuple((n + 1) // 2 for n in shapes[-1]))
        self.shape = shapes[0]
        self.shapes = np.array(shapes, dtype=np.int64)
        sizes = [int(np.prod(s)) for s in shapes]
        self.offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        total = int(sum(sizes))
        self.precision = np.dtype(precision)
        self.gx, self.gy, self.gz, self.d, self.u, self.f = (np.zeros(total, self.precision) for _ in range(6))
        #: Inverse full diagonal of every level (the smoother multiplies by it).
        self.inverse_diagonal = np.zeros(total, self.precision)
        self.smoothing_sweeps = int(smoothing_sweeps)
        self.coarsest_sweeps = int(coarsest_sweeps)
        self._vectors: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self.v_cycles = 0

    @property
    def levels(self) -> int:
        """Number of levels, the fine one included."""
        return len(self.shapes)

    def fine_system(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Views ``(gx, gy, gz, diagonal_extra)`` of the fine level, in the hierarchy's precision.

        A system assembled into them needs no second copy: :meth:`update` then only builds the
        coarse levels (its copy of the fine level onto itself changes nothing), and the CG of
        :meth:`solve` may be given the same views as its operator.
        """
        size = int(np.prod(self.shape))
        return tuple(array[:size].reshape(self.shape) for array in (self.gx, self.gy, self.gz, self.d))

    def update(self, gx: np.ndarray, gy: np.ndarray, gz: np.ndarray, diagonal_extra: np.ndarray) -> None:
        """Rebuild every level from the fine system (padded faces, S)."""
        _build_hierarchy(gx, gy, gz, diagonal_extra, self.gx, self.gy, self.gz, self.d, self.inverse_diagonal,
                         self.offsets, self.shapes)

    def apply(self, residual: np.ndarray) -> np.ndarray:
        """One V-cycle applied to ``residual`` (a new float64 array)."""
        size = int(np.prod(self.shape))
        self.f[:size] = residual.ravel()
        _v_cycle(self.gx, self.gy, self.gz, self.d, self.inverse_diagonal, self.u, self.f, self.offsets, self.shapes,
                 self.smoothing_sweeps, self.coarsest_sweeps)
        self.v_cycles += 1
        return self.u[:size].reshape(self.shape).astype(float)

    def solve(self, gx: np.ndarray, gy: np.ndarray, gz: np.ndarray, diagonal_extra: np.ndarray,
              rhs: np.ndarray, guess: np.ndarray | None, relative_tolerance: float,
              maximum_iterations: int = 500, out: np.ndarray | None = None) -> tuple[np.ndarray, int]:
        """Preconditioned CG to ``|r| <= relative_tolerance |rhs|``; call :meth:`update` first.

        Returns the solution (a new float64 array, or ``out``; zero on inactive voxels when the
        guess is) and the iterations.
        """
        if self._vectors is None:
            self._vectors = tuple(np.empty(self.shape) for _ in range(3))
        residual, direction, product = self._vectors
        if out is None:
            solution = np.zeros(self.shape) if guess is None else np.array(guess, dtype=float, copy=True)
        else:
            solution = out
            if guess is None:
                solution.fill(0.0)
            elif guess is not out:
                np.copyto(solution, guess)
        # No BLAS here: its threads, woken for one dot product, fight Numba's for the cores.
        target = relative_tolerance * math.sqrt(_dot_planes(rhs, rhs, 0, rhs.shape[0]))
        iterations, _ = _pcg(gx, gy, gz, diagonal_extra, rhs, solution, residual, direction, product,
                             self.gx, self.gy, self.gz, self.d, self.inverse_diagonal, self.u, self.f,
                             self.offsets, self.shapes,
                             self.smoothing_sweeps, self.coarsest_sweeps, target * target, maximum_iterations)
        if iterations < 0:
            raise RuntimeError(f"multigrid CG did not converge in {maximum_iterations} iterations")
        self.v_cycles += iterations
        return solution, iterations
