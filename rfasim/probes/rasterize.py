"""Rasterising placed probes into :class:`~rfasim.sources.ElectrodeRaster` objects.

Electric representation (cut-cell, Shortley-Weller)
---------------------------------------------------
A voxel *node* (its centre) is inside an electrode when the centre lies in the metal.  For every
grid link from an outside node ``A`` to an inside node ``B`` the exact crossing of the metal
surface is found by bisection; ``t`` is the distance from ``A`` to the surface in voxel edges.
The link should carry ``sigma h / t`` (the tissue between ``A`` and the metal surface):

- inside nodes whose every crossing lies at ``t <= 1/2`` from the outside are *deep*: they become
  Dirichlet ``metal_index`` voxels, for which the solver already joins ``A`` by ``2 sigma h``; the
  rest, ``sigma h (1/t - 2)``, is added as sub-voxel coupling of ``A``;
- the other inside nodes are *shallow* (the surface passes within half a voxel of them): they are
  tissue voxels strongly coupled to the electrode (``50 sigma h``), the solver joins ``A`` to them
  by ``sigma h`` and ``sigma h (1/t - 1)`` is added to ``A``'s coupling.

``t`` is bounded below by 0.05.  Metal thinner than 0.71 voxel (tines) is represented electrically
with a 0.71-voxel radius so that every cross-section holds a node (its fractions keep the true
radius).  See ``rfasim/probes/README.md`` for the measured accuracy.

Volume fractions
----------------
The covered fraction of every voxel (:func:`rfasim.probes.coverage.volume_fractions`) is kept on
the returned :class:`ProbeElectrodeRaster` for diagnostics and for thermal models that want it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from rfasim.errors import ProbeError
from rfasim.grid import Grid
from rfasim.probes.coverage import Piece, _candidate_voxels, _piece_coverage, volume_fractions
from rfasim.probes.placement import ProbeGeometry, ProbePlacement
from rfasim.probes.subgrid import is_thin, subgrid_coupling
from rfasim.probes.well import (
    eligible,
    grid_axis,
    lateral_links,
    node_line,
    snapped_to_node_line,
    well_link_edges,
)
from rfasim.sources import ElectrodeRaster
from rfasim.tissue import TissueClass

#: Coupling factor (in voxel edges) of shallow inside nodes: "strongly" tied to the electrode.
SHALLOW_COUPLING_EDGES = 50.0
#: Smallest link fraction ``t`` (caps a link's conductance at 20 sigma h).
MINIMUM_LINK_FRACTION = 0.05
#: Thinnest electric radius, in voxel edges (just above half a voxel diagonal).
MINIMUM_ELECTRIC_RADIUS_EDGES = 0.71
_BISECTION_STEPS = 14
#: Representations of an electrode's metal: ``"cut-cell"`` (Shortley-Weller, every piece) or
#: ``"subgrid"`` (pieces thinner than 1.5 voxels as a calibrated smeared line electrode,
#: :mod:`rfasim.probes.subgrid`; thicker ones as cut cells).
ELECTRODE_MODELS = ("cut-cell", "subgrid")


@dataclass
class ProbeElectrodeRaster(ElectrodeRaster):
    """An :class:`~rfasim.sources.ElectrodeRaster` that also carries its metal volume fractions.

    Attributes
    ----------
    fraction_index : ndarray of int
        Flat indices of voxels partly or fully covered by this electrode's metal.
    metal_fraction : ndarray of float
        Covered volume fraction (0..1] of each of those voxels (true radius, 5^3 samples).
    probe_label : str
        The probe this electrode belongs to.
    """

    fraction_index: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    metal_fraction: np.ndarray = field(default_factory=lambda: np.zeros(0))
    probe_label: str = ""


def _pieces(geometry: ProbeGeometry, electrode: int) -> list[Piece]:
    return [
        Piece(s.start_mm, s.end_mm, s.radius_mm, s.rounded_ends)
        for s in geometry.active_segments
        if s.electrode == electrode
    ]


def _union_inside(points: np.ndarray, pieces: Sequence[Piece]) -> np.ndarray:
    """Whether each point (n, 3) lies in any piece (each piece tests only points in its box)."""
    points = np.asarray(points).reshape(-1, 3)
    inside = np.zeros(points.shape[0], bool)
    for piece in pieces:
        low = np.minimum(piece.start_mm, piece.end_mm) - piece.radius_mm
        high = np.maximum(piece.start_mm, piece.end_mm) + piece.radius_mm
        near = np.flatnonzero(np.all((points >= low) & (points <= high), axis=1) & ~inside)
        if near.size:
            inside[near] = _piece_coverage(points[near], piece, 1e-9) >= 0.5
    return inside


def _electric_pieces(pieces: Sequence[Piece], spacing_mm: float) -> list[Piece]:
    minimum = MINIMUM_ELECTRIC_RADIUS_EDGES * spacing_mm
    return [Piece(p.start_mm, p.end_mm, max(p.radius_mm, minimum), p.rounded_ends) for p in pieces]


def _candidates(pieces: Sequence[Piece], grid: Grid, reach_mm: float) -> np.ndarray:
    found = [_candidate_voxels(piece, grid, reach_mm) for piece in pieces]
    return np.unique(np.concatenate(found)) if found else np.zeros(0, np.int64)


@dataclass
class _CutCells:
    inside: np.ndarray  #: flat indices of inside nodes
    deep: np.ndarray  #: flat indices of deep inside nodes (Dirichlet)
    coupling_index: np.ndarray
    coupling_edges: np.ndarray  #: coupling factor in voxel edges (multiply by h)


def _cut_cells(pieces: Sequence[Piece], grid: Grid, well: tuple[int, float] | None = None) -> _CutCells:
    """Inside nodes and Shortley-Weller link corrections of one electrode.

    With ``well = (axis, extra_edges)`` (one thin axis-aligned piece on a node line,
    :mod:`rfasim.probes.well`) every inside node is a Dirichlet node, links perpendicular to
    ``axis`` get ``extra_edges`` and links along it the Shortley-Weller correction.
    """
    spacing = grid.spacing_mm
    candidates = _candidates(pieces, grid, 1.5 * spacing)
    centers = grid.index_to_world(np.stack(np.unravel_index(candidates, grid.shape), axis=1))
    inside = candidates[_union_inside(centers, pieces)]
    empty = np.zeros(0, np.int64)
    if inside.size == 0:
        return _CutCells(empty, empty, empty, np.zeros(0))
    inside_ijk = np.stack(np.unravel_index(inside, grid.shape), axis=1)
    outer_nodes, inner_nodes = [], []
    for axis in range(3):
        for step in (-1, 1):
            neighbour = inside_ijk.copy()
            neighbour[:, axis] += step
            on_grid = (neighbour[:, axis] >= 0) & (neighbour[:, axis] < grid.shape[axis])
            neighbour_flat = np.ravel_multi_index(tuple(neighbour[on_grid].T), grid.shape)
            outside = ~np.isin(neighbour_flat, inside)
            outer_nodes.append(neighbour_flat[outside])
            inner_nodes.append(inside[on_grid][outside])
    outer = np.concatenate(outer_nodes)
    inner = np.concatenate(inner_nodes)
    if outer.size == 0:  # the metal fills every node around: no surface crossing on the grid
        return _CutCells(inside, inside, empty, np.zeros(0))
    start = grid.index_to_world(np.stack(np.unravel_index(outer, grid.shape), axis=1))
    end = grid.index_to_world(np.stack(np.unravel_index(inner, grid.shape), axis=1))
    fraction = _surface_crossings(start, end, pieces)
    lateral = lateral_links(outer, inner, grid, well[0]) if well is not None else np.zeros(outer.size, bool)
    largest = np.zeros(inside.size)
    np.maximum.at(largest, np.searchsorted(inside, inner), np.where(lateral, 0.0, fraction))
    is_deep = largest <= 0.5
    deep = inside[is_deep]
    link_deep = np.isin(inner, deep)
    extra = np.where(link_deep, 1.0 / fraction - 2.0, 1.0 / fraction - 1.0)
    if well is not None:  # lateral links to Dirichlet nodes; a shallow end node keeps Shortley-Weller
        extra = np.where(lateral & link_deep, well[1], extra)
    index = np.concatenate([outer, inside[~is_deep]])
    edges = np.concatenate([np.maximum(extra, 0.0), np.full(int((~is_deep).sum()), SHALLOW_COUPLING_EDGES)])
    unique, position = np.unique(index, return_inverse=True)
    summed = np.zeros(unique.size)
    np.add.at(summed, position, edges)
    keep = summed > 0
    return _CutCells(inside, deep, unique[keep], summed[keep])


def _surface_crossings(start: np.ndarray, end: np.ndarray, pieces: Sequence[Piece]) -> np.ndarray:
    """Fraction ``t`` of each link (outside ``start`` -> inside ``end``) where it enters the metal."""
    lowest, highest = np.minimum(start, end), np.maximum(start, end)
    near = []
    for piece in pieces:
        low = np.minimum(piece.start_mm, piece.end_mm) - piece.radius_mm
        high = np.maximum(piece.start_mm, piece.end_mm) + piece.radius_mm
        links = np.flatnonzero(np.all((highest >= low) & (lowest <= high), axis=1))
        if links.size:
            near.append((piece, links))
    low_t, high_t = np.zeros(start.shape[0]), np.ones(start.shape[0])
    for _ in range(_BISECTION_STEPS):
        middle = 0.5 * (low_t + high_t)
        points = start + (end - start) * middle[:, None]
        hit = np.zeros(start.shape[0], bool)
        for piece, links in near:
            hit[links] |= _piece_coverage(points[links], piece, 1e-9) >= 0.5
        high_t = np.where(hit, middle, high_t)
        low_t = np.where(hit, low_t, middle)
    return np.maximum(0.5 * (low_t + high_t), MINIMUM_LINK_FRACTION)


def _segment_distances(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Closest distances between segment sets ``first`` (n, 2, 3) and ``second`` (m, 2, 3)."""
    p1, q1 = first[:, None, 0], first[:, None, 1]
    p2, q2 = second[None, :, 0], second[None, :, 1]
    d1, d2, r = q1 - p1, q2 - p2, p1 - p2
    a = np.einsum("...i,...i", d1, d1)
    e = np.einsum("...i,...i", d2, d2)
    f = np.einsum("...i,...i", d2, r)
    c = np.einsum("...i,...i", d1, r)
    b = np.einsum("...i,...i", d1, d2)
    a, e, f, c, b = np.broadcast_arrays(a, e, f, c, b)
    denominator = a * e - b * b
    with np.errstate(divide="ignore", invalid="ignore"):
        s = np.where(denominator > 1e-12 * np.maximum(a * e, 1e-30), np.clip((b * f - c * e) / denominator, 0, 1), 0.0)
        t = np.where(e > 1e-30, (b * s + f) / e, 0.0)
        s = np.where(t < 0, np.where(a > 1e-30, np.clip(-c / a, 0, 1), 0.0), np.where(t > 1, np.where(a > 1e-30, np.clip((b - c) / a, 0, 1), 0.0), s))
        t = np.clip(t, 0, 1)
    closest1 = p1 + s[..., None] * d1
    closest2 = p2 + t[..., None] * d2
    return np.linalg.norm(closest1 - closest2, axis=-1)


