"""The whole needle path on the full label map (issue 15, point 3)."""

from __future__ import annotations

import numpy as np
import pytest

from rfasim.grid import Grid
from rfasim.probes import ProbePlacement
from rfasim.probes.path_check import check_needle_paths
from rfasim.tissue import TissueClass


def image(shape, spacing, rotation=None, origin=(0.0, 0.0, 0.0)):
    """An affine with the given spacing (and rotation), and the world mm of every voxel centre."""
    affine = np.eye(4)
    matrix = np.diag(spacing) if rotation is None else rotation @ np.diag(spacing)
    affine[:3, :3] = matrix
    affine[:3, 3] = origin
    index = np.indices(shape).reshape(3, -1).T
    world = index @ matrix.T + np.asarray(origin)
    return affine, world.reshape(*shape, 3)


def rotation_about_z(degrees: float) -> np.ndarray:
    angle = np.deg2rad(degrees)
    return np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]])


@pytest.mark.parametrize("diameter_mm", [4.0, 8.0, 20.0])
@pytest.mark.parametrize(("spacing", "rotation"), [((1.0, 1.0, 1.0), None), ((0.8, 0.8, 2.5), None),
                                                   ((1.0, 1.0, 1.5), rotation_about_z(30.0))])
def test_vessel_calibre_at_the_crossing(diameter_mm, spacing, rotation):
    shape = tuple(int(round(80 / s)) for s in spacing)
    affine, world = image(shape, spacing, rotation, origin=(-40.0, -40.0, -40.0) if rotation is None else (0, -60, -40))
    x, y, z = np.moveaxis(world, -1, 0)
    centre = world.reshape(-1, 3).mean(axis=0)
    classes = np.full(shape, TissueClass.OTHER, np.uint8)
    # a vessel along y (world), crossing the vertical needle path
    classes[(x - centre[0]) ** 2 + (z - centre[2]) ** 2 <= (diameter_mm / 2) ** 2] = TissueClass.VESSEL
    probe = ProbePlacement("cooltip-17g-2cm", tip_mm=centre - [0, 0, 25], entry_mm=centre + [0, 0, 30])
    (path,) = check_needle_paths([probe], classes, affine)
    (crossing,) = path.vessel_crossings
    assert crossing.calibre_mm == pytest.approx(diameter_mm, abs=max(spacing))  # within a voxel
    assert crossing.length_mm == pytest.approx(diameter_mm, abs=2.0 * max(spacing))
    assert crossing.point_mm[2] == pytest.approx(centre[2] + diameter_mm / 2, abs=max(spacing))
    size = "large" if diameter_mm >= 3 else "small"
    assert any(f"crosses a {size} vessel" in w for w in path.warnings)


@pytest.fixture
def abdomen():
    """1 mm image: liver slab z in [0, 40), a 20 mm aorta at z = 60 outside it, body above."""
    shape = (60, 60, 100)
    affine, world = image(shape, (1.0, 1.0, 1.0), origin=(-30.0, -30.0, -20.0))
    x, y, z = np.moveaxis(world, -1, 0)
    classes = np.full(shape, TissueClass.OTHER, np.uint8)
    classes[(z >= 0) & (z < 40)] = TissueClass.LIVER
    classes[x**2 + (z - 60) ** 2 <= 10**2] = TissueClass.VESSEL  # along y, far above the liver
    target = x**2 + y**2 + (z - 15) ** 2 <= 6**2
    classes[target] = TissueClass.TUMOR
    return affine, world, classes


def test_a_vessel_far_outside_the_simulation_box_is_found(abdomen):
    affine, _, classes = abdomen
    grid = Grid(shape=(21, 21, 21), spacing_mm=1.0, origin_mm=(-10.0, -10.0, 5.0))  # 20 mm box around the tumor
    probe = ProbePlacement("cooltip-17g-2cm", tip_mm=[0, 0, 10], entry_mm=[0, 0, 78])
    (path,) = check_needle_paths([probe], classes, affine, grid=grid)
    (crossing,) = path.vessel_crossings
    assert crossing.inside_simulated_region is False
    assert crossing.calibre_mm == pytest.approx(20.0, abs=2.0)
    assert any("large vessel (20" in w or "large vessel (19" in w or "large vessel (21" in w for w in path.warnings)
    assert any("outside the simulated region" in w for w in path.warnings)
    assert path.liver_entries == 1  # the aorta beside the liver is not a second entry
    assert path.as_dict()["vessel_crossings"][0]["inside_simulated_region"] is False
    # the box-only check of the plan sees nothing
    from rfasim.imaging import resample_labels
    from rfasim.imaging.io import Volume
    from rfasim.probes import check_trajectories

    box = resample_labels(Volume(classes, affine, None), grid)
    assert not check_trajectories([probe], box, grid).probes[0].vessel_crossings_mm


