"""Registration: the recovered transform against the known motion of synthetic pairs."""

from __future__ import annotations

import numpy as np
import pytest
from assess_helpers import tumor_surface_points

from rfasim.assess.registration import RegistrationSettings, register
from rfasim.assess.sitk_bridge import affine_of, from_sitk, to_sitk, transform_points_ras
from rfasim.phantoms import orientation_matrix


def _register(pair, deformable: bool):
    labels = pair.pre_labels.data
    return register(
        pair.pre_ct,
        pair.post_ct,
        labels == 2,
        pair.post_zone.data > 0,
        np.isin(labels, [1, 2, 3]),
        pair.tumor_centre_mm,
        RegistrationSettings(deformable=deformable),
    )


def _tumor_error_mm(pair, result) -> np.ndarray:
    points = tumor_surface_points(pair)
    return np.linalg.norm(result.map_points(points) - pair.motion.pre_to_post(points), axis=1)


def test_sitk_round_trip_keeps_the_ras_geometry():
    affine = np.eye(4)
    affine[:3, :3] = orientation_matrix("oblique") @ np.diag([0.8, 1.1, 2.5])
    affine[:3, 3] = (12.0, -30.0, 45.0)
    data = np.random.default_rng(0).normal(size=(5, 6, 7)).astype(np.float32)
    image = to_sitk(data, affine)
    np.testing.assert_allclose(affine_of(image), affine, atol=1e-9)
    np.testing.assert_array_equal(from_sitk(image), data)
    # A voxel's world position agrees between the two conventions (SimpleITK works in LPS).
    lps = np.asarray(image.TransformIndexToPhysicalPoint((1, 2, 3)))
    ras = affine[:3, :3] @ (1, 2, 3) + affine[:3, 3]
    np.testing.assert_allclose(lps * (-1, -1, 1), ras, atol=1e-9)


def test_rigid_registration_recovers_the_motion_within_1mm_at_the_tumor(rigid_pair):
    result = _register(rigid_pair, deformable=False)
    error = _tumor_error_mm(rigid_pair, result)
    assert error.max() < 1.0, error.max()
    # The motion is not small: 9.4 mm at the tumor centre including the rotation.
    moved = rigid_pair.motion.pre_to_post(rigid_pair.tumor_centre_mm) - rigid_pair.tumor_centre_mm
    assert np.linalg.norm(moved) > 5.0
    summary = result.summary(rigid_pair.tumor_centre_mm)
    assert summary["rotation_deg"] == pytest.approx(5.4, abs=0.5)  # |(3, -2, 4)| degrees, composed


@pytest.mark.slow
def test_deformable_registration_recovers_a_smooth_deformation_within_1mm(deformed_pair):
    rigid = _register(deformed_pair, deformable=False)
    deformable = _register(deformed_pair, deformable=True)
    rigid_error = _tumor_error_mm(deformed_pair, rigid)
    deformable_error = _tumor_error_mm(deformed_pair, deformable)
    # Rigid alone cannot follow the deformation; the B-spline step brings the tumor within 1 mm.
    assert rigid_error.max() > 2.0, rigid_error.max()
    assert deformable_error.max() < 1.0, deformable_error.max()
    assert deformable.method == "rigid+bspline"


def test_transform_points_ras_of_the_identity_is_the_identity():
    import SimpleITK

    points = np.array([[1.0, -2.0, 3.0], [40.0, 5.0, -7.5]])
    np.testing.assert_allclose(transform_points_ras(SimpleITK.Euler3DTransform(), points), points)
