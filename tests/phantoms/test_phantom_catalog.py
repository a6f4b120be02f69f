"""Named phantoms: deterministic, tumors and vessels as specified, in any orientation."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from rfasim.errors import InputError
from rfasim.imaging import find_tumors
from rfasim.phantoms import LABEL_CODES, list_phantoms, make_phantom

TUMOR, VESSEL, LIVER = LABEL_CODES["tumor"], LABEL_CODES["vessel"], LABEL_CODES["liver"]


def tumor_to_vessel_gap_mm(phantom, tumor_mask) -> float:
    """Smallest distance (mm) between a tumor voxel centre and a vessel voxel centre (RAS/LPS)."""
    spacing = np.abs(np.diag(phantom.affine)[:3])
    distance = ndimage.distance_transform_edt(phantom.labels != VESSEL, sampling=spacing)
    return float(distance[tumor_mask].min())


def test_list_phantoms():
    names = [name for name, _ in list_phantoms()]
    assert names == ["liver-25mm", "vessel-30mm", "large-45mm", "two-tumors", "ct-like-dome", "large-vessel-20mm", "dome-20mm", "liver-20mm"]
    assert all(isinstance(text, str) and text and "\n" not in text for _, text in list_phantoms())


def test_unknown_phantom():
    with pytest.raises(InputError, match=r"unknown phantom 'liver'; known: liver-25mm"):
        make_phantom("liver")


def test_deterministic_and_seeded():
    first = make_phantom("liver-25mm")
    second = make_phantom("liver-25mm")
    np.testing.assert_array_equal(first.labels, second.labels)
    np.testing.assert_array_equal(first.ct, second.ct)
    other_seed = make_phantom("liver-25mm", seed=99)
    assert not np.array_equal(first.labels, other_seed.labels)  # another vessel tree


@pytest.mark.parametrize(
    ("name", "diameters"),
    [
        ("liver-25mm", [25.0]),
        ("vessel-30mm", [30.0]),
        ("large-45mm", [45.0]),
        ("two-tumors", [20.0, 15.0]),
    ],
)
def test_tumor_diameters(name, diameters):
    phantom = make_phantom(name)
    tumors = find_tumors(phantom.labels == TUMOR, phantom.affine)
    assert len(tumors) == len(diameters)
    for tumor, diameter, meta in zip(tumors, diameters, phantom.metadata["tumors"], strict=True):
        assert tumor.max_diameter_mm == pytest.approx(diameter, abs=1.0)
        assert meta["max_diameter_mm"] == diameter
        np.testing.assert_allclose(tumor.centroid_mm, meta["centre_mm"], atol=0.3)


def test_large_tumor_exceeds_the_rfa_limit():
    phantom = make_phantom("large-45mm", spacing_mm=(0.8, 0.8, 1.5), orientation="LPS")
    (tumor,) = find_tumors(phantom.labels == TUMOR, phantom.affine)
    assert tumor.max_diameter_mm > 40.0 + 3.0


def test_default_tumor_is_far_from_vessels():
    phantom = make_phantom("liver-25mm")
    assert tumor_to_vessel_gap_mm(phantom, phantom.labels == TUMOR) > 15.0
    # The tumor sits inside the liver: its outer shell of neighbours is liver.
    shell = ndimage.binary_dilation(phantom.labels == TUMOR, iterations=2) & (
        phantom.labels != TUMOR
    )
    assert np.all(phantom.labels[shell] == LIVER)


def test_vessel_phantom_has_a_6mm_vessel_a_few_mm_from_the_tumor():
    phantom = make_phantom("vessel-30mm", spacing_mm=(0.8, 0.8, 1.5), orientation="LPS")
    gap = tumor_to_vessel_gap_mm(phantom, phantom.labels == TUMOR)
    # Designed wall-to-wall gap 4 mm; voxel centres add up to about one voxel.
    assert 3.0 <= gap <= 5.5
    near = [v for v in phantom.metadata["vessels"] if v["radius_mm"] == 3.0]
    assert len(near) == 1
    start, end = np.asarray(near[0]["start_mm"]), np.asarray(near[0]["end_mm"])
    centre = np.asarray(phantom.metadata["tumors"][0]["centre_mm"])
    axis = (end - start) / np.linalg.norm(end - start)
    offset = centre - start
    centreline_distance = np.linalg.norm(offset - (offset @ axis) * axis)
    assert centreline_distance - 3.0 - 15.0 == pytest.approx(4.0)


def test_two_tumors_are_about_40mm_apart():
    phantom = make_phantom("two-tumors")
    first, second = find_tumors(phantom.labels == TUMOR, phantom.affine)
    assert np.linalg.norm(first.centroid_mm - second.centroid_mm) == pytest.approx(40.0, abs=1.0)


def test_vessel_calibres_between_2_and_12_mm():
    phantom = make_phantom("liver-25mm")
    diameters = [2 * v["radius_mm"] for v in phantom.metadata["vessels"]]
    assert min(diameters) >= 2.0 and max(diameters) <= 12.0
    assert {v["tree"] for v in phantom.metadata["vessels"]} == {"portal", "hepatic"}
    assert len(diameters) > 10


@pytest.mark.parametrize("orientation", ["RAS", "LPS", "oblique"])
def test_orientations_describe_the_same_anatomy(orientation):
    phantom = make_phantom("liver-25mm", spacing_mm=(0.8, 0.8, 1.5), orientation=orientation)
    (tumor,) = find_tumors(phantom.labels == TUMOR, phantom.affine)
    np.testing.assert_allclose(
        tumor.centroid_mm, phantom.metadata["tumors"][0]["centre_mm"], atol=0.3
    )
    np.testing.assert_allclose(np.linalg.norm(phantom.affine[:3, :3], axis=0), [0.8, 0.8, 1.5])
    # CT values follow the tissues.
    assert abs(np.median(phantom.ct[phantom.labels == LIVER]) - 60) < 5
    assert abs(np.median(phantom.ct[phantom.labels == TUMOR]) - 40) < 5
    assert np.median(phantom.ct[phantom.labels == 0]) == -1000


def test_ct_like_dome_phantom_leaves_the_body_unlabelled_with_tissue_on_the_ct():
    phantom = make_phantom("ct-like-dome")
    assert set(np.unique(phantom.labels)) == {0, 1, 2, 3}  # no "other" label: the body is label 0
    body = (phantom.labels == 0) & (phantom.ct > -500)
    assert body.sum() > 100_000  # most unlabelled voxels are tissue on the CT
    (tumor,) = find_tumors(phantom.labels == TUMOR, phantom.affine)
    assert tumor.max_diameter_mm == pytest.approx(22.0, abs=1.0)
    top_of_image = (phantom.affine @ [0, 0, phantom.labels.shape[2] - 0.5, 1])[2]
    assert top_of_image - (tumor.centroid_mm[2] + 11.0) < 10.0  # the image ends 9 mm above the tumor
    wall = [v for v in phantom.metadata["vessels"] if v["tree"] == "body-wall"]
    assert len(wall) == 1 and wall[0]["radius_mm"] == 3.0


def test_planner_phantoms_have_what_they_promise():
    """large-vessel-20mm: a 12 mm vessel about 3 mm from the tumor; dome-20mm: lung (forbidden) above."""
    from scipy import ndimage

    vessel_case = make_phantom("large-vessel-20mm")
    labels = vessel_case.labels
    distance = ndimage.distance_transform_edt(labels != VESSEL)
    gap = float(distance[labels == TUMOR].min())
    assert 2.0 <= gap <= 5.0
    dome = make_phantom("dome-20mm")
    forbidden = dome.labels == LABEL_CODES["forbidden"]
    assert forbidden.any() and not (forbidden & (dome.labels == LIVER)).any()
    tumor_z = np.nonzero(dome.labels == TUMOR)[2].max()
    assert np.nonzero(forbidden)[2].min() > tumor_z  # the lung lies above the tumor
