"""Thin axis-aligned needles on a line of grid nodes: a calibrated well link (issue 12, item 2).

Why
---
A 17G needle (radius ``a = 0.735 mm``) is thinner than 0.71 voxel at 1.5 mm (``a/h = 0.49``).
The cut-cell rasterisation then gave it an electric radius of 0.71 voxel (1.065 mm, so that every
cross-section holds a node); the electric *and* thermal (coolant) couplings followed that fat
needle.  Measured (``benchmarks/validation/grid_study.py``, Lee 2009 ex vivo): impedance 81 instead
of 86-87 ohm, coolant heat at a constant 20 W 13 % below the 1 mm run, and a zone 13-15 % larger
than the converged 1 mm and 0.75 mm zones.  With the true radius and plain Shortley-Weller links
the single Dirichlet node per cross-section is too *thin* instead: its four links (``2 sigma h``
each, the clipped correction adds nothing at ``t = 0.51``) have the 2-D conductance of a cylinder
of radius ``0.436 h`` (Peaceman's equivalent-radius argument), not ``0.49 h``; impedance 91 ohm,
zone 8 % too small.

Model
-----
When a thin piece (``a < MINIMUM_ELECTRIC_RADIUS_EDGES h``) runs parallel to a grid axis and its
true metal holds exactly one node in every grid layer it crosses (one line of nodes), those nodes
are the electrode's Dirichlet nodes and each *lateral* link from an outside node to them gets the
extra coupling :func:`well_link_edges` ``(a/h)`` (voxel edges, on top of the solver's
``2 sigma h``).  It is found by bisection on the 2-D finite-volume twin of the solver's stencil
(:func:`rfasim.probes.subgrid.coax_conductance_ratio`) so that the line's conductance per length
equals the exact square-coax value for the *true* radius, like a well index of reservoir
simulation (Peaceman 1978).  Links along the axis (the ends of the active part) keep the
Shortley-Weller correction of the true surface.  The same factors drive the coolant coupling
(same geometry, same steady conductance).  Nothing is fitted to a zone: the only input is ``a/h``.

A thin axis-aligned piece whose axis passes between node lines is first moved onto the nearest
node line (:func:`snapped_to_node_line`, at most ``h / sqrt(2)``), as a well sits on a node.
Oblique thin pieces (tines, angled needles) keep the inflated cut cells.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import numpy as np

from rfasim.grid import Grid
from rfasim.probes.coverage import Piece
from rfasim.probes.subgrid import _BOX_HALF_EDGES, coax_conductance_ratio

#: Coupling (in units of the grid's unknowns) standing for a Dirichlet node in the 2-D twin.
_DIRICHLET_WEIGHT = 1e8
#: Cosine above which a piece counts as parallel to a grid axis.
_PARALLEL_COSINE = 1.0 - 1e-9


def _line_ratio(extra_edges: float, radius_edges: float) -> float:
    """2-D conductance of one Dirichlet node with lateral links ``2 + extra`` over the exact one."""
    size = 2 * _BOX_HALF_EDGES + 1
    centre = _BOX_HALF_EDGES
    weights = np.zeros((size, size))
    weights[centre, centre] = _DIRICHLET_WEIGHT
    for di, dj in ((1, 0), (-1, 0), (0, 1), (0, -1)):
        # The stencil's own link (1) to the node, plus 1 + extra: the solver's 2 sigma h to a
        # Dirichlet neighbour and the calibrated correction.
        weights[centre + di, centre + dj] = 1.0 + extra_edges
    return coax_conductance_ratio(weights, 1.0, radius_edges)


@functools.lru_cache(maxsize=256)
def well_link_edges(radius_edges: float) -> float:
    """Extra coupling (voxel edges) of each lateral link to a line of Dirichlet nodes.

    Parameters
    ----------
    radius_edges : float
        True radius of the needle in voxel edges, ``a / h`` (0.3 to 0.71).

    Returns
    -------
    float
        ``c >= 0`` such that links of ``(2 + c) sigma h`` give the line the exact conductance per
        length of a cylinder of radius ``a`` (0 where even ``2 sigma h`` is too much: ``a/h`` below
        the 0.436 of a plain Dirichlet node).

    Examples
    --------
    >>> round(well_link_edges(0.49), 2)
    0.35
    """
    if not 0.0 < radius_edges < 1.0:
        raise ValueError(f"well_link_edges needs 0 < a/h < 1, got {radius_edges!r}")
    low, high = 0.0, 50.0
    if _line_ratio(low, radius_edges) >= 1.0:
        return 0.0
    for _ in range(50):
        middle = 0.5 * (low + high)
        if _line_ratio(middle, radius_edges) < 1.0:
            low = middle
        else:
            high = middle
    return 0.5 * (low + high)


def grid_axis(piece: Piece) -> int | None:
    """The grid axis (0, 1, 2) a piece runs along, or None if it is oblique or degenerate."""
    direction = np.asarray(piece.end_mm, float) - np.asarray(piece.start_mm, float)
    length = float(np.linalg.norm(direction))
    if length == 0.0:
        return None
    unit = np.abs(direction) / length
    axis = int(np.argmax(unit))
    return axis if unit[axis] >= _PARALLEL_COSINE else None


def node_line(piece: Piece, grid: Grid, inside: np.ndarray) -> bool:
    """Whether an axis-aligned piece's inside nodes (flat indices, true radius) form one node line.

    True when every grid layer the piece's metal crosses holds exactly one inside node and the
    nodes share their position across the axis.
    """
    axis = grid_axis(piece)
    if axis is None or inside.size == 0:
        return False
    ijk = np.stack(np.unravel_index(inside, grid.shape), axis=1)
    across = np.delete(ijk, axis, axis=1)
    if np.unique(across, axis=0).shape[0] != 1:
        return False
    layers = ijk[:, axis]
    if np.unique(layers).size != layers.size or layers.max() - layers.min() + 1 != layers.size:
        return False
    ends = grid.world_to_index(np.stack([np.asarray(piece.start_mm, float), np.asarray(piece.end_mm, float)]))[:, axis]
    low, high = math.ceil(float(ends.min()) - 1e-9), math.floor(float(ends.max()) + 1e-9)
    return int(layers.min()) <= max(low, 0) and int(layers.max()) >= min(high, grid.shape[axis] - 1)


def snapped_to_node_line(piece: Piece, grid: Grid) -> Piece:
    """The axis-aligned ``piece`` moved across its axis onto the nearest line of grid nodes.

    A well sits on a node (Peaceman 1978): a thin needle whose axis passes between node lines
    is represented on the nearest one, at most ``h / sqrt(2)`` away, instead of being widened
    until it holds a node.
    """
    axis = grid_axis(piece)
    if axis is None:
        raise ValueError("only a piece parallel to a grid axis can be snapped to a node line")
    start = np.asarray(piece.start_mm, float)
    index = grid.world_to_index(start)
    shift = np.where(np.arange(3) == axis, 0.0, np.round(index) - index) * grid.spacing_mm
    return Piece(start + shift, np.asarray(piece.end_mm, float) + shift, piece.radius_mm, piece.rounded_ends)


def lateral_links(outer: np.ndarray, inner: np.ndarray, grid: Grid, axis: int) -> np.ndarray:
    """Whether each link (outside node -> inside node, flat indices) is perpendicular to ``axis``."""
    outer_ijk = np.stack(np.unravel_index(outer, grid.shape), axis=1)
    inner_ijk = np.stack(np.unravel_index(inner, grid.shape), axis=1)
    return outer_ijk[:, axis] == inner_ijk[:, axis]


def eligible(pieces: Sequence[Piece], spacing_mm: float, minimum_radius_edges: float) -> list[bool]:
    """Which pieces are thin (below the minimum electric radius) and parallel to a grid axis."""
    return [p.radius_mm < minimum_radius_edges * spacing_mm and grid_axis(p) is not None for p in pieces]
