"""Sub-grid model of electrodes thinner than the grid (a smeared, calibrated line electrode).

Why
---
A 17G needle has a radius of 0.735 mm: half a voxel at 1.5 mm, one voxel at 0.75 mm.  The
cut-cell rasterisation (:mod:`rfasim.probes.rasterize`) then represents its cross-section by 1 to
4 grid nodes, a pattern that jumps with the needle's position inside a voxel: moving the Lee
2009 needle by half a voxel at 1.5 mm changed the delivered energy by 20 % and the zone volume
by 14 % (``benchmarks/validation/grid_study.py --shift 0.5``), because the near-field current
and the first desiccating voxels were shared by 4 or by 8 voxels per layer.

Model
-----
Like a well model of reservoir simulation (Peaceman 1978), the electrode is a line source tied
to the nodes around it, with no Dirichlet node:

- every voxel is coupled to the electrode by ``sigma_voxel * C * f * h`` (S), where ``f`` is the
  voxel's volume fraction inside a *smearing* cylinder of radius
  ``rho = max(a + h, 1.5 h)`` around the piece (antialiased, so ``f`` varies smoothly as the
  needle moves), and ``C`` (dimensionless) is set so that the discrete conductance of an
  infinite cylinder of true radius ``a`` in a grounded square box equals the exact value
  ``2 pi sigma / ln(1.0787 D / 2a)`` (square coaxial line, ``a << D``);
- ``C`` depends only on ``a / h``: it is the geometric mean over four positions of the axis in
  the voxel, found by bisection on a 2-D finite-volume twin of the 3-D solver's stencil
  (:func:`coax_conductance_ratio`); the spread left over those positions is the model's
  alignment error of the conductance (at most 1.6 % at a/h = 0.49, 0.7 % at 0.74, 1 % at 0.98;
  ``tests/probes/test_subgrid.py``).  A narrower smearing, ``max(a + h/2, h)``, left 5 % in the
  conductance and 36 % in the Lee 2009 zone volume between two positions of the needle at
  1.5 mm (16.3 vs 12.0 mL), so it is not used;
- the thermal side uses the same factors (``k * C * f * h``, W/K) through the existing
  point-implicit coolant coupling of :class:`rfasim.physics.bioheat.PennesBioheat`: the same
  geometry has the same steady conductance, so the coolant's hold on the tissue is exact in the
  far field for the same reason.

Joule heat of each coupling link is deposited in its voxel (energy conserving, as for cut
cells).  The model applies to pieces with ``a < SUBGRID_RADIUS_EDGES * h``; thicker metal keeps
the cut-cell rasterisation, which is accurate there (conductance within 1 % at ``a/h >= 1.5``).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import numpy as np
from scipy import sparse
from scipy.sparse import linalg as sparse_linalg

from rfasim.grid import Grid
from rfasim.probes.coverage import Piece, volume_fractions

#: Pieces thinner than this many voxel edges use the sub-grid model.
SUBGRID_RADIUS_EDGES = 1.5
#: Half width (voxel edges) of the square box of the calibration problem.
_BOX_HALF_EDGES = 12
#: Axis positions (fractions of a voxel, x and y) the calibration averages over.
CALIBRATION_OFFSETS = ((0.0, 0.0), (0.5, 0.0), (0.5, 0.5), (0.25, 0.25))
_SQUARE_COAX = 1.0787


def smearing_radius_mm(radius_mm: float, spacing_mm: float) -> float:
    """Radius (mm) of the cylinder over which a thin electrode's coupling is spread."""
    return max(radius_mm + spacing_mm, 1.5 * spacing_mm)


def is_thin(piece: Piece, spacing_mm: float) -> bool:
    """Whether ``piece`` is thin enough for the sub-grid model."""
    return piece.radius_mm < SUBGRID_RADIUS_EDGES * spacing_mm


def _disc_fractions(radius_edges: float, offset: tuple[float, float], samples: int) -> tuple[np.ndarray, int]:
    """Area fractions (n, n) of the cells of the calibration box inside a disc (antialiased).

    Uses :func:`rfasim.probes.coverage.volume_fractions` on a one-layer grid with a long
    cylinder along z, so the weights are exactly those the 3-D rasterisation gives.
    """
    n = 2 * _BOX_HALF_EDGES + 1
    grid = Grid((n, n, 3), 1.0, (-float(_BOX_HALF_EDGES), -float(_BOX_HALF_EDGES), -1.0))
    centre = np.array([offset[0], offset[1], 0.0])
    along = np.array([0.0, 0.0, 5.0])
    piece = Piece(centre - along, centre + along, radius_edges)
    index, fraction = volume_fractions([piece], grid, samples)
    field = np.zeros(grid.size)
    field[index] = fraction
    return field.reshape(grid.shape)[:, :, 1], n