def _probe_solids(geometry: ProbeGeometry) -> tuple[np.ndarray, np.ndarray]:
    segments = [(s.start_mm, s.end_mm, s.radius_mm) for s in geometry.active_segments]
    segments += [(s.start_mm, s.end_mm, s.radius_mm) for s in geometry.insulated_segments]
    ends = np.array([[start, end] for start, end, _ in segments])
    radii = np.array([radius for _, _, radius in segments])
    return ends, radii


def check_intersections(placements: Sequence[ProbePlacement], geometries: Sequence[ProbeGeometry]) -> None:
    """Raise :class:`ProbeError` when two probes' solids (metal or shaft) overlap."""
    solids = [_probe_solids(geometry) for geometry in geometries]
    for first in range(len(solids)):
        for second in range(first + 1, len(solids)):
            ends1, radii1 = solids[first]
            ends2, radii2 = solids[second]
            gap = _segment_distances(ends1, ends2) - radii1[:, None] - radii2[None, :]
            if np.any(gap < 0):
                i, j = np.unravel_index(int(np.argmin(gap)), gap.shape)
                raise ProbeError(
                    f"{placements[first].label} and {placements[second].label} intersect "
                    f"(their solids overlap by {-float(gap[i, j]):.2f} mm)"
                )


def _check_inside_grid(placement: ProbePlacement, geometry: ProbeGeometry, grid: Grid, labels: np.ndarray | None) -> None:
    tip = geometry.tip_mm
    if not grid.contains_mm(tip):
        raise ProbeError(f"{placement.label}: tip {np.round(tip, 2).tolist()} mm lies outside the grid/image")
    points = geometry.active_points_mm
    index = grid.world_to_index(points)
    outside = np.any((index < -0.5) | (index > np.asarray(grid.shape) - 0.5), axis=1)
    if np.any(outside):
        point = np.round(points[np.argmax(outside)], 2).tolist()
        raise ProbeError(f"{placement.label}: active part reaches {point} mm, outside the grid/image")
    if labels is not None:
        voxel = tuple(np.clip(np.round(grid.world_to_index(tip)).astype(int), 0, np.asarray(grid.shape) - 1))
        if int(labels[voxel]) == int(TissueClass.BACKGROUND):
            raise ProbeError(f"{placement.label}: tip {np.round(tip, 2).tolist()} mm lies outside the body (background)")


