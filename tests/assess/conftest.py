"""Synthetic pre/post-ablation pairs (2 mm voxels) shared by the assessment tests.

Each pair is built once per test session: a phantom, a known motion, a spherical zone of known
radius and offset painted into the post-ablation scan (see :mod:`rfasim.assess.synthetic`).
"""

from __future__ import annotations

import pytest
from assess_helpers import DEFORMATION, RIGID

from rfasim.assess.synthetic import make_pair


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
