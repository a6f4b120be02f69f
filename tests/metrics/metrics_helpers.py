"""Analytic shapes on the simulation grid for the metrics tests."""

from __future__ import annotations

import numpy as np

from rfasim.grid import Grid


def radius_from(grid: Grid, center_mm) -> np.ndarray:
    """Distance (mm) of every voxel centre from a point."""
    x, y, z = grid.voxel_centers_mm()
    c = np.asarray(center_mm, dtype=float)
    return np.sqrt((x - c[0]) ** 2 + (y - c[1]) ** 2 + (z - c[2]) ** 2)


def sphere_intersection_volume(r1: float, r2: float, d: float) -> float:
    """Volume of the intersection of two balls of radii r1, r2 with centres d apart."""
    if d >= r1 + r2:
        return 0.0
    if d <= abs(r1 - r2):
        return 4.0 / 3.0 * np.pi * min(r1, r2) ** 3
    return (
        np.pi
        * (r1 + r2 - d) ** 2
        * (d**2 + 2 * d * r2 - 3 * r2**2 + 2 * d * r1 + 6 * r2 * r1 - 3 * r1**2)
        / (12 * d)
    )


def cap_fraction_at_least(
    tumor_radius: float, zone_radius: float, offset: float, level: float
) -> float:
    """Fraction of a sphere's area whose margin R_z - |p - c_z| is at least ``level``."""
    cosine = ((zone_radius - level) ** 2 - offset**2 - tumor_radius**2) / (
        2 * offset * tumor_radius
    )
    return float((1.0 + np.clip(cosine, -1.0, 1.0)) / 2.0)
