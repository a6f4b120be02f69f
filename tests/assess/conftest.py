"""Synthetic pre/post-ablation pairs (2 mm voxels) shared by the assessment tests.

Each pair is built once per test session: a phantom, a known motion, a spherical zone of known
radius and offset painted into the post-ablation scan (see :mod:`rfasim.assess.synthetic`).
"""

from __future__ import annotations

import numpy as np
import pytest

from rfasim.assess.synthetic import RigidMotion, SmoothDeformation, make_pair
from rfasim.phantoms.catalog import CENTRE_MM

#: The rigid motion of the test pairs: 3, -2 and 4 degrees, (4, -3, 3) mm.
RIGID = RigidMotion((3.0, -2.0, 4.0), (4.0, -3.0, 3.0), CENTRE_MM)
#: A smooth deformation (a 5.8 mm Gaussian bump of displacement, 45 mm wide) after the rigid one.
DEFORMATION = SmoothDeformation(
    (4.0, -3.0, 3.0), tuple(np.asarray(CENTRE_MM) + (10.0, 10.0, 0.0)), 45.0, RIGID
)


@pytest.fixture(scope="session")
def rigid_pair():
    """Rigid motion; the post-ablation scan is stored LPS with 2.5 mm slices."""
    return make_pair(RIGID, post_orientation="LPS", post_spacing_mm=(2.0, 2.0, 2.5))


@pytest.fixture(scope="session")
def rigid_files(rigid_pair, tmp_path_factory):
    return rigid_pair.save(tmp_path_factory.mktemp("rigid"))


@pytest.fixture(scope="session")
def deformed_pair():
    return make_pair(DEFORMATION)


def tumor_surface_points(pair, count: int = 400) -> np.ndarray:
    """Points on the true tumor sphere (pre-ablation world mm)."""
    golden = np.pi * (3.0 - np.sqrt(5.0))
    index = np.arange(count) + 0.5
    z = 1.0 - 2.0 * index / count
    radial = np.sqrt(1.0 - z**2)
    directions = np.stack([radial * np.cos(golden * index), radial * np.sin(golden * index), z], 1)
    return pair.tumor_centre_mm + pair.tumor_radius_mm * directions