def coax_conductance_ratio(weights: np.ndarray, scale: float, radius_edges: float) -> float:
    """Discrete over exact conductance per length of a smeared line electrode in a square box.

    The 2-D twin of the 3-D finite-volume stencil for a z-invariant field (unit voxel edge,
    unit conductivity): face conductance 1 between nodes, ``2`` from a boundary node to the
    grounded box face, and ``scale * weights`` from each node to the electrode (held at 1).

    Parameters
    ----------
    weights : ndarray, shape (n, n)
        Coupling weight of each node (volume fractions of the smearing cylinder).
    scale : float
        The factor ``C`` multiplying the weights.
    radius_edges : float
        True electrode radius in voxel edges.

    Returns
    -------
    float
        ``G_discrete / G_exact`` with ``G_exact = 2 pi / ln(1.0787 n / (2 a))``.
    """
    n = weights.shape[0]
    index = np.arange(n * n).reshape(n, n)
    rows, cols, values = [], [], []
    diagonal = scale * weights.ravel().copy()
    for axis in range(2):
        first = index.take(range(n - 1), axis=axis).ravel()
        second = index.take(range(1, n), axis=axis).ravel()
        rows += [first, second]
        cols += [second, first]
        values += [-np.ones(first.size), -np.ones(first.size)]
        np.add.at(diagonal, first, 1.0)
        np.add.at(diagonal, second, 1.0)
        for edge in (0, n - 1):
            np.add.at(diagonal, index.take(edge, axis=axis).ravel(), 2.0)
    matrix = sparse.csr_matrix((np.concatenate(values), (np.concatenate(rows), np.concatenate(cols))),
                               shape=(n * n, n * n)) + sparse.diags(diagonal)
    coupling = scale * weights.ravel()
    potential = sparse_linalg.spsolve(matrix.tocsc(), coupling)
    current = float(np.sum(coupling * (1.0 - potential)))
    exact = 2.0 * math.pi / math.log(_SQUARE_COAX * n / (2.0 * radius_edges))
    return current / exact


@functools.lru_cache(maxsize=256)
def calibrated_scale(radius_edges: float, samples: int = 5) -> tuple[float, tuple[float, ...]]:
    """The factor ``C`` for an electrode of ``radius_edges`` voxel edges, and the ratios it leaves.

    ``C`` makes the geometric mean of :func:`coax_conductance_ratio` over
    :data:`CALIBRATION_OFFSETS` equal to 1 (bisection on ``log C``).

    Returns
    -------
    scale : float
    ratios : tuple of float
        ``G_discrete / G_exact`` at each calibration offset with that ``C``.
    """
    smear = smearing_radius_mm(radius_edges, 1.0)
    fields = [_disc_fractions(smear, offset, samples)[0] for offset in CALIBRATION_OFFSETS]

    def mean_log_ratio(scale: float) -> float:
        return float(np.mean([math.log(coax_conductance_ratio(f, scale, radius_edges)) for f in fields]))

    low, high = math.log(1e-3), math.log(1e3)
    for _ in range(40):
        middle = 0.5 * (low + high)
        if mean_log_ratio(math.exp(middle)) < 0.0:
            low = middle
        else:
            high = middle
    scale = math.exp(0.5 * (low + high))
    return scale, tuple(coax_conductance_ratio(f, scale, radius_edges) for f in fields)


def subgrid_coupling(pieces: Sequence[Piece], grid: Grid) -> tuple[np.ndarray, np.ndarray]:
    """Coupling of thin pieces to their electrode: flat indices and factors in voxel edges.

    Pieces of one radius are smeared together (the union of their smearing cylinders, so joints
    are not counted twice) and scaled by their :func:`calibrated_scale`.

    Returns
    -------
    index : ndarray of int64
        Sorted flat voxel indices.
    edges : ndarray of float
        Coupling factor of each voxel in voxel edges (multiply by the spacing in m for
        :attr:`~rfasim.sources.ElectrodeRaster.coupling_factor_m`).
    """
    spacing = grid.spacing_mm
    by_radius: dict[float, list[Piece]] = {}
    for piece in pieces:
        by_radius.setdefault(round(piece.radius_mm / spacing, 4), []).append(piece)
    indices, factors = [], []
    for radius_edges, group in by_radius.items():
        scale, _ = calibrated_scale(radius_edges)
        smear = [Piece(p.start_mm, p.end_mm, smearing_radius_mm(p.radius_mm, spacing), p.rounded_ends) for p in group]
        index, fraction = volume_fractions(smear, grid)  # union: overlapping pieces count once
        indices.append(index)
        factors.append(scale * fraction)
    if not indices:
        return np.zeros(0, np.int64), np.zeros(0)
    unique, position = np.unique(np.concatenate(indices), return_inverse=True)
    summed = np.zeros(unique.size)
    np.add.at(summed, position, np.concatenate(factors))
    return unique, summed