def _thermocouple_voxels(geometry: ProbeGeometry, electrode: int, grid: Grid, occupied: np.ndarray) -> np.ndarray:
    voxels = []
    for sensor in geometry.thermocouples:
        if sensor.electrode != electrode:
            continue
        found = None
        for step in range(12):
            point = sensor.position_mm + 0.5 * step * grid.spacing_mm * sensor.outward_direction
            index = np.round(grid.world_to_index(point)).astype(int)
            if np.any(index < 0) or np.any(index >= np.asarray(grid.shape)):
                break
            flat = int(np.ravel_multi_index(tuple(index), grid.shape))
            found = flat if found is None else found
            if not occupied[flat]:
                found = flat
                break
        if found is not None:
            voxels.append(found)
    return np.unique(np.asarray(voxels, np.int64))


def _merge(parts: Sequence[_CutCells]) -> _CutCells:
    """One electrode's cells from several groups of pieces (couplings summed, none on Dirichlet nodes)."""
    inside = np.unique(np.concatenate([part.inside for part in parts]))
    deep = np.unique(np.concatenate([part.deep for part in parts]))
    index = np.concatenate([part.coupling_index for part in parts])
    edges = np.concatenate([part.coupling_edges for part in parts])
    keep = ~np.isin(index, deep)
    unique, position = np.unique(index[keep], return_inverse=True)
    summed = np.zeros(unique.size)
    np.add.at(summed, position, edges[keep])
    return _CutCells(inside, deep, unique, summed)