def test_capsule_crossings_ignore_one_voxel_gaps_but_count_a_fissure(abdomen):
    affine, world, classes = abdomen
    x, y, z = np.moveaxis(world, -1, 0)
    probe = ProbePlacement("cooltip-17g-2cm", tip_mm=[5, 5, 10], entry_mm=[5, 5, 48])
    holed = classes.copy()
    holed[(np.abs(x - 5) < 0.5) & (np.abs(y - 5) < 0.5) & (np.abs(z - 30) < 0.5)] = TissueClass.BACKGROUND
    (path,) = check_needle_paths([probe], holed, affine)
    assert path.liver_entries == 1 and not path.warnings  # a one-voxel label gap on the path
    fissure = classes.copy()
    fissure[(z >= 25) & (z < 29)] = TissueClass.OTHER
    (path,) = check_needle_paths([probe], fissure, affine)
    assert path.liver_entries == 2
    assert any("liver capsule 2 times" in w for w in path.warnings)
    inner = classes.copy()
    inner[(x - 5) ** 2 + (z - 30) ** 2 <= 3**2] = TissueClass.VESSEL  # a portal branch inside the liver
    (path,) = check_needle_paths([probe], inner, affine)
    assert path.liver_entries == 1 and len(path.vessel_crossings) == 1


def test_other_tumors_and_forbidden_structures_on_the_path(abdomen):
    affine, world, classes = abdomen
    x, y, z = np.moveaxis(world, -1, 0)
    classes = classes.copy()
    labels = np.ones(classes.shape, np.int16)
    second = x**2 + y**2 + (z - 32) ** 2 <= 4**2
    classes[second] = TissueClass.TUMOR
    forbidden = (np.abs(x) < 5) & (np.abs(y) < 5) & (z >= 44) & (z < 47)
    classes[forbidden] = TissueClass.FORBIDDEN
    labels[forbidden] = 6
    from rfasim.imaging import find_tumors
    from rfasim.probes.path_check import tumor_id_map

    tumors = find_tumors(classes == TissueClass.TUMOR, affine)
    ids = tumor_id_map(tumors, classes.shape)
    target = next(t for t in tumors if t.contains_mm([0, 0, 15]))
    probe = ProbePlacement("cooltip-17g-2cm", tip_mm=[0, 0, 10], entry_mm=[0, 0, 49])
    (path,) = check_needle_paths([probe], classes, affine, labels=labels, tumor_ids=ids, target_id=target.id)
    (other,) = path.other_tumor_crossings
    assert other.tumor_id != target.id and other.point_mm[2] == pytest.approx(36.0, abs=1.0)
    (wall,) = path.forbidden_crossings
    assert wall.label_code == 6 and wall.point_mm[2] == pytest.approx(46.5, abs=1.0)
    assert any(f"passes through tumor {other.tumor_id}" in w for w in path.warnings)
    assert any("forbidden structure (label 6)" in w for w in path.warnings)
    assert path.liver_entries == 1


def test_a_direction_only_probe_is_followed_back_to_the_image_edge(abdomen):
    affine, _, classes = abdomen
    probe = ProbePlacement("cooltip-17g-2cm", tip_mm=[0, 0, 10], direction=[0, 0, -1])
    (path,) = check_needle_paths([probe], classes, affine)
    assert path.entry_given is False
    assert path.entry_mm[2] == pytest.approx(79.5, abs=0.01)  # the image's upper face
    assert len(path.vessel_crossings) == 1


def test_with_a_ct_unlabelled_ribs_and_lung_on_the_path_are_reported(abdomen):
    affine, world, classes = abdomen
    x, y, z = np.moveaxis(world, -1, 0)
    hu = np.full(classes.shape, 40.0, np.float32)
    hu[(z >= 44) & (z < 50)] = -800.0  # a lung base between the aorta and the liver (unlabelled)
    hu[(z >= 70) & (z < 74)] = 900.0  # a rib
    hu[(z >= 42) & (z < 43)] = 900.0  # one voxel: a partial volume, not a crossing
    labelled_bone = classes.copy()
    labelled_bone[classes == TissueClass.OTHER] = TissueClass.BACKGROUND  # unlabelled body
    probe = ProbePlacement("cooltip-17g-2cm", tip_mm=[8, 8, 10], entry_mm=[8, 8, 78])
    (path,) = check_needle_paths([probe], labelled_bone, affine, ct_hu=hu)
    (rib,) = path.bone_crossings
    (lung,) = path.lung_crossings
    assert rib.point_mm[2] == pytest.approx(73.5, abs=1.0) and lung.point_mm[2] == pytest.approx(49.5, abs=1.0)
    assert any("crosses bone" in w for w in path.warnings) and any("pneumothorax" in w for w in path.warnings)
    (labelled,) = check_needle_paths([probe], classes, affine, ct_hu=hu)  # labelled voxels keep their label
    assert not labelled.bone_crossings and not labelled.lung_crossings
