"""Helpers of the assessment tests: the known motions and points on the true tumor surface."""

from __future__ import annotations

import numpy as np

from rfasim.assess.synthetic import RigidMotion, SmoothDeformation
from rfasim.phantoms.catalog import CENTRE_MM

#: The rigid motion of the test pairs: 3, -2 and 4 degrees, (4, -3, 3) mm.
RIGID = RigidMotion((3.0, -2.0, 4.0), (4.0, -3.0, 3.0), CENTRE_MM)
#: A smooth deformation (a 5.8 mm Gaussian bump of displacement, 45 mm wide) after the rigid one.
DEFORMATION = SmoothDeformation(
    (4.0, -3.0, 3.0), tuple(np.asarray(CENTRE_MM) + np.array([10.0, 10.0, 0.0])), 45.0, RIGID
)


def tumor_surface_points(pair, count: int = 400) -> np.ndarray:
    """Points on the true tumor sphere (pre-ablation world mm)."""
    golden = np.pi * (3.0 - np.sqrt(5.0))
    index = np.arange(count) + 0.5
    z = 1.0 - 2.0 * index / count
    radial = np.sqrt(1.0 - z**2)
    directions = np.stack([radial * np.cos(golden * index), radial * np.sin(golden * index), z], 1)
    return pair.tumor_centre_mm + pair.tumor_radius_mm * directions
