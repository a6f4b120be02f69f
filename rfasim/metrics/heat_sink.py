"""Heat-sink warnings: large vessels near the necrosis zone and the zone's indentation there.

Each connected component of the vessel mask (26-connectivity) whose closest voxel lies within
``distance_mm`` of the zone is measured at that closest point:

- distance: smallest exact distance between the marching-cubes surfaces of the vessel (near its
  voxel closest to the zone, by distance transform) and of the zone; 0 when they touch;
- calibre: diameter of the disc with the cross-sectional area of a short segment of the vessel
  around the closest point (its axis from a principal component analysis); components thinner
  than ``min_calibre_mm`` are ignored;
- indentation: the zone's radius from its centre is found along rays (boundary at level 0.5 of
  the lightly smoothed zone mask, located below the voxel).  The reference radius is the median
  over the directions making the same angle with the probe axis as the vessel's direction
  (for a vessel beside the probe, the directions perpendicular to it), so that an elongated zone
  symmetric about the probe shows no indentation; the indentation is that median minus the
  radius in the vessel's direction (negative: the zone bulges there).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from scipy import ndimage

from rfasim.grid import Grid
from rfasim.metrics._geometry import (
    Indicator,
    TriangleMesh,
    check_mask,
    indicator_from_mask,
    perpendicular_basis,
    unit_vector,
)
from rfasim.metrics._voxel_distance import DistanceToMask, distances_to_mask_mm
from rfasim.metrics.zone import ZoneMetrics, zone_metrics

#: Directions around the probe axis sampled for the reference radius.
REFERENCE_DIRECTIONS = 72


@dataclass(frozen=True)
class VesselReport:
    """A large vessel near the zone.

    Attributes
    ----------
    number : int
        1-based rank by distance to the zone (1 = closest).
    calibre_mm : float
        Vessel diameter (mm) at its point closest to the zone.
    distance_mm : float
        Closest distance between the vessel wall and the zone boundary (mm); 0 when touching.
    closest_point_mm : tuple of float
        Point of the vessel's surface closest to the zone (world mm); the voxel centre when
        the vessel overlaps the zone.
    zone_point_mm : tuple of float
        Point of the zone's surface closest to it (world mm); a voxel centre on overlap.
    indentation_mm : float
        How much shorter the zone's radius is in the vessel's direction than the median radius
        around the probe axis at the same angle (mm; negative: the zone bulges on that side).
    warning : str
        Human-readable warning.
    """

    number: int
    calibre_mm: float
    distance_mm: float
    closest_point_mm: tuple[float, float, float]
    zone_point_mm: tuple[float, float, float]
    indentation_mm: float
    warning: str


def zone_radii_mm(
    zone: Indicator, center_mm: np.ndarray, directions: np.ndarray, step_mm: float
) -> np.ndarray:
    """Distance (mm) from ``center_mm`` along each unit direction to the zone's first exit.

    The crossing is interpolated linearly between samples ``step_mm`` apart; 0 when the centre
    is outside the zone.

    Parameters
    ----------
    zone : Indicator
        The zone (a field and its threshold on a grid).
    center_mm : numpy.ndarray, shape (3,)
        World point (mm) the rays start from.
    directions : numpy.ndarray, shape (n, 3)
        Unit directions of the rays.
    step_mm : float
        Sampling step along each ray (mm).

    Returns
    -------
    numpy.ndarray, shape (n,)
        Radius (mm) along each direction.
    """
    extent_mm = float(np.linalg.norm(np.array(zone.values.shape))) * zone.grid.spacing_mm
    steps = np.arange(0.0, extent_mm + step_mm, step_mm)
    points = center_mm[None, None, :] + steps[None, :, None] * directions[:, None, :]
    values = zone.sample(points.reshape(-1, 3)).reshape(directions.shape[0], steps.size)
    above = values >= zone.threshold
    radii = np.zeros(directions.shape[0])
    for row in range(directions.shape[0]):
        if not above[row, 0]:
            continue
        exits = np.flatnonzero(~above[row])
        if exits.size == 0:
            radii[row] = steps[-1]
            continue
        first = int(exits[0])
        before, after = values[row, first - 1], values[row, first]
        fraction = (before - zone.threshold) / (before - after) if before != after else 0.5
        radii[row] = steps[first - 1] + fraction * step_mm
    return radii


def _local_calibre_mm(
    component: np.ndarray, inner_distance_mm: np.ndarray, point_index: np.ndarray, spacing_mm: float
) -> float:
    """Vessel diameter (mm) near a point of it, from the cross-sectional area of a short segment.

    The largest inscribed ball containing the point (distance transform) gives a centre and a
    rough radius r; the local axis is the principal direction of the vessel voxels within 3 r
    of that centre; the voxels of a slab of the vessel across that axis (half-thickness
    2 r + h, radial reach 2 r + 2 h) give the cross-sectional area A = n h^3 / thickness, and the
    calibre is the diameter of the disc of that area.
    """
    radius_limit_voxels = int(np.ceil(inner_distance_mm[component].max() / spacing_mm)) + 1
    low = np.maximum(point_index - radius_limit_voxels, 0)
    high = np.minimum(point_index + radius_limit_voxels + 1, component.shape)
    window = tuple(slice(a, b) for a, b in zip(low, high, strict=True))
    candidates = np.argwhere(component[window]) + low
    radii = inner_distance_mm[tuple(candidates.T)]
    separation = np.linalg.norm(candidates - point_index, axis=1) * spacing_mm
    containing = separation <= radii
    pool = np.flatnonzero(containing) if containing.any() else np.arange(radii.size)
    best = pool[np.argmax(radii[pool])]
    centre = candidates[best].astype(float)
    rough_radius_mm = max(float(radii[best]), spacing_mm)

    reach_voxels = int(np.ceil(3.0 * rough_radius_mm / spacing_mm)) + 2
    low = np.maximum(centre.astype(int) - reach_voxels, 0)
    high = np.minimum(centre.astype(int) + reach_voxels + 1, component.shape)
    window = tuple(slice(a, b) for a, b in zip(low, high, strict=True))
    offsets_mm = (np.argwhere(component[window]) + low - centre) * spacing_mm
    distance_mm = np.linalg.norm(offsets_mm, axis=1)
    near = offsets_mm[distance_mm <= 3.0 * rough_radius_mm]
    if near.shape[0] < 4:
        return 2.0 * max(rough_radius_mm - 0.5 * spacing_mm, 0.0)
    _, vectors = np.linalg.eigh(near.T @ near)
    axis = vectors[:, -1]
    along = offsets_mm @ axis
    radial = np.linalg.norm(offsets_mm - along[:, None] * axis, axis=1)
    half_thickness_mm = 2.0 * rough_radius_mm + spacing_mm
    in_slab = (np.abs(along) <= half_thickness_mm) & (
        radial <= 2.0 * rough_radius_mm + 2 * spacing_mm
    )
    area_mm2 = np.count_nonzero(in_slab) * spacing_mm**3 / (2.0 * half_thickness_mm)
    return 2.0 * float(np.sqrt(area_mm2 / np.pi))


def _surface_gap(
    component: np.ndarray,
    closest_index: np.ndarray,
    box_start: np.ndarray,
    calibre_mm: float,
    zone_mesh: TriangleMesh,
    grid: Grid,
) -> tuple[float, np.ndarray, np.ndarray]:
    """Sub-voxel gap (mm) between a vessel's surface near a point and the zone's surface.

    Returns the gap and the closest points on the vessel and zone surfaces (world mm).
    """
    reach = int(np.ceil((2.0 * calibre_mm) / grid.spacing_mm)) + 4
    low = np.maximum(closest_index - reach, 0)
    high = np.minimum(closest_index + reach + 1, component.shape)
    local = np.zeros(grid.shape, dtype=bool)
    start = low + box_start
    stop = high + box_start
    local[tuple(slice(a, b) for a, b in zip(start, stop, strict=True))] = component[
        tuple(slice(a, b) for a, b in zip(low, high, strict=True))
    ]
    vertices, _ = indicator_from_mask(local, grid).surface()
    distances, zone_points = zone_mesh.closest_points(vertices)
    best = int(np.argmin(distances))
    return float(distances[best]), vertices[best], zone_points[best]


def _indentation_mm(
    zone: Indicator, center_mm: np.ndarray, offset_mm: np.ndarray, axis: np.ndarray, step_mm: float
) -> float:
    """Median zone radius around the axis minus the radius towards the vessel (mm).

    For a vessel lying beside the zone (its direction from the centre at least 30 degrees from
    the axis) both are measured in the plane through the centre perpendicular to the axis, the
    vessel's direction projected onto it; otherwise on the cone of directions at the vessel's
    angle from the axis.
    """
    norm = float(np.linalg.norm(offset_mm))
    if norm == 0:
        return 0.0
    direction = offset_mm / norm
    cosine = float(np.clip(direction @ axis, -1.0, 1.0))
    if np.sqrt(1.0 - cosine**2) >= 0.5:
        direction = direction - cosine * axis
        direction /= np.linalg.norm(direction)
        cosine = 0.0
    sine = float(np.sqrt(1.0 - cosine**2))
    first, second = perpendicular_basis(axis)
    angles = np.linspace(0.0, 2.0 * np.pi, REFERENCE_DIRECTIONS, endpoint=False)
    cone = cosine * axis + sine * (
        np.cos(angles)[:, None] * first + np.sin(angles)[:, None] * second
    )
    radii = zone_radii_mm(zone, center_mm, np.vstack([direction, cone]), step_mm)
    return float(np.median(radii[1:]) - radii[0])


def _warning(
    number: int, calibre_mm: float, distance_mm: float, indentation_mm: float, spacing_mm: float
) -> str:
    where = "touching the zone" if distance_mm <= 0 else f"{distance_mm:.1f} mm from the zone"
    # indentation_mm > 0: the zone is shorter towards the vessel (the heat sink shows);
    # < 0: it reaches farther towards the vessel than elsewhere around the probe axis.
    if indentation_mm >= 0.5 * spacing_mm:
        return (f"vessel {number} ({calibre_mm:.1f} mm calibre) {where}: heat sink, the zone is indented by "
                f"{indentation_mm:.1f} mm on that side")
    if indentation_mm <= -0.5 * spacing_mm:
        effect = (f"the zone reaches {-indentation_mm:.1f} mm farther towards it than elsewhere around the probe "
                  "axis (no indentation)")
    else:
        effect = "no indentation of the zone measured on that side"
    return f"vessel {number} ({calibre_mm:.1f} mm calibre) {where}: potential heat sink, {effect}"


class _NearVesselContext:
    """The zone's measures and the vessels' inner distances, computed when first asked for.

    Most vessels of a region lie farther from the zone than the reporting distance; these are
    needed only for one that does not.
    """

    def __init__(self, vessels_box: np.ndarray, zone: np.ndarray, grid: Grid, probe_axis: np.ndarray | None,
                 zone_center_mm: np.ndarray | None) -> None:
        self._vessels_box, self._zone, self._grid = vessels_box, zone, grid
        self._probe_axis, self._zone_center_mm = probe_axis, zone_center_mm

    @cached_property
    def _to_outside_vessels(self) -> DistanceToMask | None:
        outside = ~self._vessels_box
        return DistanceToMask(outside, self._grid.spacing_mm) if outside.any() else None

    def inner_distance(self, component: np.ndarray) -> np.ndarray:
        """Distance (mm) from each voxel of a vessel component to the nearest voxel outside the vessels.

        The distance transform of the box's vessels at the component's voxels (0 elsewhere).
        """
        if self._to_outside_vessels is None:  # vessels fill the box: the transform of it all
            return ndimage.distance_transform_edt(self._vessels_box, sampling=self._grid.spacing_mm)
        distance = np.zeros(component.shape)
        voxels = np.nonzero(component)
        distance[voxels] = self._to_outside_vessels.at(np.stack(voxels, axis=1))
        return distance

    @cached_property
    def _metrics(self) -> ZoneMetrics:
        return zone_metrics(self._zone, self._grid)

    @cached_property
    def axis(self) -> np.ndarray:
        """The probe axis (unit), or the zone's principal long axis."""
        if self._probe_axis is not None:
            return self._probe_axis
        return np.asarray(self._metrics.axis_directions)[0]

    @cached_property
    def center(self) -> np.ndarray:
        """The centre (world mm) of the zone's radii."""
        if self._zone_center_mm is not None:
            return self._zone_center_mm
        return np.asarray(self._metrics.centroid_mm)

    @cached_property
    def indicator(self) -> Indicator:
        """The zone as an indicator (its smoothed mask)."""
        return indicator_from_mask(self._zone, self._grid)

    @cached_property
    def zone_mesh(self) -> TriangleMesh:
        """The zone's surface."""
        return TriangleMesh(*self.indicator.surface())