def _well_and_cut_cells(pieces: Sequence[Piece], grid: Grid) -> _CutCells | None:
    """Cells with thin axis-aligned pieces on node lines as calibrated wells; None if there is none."""
    spacing = grid.spacing_mm
    wells, others = [], []
    for piece, thin in zip(pieces, eligible(pieces, spacing, MINIMUM_ELECTRIC_RADIUS_EDGES), strict=True):
        axis = grid_axis(piece) if thin else None
        if axis is None:
            others.append(piece)
            continue
        on_line = snapped_to_node_line(piece, grid)
        if node_line(on_line, grid, _cut_cells([on_line], grid).inside):
            wells.append(_cut_cells([on_line], grid, (axis, well_link_edges(round(piece.radius_mm / spacing, 6)))))
        else:
            others.append(piece)
    if not wells:
        return None
    if others:
        wells.append(_cut_cells(_electric_pieces(others, spacing), grid))
    return _merge(wells)


def _electrode_cells(pieces: Sequence[Piece], grid: Grid, electrode_model: str) -> tuple[_CutCells, _CutCells]:
    """(cut cells of every piece for ownership checks, the cells the solver gets)."""
    full = _cut_cells(_electric_pieces(pieces, grid.spacing_mm), grid)
    thin = [p for p in pieces if is_thin(p, grid.spacing_mm)] if electrode_model == "subgrid" else []
    if not thin:
        cells = _well_and_cut_cells(pieces, grid) if electrode_model == "cut-cell" else None
        return full, (full if cells is None else cells)
    thick = [p for p in pieces if not is_thin(p, grid.spacing_mm)]
    empty = np.zeros(0, np.int64)
    solid = _cut_cells(_electric_pieces(thick, grid.spacing_mm), grid) if thick else _CutCells(empty, empty, empty, np.zeros(0))
    index, edges = subgrid_coupling(thin, grid)
    keep = ~np.isin(index, solid.deep)
    unique, position = np.unique(np.concatenate([solid.coupling_index, index[keep]]), return_inverse=True)
    summed = np.zeros(unique.size)
    np.add.at(summed, position, np.concatenate([solid.coupling_edges, edges[keep]]))
    return full, _CutCells(full.inside, solid.deep, unique, summed)


