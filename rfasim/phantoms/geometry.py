"""Shapes of the synthetic phantoms, in world RAS+ millimetres: ellipsoids and vessel trees.

A vessel tree is a list of straight :class:`VesselSegment` cylinders with rounded ends (capsules),
grown from a root by recursive bifurcation with a seeded random generator, so that a seed always
gives the same tree.  Branch radii follow Murray's law (the cube of the parent's radius is the sum
of its children's cubes).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike


@dataclass(frozen=True)
class Ellipsoid:
    """An axis-aligned ellipsoid (world axes).

    Parameters
    ----------
    centre_mm : tuple of float
        Centre, world RAS+ mm.
    semi_axes_mm : tuple of float
        Half-lengths along x, y, z (mm).
    """

    centre_mm: tuple[float, float, float]
    semi_axes_mm: tuple[float, float, float]

    def contains(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        """Whether world points (mm, broadcastable arrays) lie inside."""
        cx, cy, cz = self.centre_mm
        ax, ay, az = self.semi_axes_mm
        return ((x - cx) / ax) ** 2 + ((y - cy) / ay) ** 2 + ((z - cz) / az) ** 2 <= 1.0

    def bounds_mm(self) -> tuple[np.ndarray, np.ndarray]:
        """World bounding box (low, high corners), mm."""
        centre = np.asarray(self.centre_mm, dtype=float)
        half = np.asarray(self.semi_axes_mm, dtype=float)
        return centre - half, centre + half

    @property
    def max_diameter_mm(self) -> float:
        """Largest diameter (mm): twice the largest semi-axis."""
        return 2.0 * float(max(self.semi_axes_mm))


@dataclass(frozen=True)
class VesselSegment:
    """A straight vessel piece: a cylinder of ``radius_mm`` around a centreline, rounded ends.

    Parameters
    ----------
    start_mm, end_mm : tuple of float
        Centreline ends, world RAS+ mm.
    radius_mm : float
        Lumen radius (mm).
    tree : str
        Name of the tree it belongs to (``"portal"``, ``"hepatic"``...).
    generation : int
        0 for the root, parent's generation + 1 for branches.
    """

    start_mm: tuple[float, float, float]
    end_mm: tuple[float, float, float]
    radius_mm: float
    tree: str = "vessel"
    generation: int = 0

    @property
    def diameter_mm(self) -> float:
        """Lumen diameter (mm)."""
        return 2.0 * self.radius_mm

    def centreline_distance_mm(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        """Distance (mm) from world points (broadcastable arrays) to the centreline segment."""
        start = np.asarray(self.start_mm, dtype=float)
        axis = np.asarray(self.end_mm, dtype=float) - start
        length_squared = float(axis @ axis)
        dx, dy, dz = x - start[0], y - start[1], z - start[2]
        if length_squared == 0.0:
            return np.sqrt(dx**2 + dy**2 + dz**2)
        t = np.clip((dx * axis[0] + dy * axis[1] + dz * axis[2]) / length_squared, 0.0, 1.0)
        return np.sqrt((dx - t * axis[0]) ** 2 + (dy - t * axis[1]) ** 2 + (dz - t * axis[2]) ** 2)

    def contains(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        """Whether world points (mm) lie in the lumen."""
        return self.centreline_distance_mm(x, y, z) <= self.radius_mm

    def bounds_mm(self) -> tuple[np.ndarray, np.ndarray]:
        """World bounding box (low, high corners), mm."""
        ends = np.array([self.start_mm, self.end_mm], dtype=float)
        return ends.min(axis=0) - self.radius_mm, ends.max(axis=0) + self.radius_mm

    def distance_to_point_mm(self, point_mm: Sequence[float]) -> float:
        """Distance (mm) from a world point to the centreline."""
        point = np.asarray(point_mm, dtype=float)
        return float(self.centreline_distance_mm(point[0], point[1], point[2]))

    def as_dict(self) -> dict[str, object]:
        """Plain-data description (for metadata and JSON)."""
        return {
            "tree": self.tree,
            "generation": self.generation,
            "start_mm": [float(v) for v in self.start_mm],
            "end_mm": [float(v) for v in self.end_mm],
            "radius_mm": float(self.radius_mm),
        }


def wall_gap_to_ellipsoid_mm(segment: VesselSegment, ellipsoid: Ellipsoid) -> float:
    """Conservative wall-to-wall gap (mm) between a vessel and an ellipsoid (a lower bound).

    Uses the ellipsoid's largest semi-axis as its radius, so the true gap is at least this.
    """
    return (
        segment.distance_to_point_mm(ellipsoid.centre_mm)
        - segment.radius_mm
        - max(ellipsoid.semi_axes_mm)
    )


def grow_vessel_tree(
    root_start_mm: ArrayLike,
    root_direction: ArrayLike,
    root_radius_mm: float,
    rng: np.random.Generator,
    tree: str,
    keep: Callable[[VesselSegment], bool],
    minimum_radius_mm: float = 1.0,
    length_per_radius: float = 5.0,
    branch_angle_deg: float = 35.0,
    max_generations: int = 7,
) -> list[VesselSegment]:
    """Grow a bifurcating vessel tree from a root, deterministically from ``rng``.

    Parameters
    ----------
    root_start_mm : array_like, shape (3,)
        Start of the root segment, world RAS+ mm.
    root_direction : array_like, shape (3,)
        Direction of the root segment (any length).
    root_radius_mm : float
        Radius of the root (mm), e.g. 6 for a 12 mm portal vein.
    rng : numpy.random.Generator
        Seeded generator: the only source of randomness.
    tree : str
        Name given to the segments.
    keep : callable
        Called on each new segment; a segment it rejects is dropped with its whole subtree (used to
        keep vessels inside the liver and away from tumors).
    minimum_radius_mm : float
        Branches thinner than this are not grown (1 mm: 2 mm calibre).
    length_per_radius : float
        Segment length as a multiple of its radius (with +-25 % random spread).
    branch_angle_deg : float
        Mean angle between a child and its parent's direction.
    max_generations : int
        Depth limit.

    Returns
    -------
    list of VesselSegment
        Parents before children.
    """
    segments: list[VesselSegment] = []
    direction = np.asarray(root_direction, dtype=float)
    stack = [
        (
            np.asarray(root_start_mm, dtype=float),
            direction / np.linalg.norm(direction),
            float(root_radius_mm),
            0,
        )
    ]
    while stack:
        start, direction, radius, generation = stack.pop(0)
        length = radius * length_per_radius * rng.uniform(0.75, 1.25) + 6.0
        end = start + direction * length
        segment = VesselSegment(tuple(start), tuple(end), radius, tree, generation)
        if not keep(segment):
            continue
        segments.append(segment)
        if generation >= max_generations:
            continue
        fraction = rng.uniform(
            0.55, 0.8
        )  # share of the parent's flow cube taken by the first child
        child_radii = (radius * fraction ** (1 / 3), radius * (1 - fraction) ** (1 / 3))
        normal = _random_perpendicular(direction, rng)
        for side, child_radius in zip((1.0, -1.0), child_radii, strict=True):
            if child_radius < minimum_radius_mm:
                continue
            angle = np.deg2rad(branch_angle_deg * rng.uniform(0.7, 1.3))
            child_direction = np.cos(angle) * direction + side * np.sin(angle) * normal
            stack.append(
                (
                    end,
                    child_direction / np.linalg.norm(child_direction),
                    child_radius,
                    generation + 1,
                )
            )
    return segments


def _random_perpendicular(direction: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random unit vector perpendicular to ``direction``."""
    while True:
        candidate = rng.normal(size=3)
        candidate -= (candidate @ direction) * direction
        norm = np.linalg.norm(candidate)
        if norm > 1e-6:
            return candidate / norm