def heat_sink_warnings(
    vessel_mask: np.ndarray,
    zone_mask: np.ndarray,
    grid: Grid,
    distance_mm: float = 10.0,
    probe_axis: np.ndarray | tuple[float, float, float] | None = None,
    zone_center_mm: np.ndarray | tuple[float, float, float] | None = None,
    min_calibre_mm: float = 1.5,
) -> list[VesselReport]:
    """Large vessels within ``distance_mm`` of the zone, closest first (see the module notes).

    Parameters
    ----------
    vessel_mask : ndarray of bool, shape ``grid.shape``
        Large vessel lumen (e.g. ``tissue_classes == TissueClass.VESSEL``).
    zone_mask : ndarray of bool, shape ``grid.shape``
        The necrosis zone.
    grid : Grid
        The simulation grid.
    distance_mm : float, optional
        Vessels farther than this from the zone (mm) are not reported.
    probe_axis : array-like of 3 floats, optional
        Probe direction (world); default: the zone's principal long axis.
    zone_center_mm : array-like of 3 floats, optional
        Centre of the zone (world mm) for the radii, e.g. the middle of the active tip; default:
        the zone's centroid.
    min_calibre_mm : float, optional
        Vessels of a smaller calibre (mm) are ignored.

    Returns
    -------
    list of VesselReport
        Empty when the zone or the vessel mask is empty.
    """
    vessels = check_mask(vessel_mask, grid, "vessel_mask")
    zone = check_mask(zone_mask, grid, "zone_mask")
    if not zone.any() or not vessels.any():
        return []
    spacing = grid.spacing_mm
    # Work in a box around the zone, large enough for the vessels' cross-sections.
    grow = int(np.ceil((distance_mm + 20.0) / spacing)) + 2
    zone_indices = np.argwhere(zone)
    low = np.maximum(zone_indices.min(axis=0) - grow, 0)
    high = np.minimum(zone_indices.max(axis=0) + grow + 1, grid.shape)
    box = tuple(slice(a, b) for a, b in zip(low, high, strict=True))
    zone_box = zone[box]
    vessels_box = vessels[box]
    if not vessels_box.any():
        return []
    labels, count = ndimage.label(vessels_box, structure=np.ones((3, 3, 3), dtype=bool))
    # Each vessel voxel's distance to the zone (the distance transform of the zone, at the vessel
    # voxels only), in the order of the flat index: the first of equally near voxels is kept.
    vessel_flat = np.flatnonzero(vessels_box)
    vessel_indices = np.stack(np.unravel_index(vessel_flat, vessels_box.shape), axis=1)
    vessel_labels = labels.ravel()[vessel_flat]
    vessel_distances = distances_to_mask_mm(vessel_indices, zone_box, spacing)
    # What only a vessel near the zone needs, computed for the first one.
    near = _NearVesselContext(
        vessels_box, zone, grid, None if probe_axis is None else unit_vector(probe_axis, "probe_axis"),
        None if zone_center_mm is None else np.asarray(zone_center_mm, dtype=float),
    )

    found = []
    for label in range(1, count + 1):
        members = np.flatnonzero(vessel_labels == label)
        nearest_member = int(members[np.argmin(vessel_distances[members])])
        closest_index = vessel_indices[nearest_member]
        centre_distance = float(vessel_distances[nearest_member])
        gap_mm = max(centre_distance - spacing, 0.0)
        if gap_mm > distance_mm + spacing:
            continue
        component = labels == label
        calibre = _local_calibre_mm(component, near.inner_distance(component), closest_index, spacing)
        if calibre < min_calibre_mm:
            continue
        # A vessel voxel at distance 0 lies in the zone: its nearest zone voxel is itself.
        closest_mm = grid.index_to_world(closest_index + low)
        zone_point_mm = grid.index_to_world(closest_index + low)
        if centre_distance > 0:
            gap_mm, closest_mm, zone_point_mm = _surface_gap(
                component, closest_index, low, calibre, near.zone_mesh, grid
            )
        indentation = _indentation_mm(near.indicator, near.center, closest_mm - near.center, near.axis,
                                      0.25 * spacing)
        if gap_mm > distance_mm:
            continue
        found.append((gap_mm, calibre, closest_mm, zone_point_mm, indentation))

    found.sort(key=lambda item: item[0])
    reports = []
    for number, (gap_mm, calibre, closest_mm, zone_point_mm, indentation) in enumerate(found, 1):
        closest_x, closest_y, closest_z = (float(v) for v in closest_mm)
        zone_x, zone_y, zone_z = (float(v) for v in zone_point_mm)
        reports.append(
            VesselReport(
                number=number,
                calibre_mm=calibre,
                distance_mm=gap_mm,
                closest_point_mm=(closest_x, closest_y, closest_z),
                zone_point_mm=(zone_x, zone_y, zone_z),
                indentation_mm=indentation,
                warning=_warning(number, calibre, gap_mm, indentation, spacing),
            )
        )
    return reports