def rasterize_probes(
    placements: Sequence[ProbePlacement], grid: Grid, labels: np.ndarray | None = None,
    electrode_model: str = "cut-cell",
) -> list[ProbeElectrodeRaster]:
    """Turn placed probes into electrodes on ``grid``.

    Parameters
    ----------
    placements : sequence of ProbePlacement
        The probes, in world RAS mm.
    grid : Grid
        The simulation grid.
    labels : ndarray of uint8, optional
        :class:`~rfasim.tissue.TissueClass` codes on ``grid``; when given, a tip in background
        (air) is refused.
    electrode_model : str
        One of :data:`ELECTRODE_MODELS`: ``"cut-cell"`` or ``"subgrid"``.

    Returns
    -------
    list of ProbeElectrodeRaster
        One per independently driven electrode, in placement order: a cluster is one electrode,
        a bipolar probe two (polarity +0.5 and -0.5), everything else one (polarity 1).

    Raises
    ------
    ProbeError
        A tip or active part outside the grid, a tip in air, probes that intersect, two
        electrodes sharing a voxel, or a probe too small for the grid to hold.

    Examples
    --------
    >>> grid = Grid.centered(40.0, 1.0)
    >>> probe = ProbePlacement("cooltip-17g-2cm", tip_mm=[0, 0, -5], entry_mm=[0, 0, 45])
    >>> [electrode] = rasterize_probes([probe], grid)
    >>> electrode.cooled, electrode.polarity
    (True, 1.0)
    """
    placements = list(placements)
    if not placements:
        raise ProbeError("no probe to rasterise")
    if electrode_model not in ELECTRODE_MODELS:
        raise ProbeError(f"unknown electrode model {electrode_model!r} (valid: {', '.join(ELECTRODE_MODELS)})")
    if labels is not None and tuple(np.shape(labels)) != grid.shape:
        raise ProbeError(f"labels of shape {np.shape(labels)} do not match the grid {grid.shape}")
    for number, placement in enumerate(placements, start=1):
        if placement.label == f"probe ({placement.model.name})":
            placement.label = f"probe {number} ({placement.model.name})"
    geometries = [placement.geometry() for placement in placements]
    for placement, geometry in zip(placements, geometries, strict=True):
        _check_inside_grid(placement, geometry, grid, labels)
    check_intersections(placements, geometries)

    spacing = grid.spacing_mm
    cells: list[tuple[int, int, _CutCells, list[Piece]]] = []
    owner = np.full(grid.size, -1, np.int64)
    for probe_number, geometry in enumerate(geometries):
        for electrode in range(geometry.model.electrode_count):
            pieces = _pieces(geometry, electrode)
            owned, cut = _electrode_cells(pieces, grid, electrode_model)
            if owned.inside.size == 0:
                raise ProbeError(f"{placements[probe_number].label}: electrode {electrode} holds no grid node")
            clash = owner[owned.inside] >= 0
            if np.any(clash):
                raise ProbeError(
                    f"{placements[probe_number].label}: electrode {electrode} shares voxels with another "
                    f"electrode at {spacing:g} mm spacing; move the probes apart or refine the grid"
                )
            owner[owned.inside] = len(cells)
            cells.append((probe_number, electrode, cut, pieces))
    occupied = owner >= 0

    insulated_per_probe = [_shaft_voxels(geometry, grid) for geometry in geometries]
    insulated_per_probe = [voxels[~occupied[voxels]] for voxels in insulated_per_probe]

    electrodes: list[ProbeElectrodeRaster] = []
    for probe_number, electrode, cut, pieces in cells:
        placement, geometry = placements[probe_number], geometries[probe_number]
        model = geometry.model
        polarity = geometry.electrode_polarities[electrode]
        name = placement.label if model.electrode_count == 1 else f"{placement.label} {'+' if polarity > 0 else '-'}"
        shaft = insulated_per_probe[probe_number]
        keep = ~np.isin(cut.coupling_index, np.concatenate(insulated_per_probe))
        fraction_index, fraction = volume_fractions(pieces, grid)
        raster = ProbeElectrodeRaster(
            name=name,
            metal_index=cut.deep,
            coupling_index=cut.coupling_index[keep],
            coupling_factor_m=cut.coupling_edges[keep] * grid.spacing_m,
            insulated_index=shaft if electrode == 0 else np.zeros(0, np.int64),
            thermocouple_index=_thermocouple_voxels(geometry, electrode, grid, occupied),
            polarity=float(polarity),
            cooled=model.cooled,
            coolant_temperature_c=model.coolant_temperature_c,
            fraction_index=fraction_index,
            metal_fraction=fraction,
            probe_label=placement.label,
        )
        raster.validate(grid)
        electrodes.append(raster)
    return electrodes


def _shaft_voxels(geometry: ProbeGeometry, grid: Grid) -> np.ndarray:
    """Flat indices of nodes inside the probe's insulated parts (electric radius)."""
    shaft = [Piece(s.start_mm, s.end_mm, s.radius_mm) for s in geometry.insulated_segments]
    if not shaft:
        return np.zeros(0, np.int64)
    shaft = _electric_pieces(shaft, grid.spacing_mm)
    candidates = _candidates(shaft, grid, 0.0)
    if candidates.size == 0:
        return candidates
    centers = grid.index_to_world(np.stack(np.unravel_index(candidates, grid.shape), axis=1))
    return candidates[_union_inside(centers, shaft)]


def raster_measures(raster: ProbeElectrodeRaster, grid: Grid, axis_direction: np.ndarray) -> dict[str, float]:
    """Geometric size of an electrode's volume-fraction field, for checking the rasterisation.

    Parameters
    ----------
    raster : ProbeElectrodeRaster
    grid : Grid
    axis_direction : ndarray, shape (3,)
        The needle's axis (any length).

    Returns
    -------
    dict
        ``volume_mm3`` (sum of fractions x voxel volume), ``length_mm`` (from the second moment
        along the axis, ``sqrt(12 var)``), ``radius_mm`` (from volume and length) and
        ``surface_area_mm2`` (of the cylinder of that radius and length, ends included).
    """
    spacing = grid.spacing_mm
    direction = np.asarray(axis_direction, float) / np.linalg.norm(axis_direction)
    fraction = raster.metal_fraction
    centers = grid.index_to_world(np.stack(np.unravel_index(raster.fraction_index, grid.shape), axis=1))
    volume = float(fraction.sum()) * spacing**3
    along = centers @ direction
    mean = float(np.average(along, weights=fraction))
    # A voxel's own extent adds ~h^2/12 (per unit |direction component|^2) to the variance.
    # Box-filtering by the voxel adds spacing^2 / 12 to the variance in any direction.
    variance = float(np.average((along - mean) ** 2, weights=fraction)) - spacing**2 / 12.0
    length = math.sqrt(max(12.0 * variance, 0.0))
    radius = math.sqrt(volume / (math.pi * length)) if length > 0 else 0.0
    area = 2.0 * math.pi * radius * length + 2.0 * math.pi * radius**2
    return {"volume_mm3": volume, "length_mm": length, "radius_mm": radius, "surface_area_mm2": area}
