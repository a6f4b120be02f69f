"""Unlabelled body tissue is tissue, not insulating air (issue 15, point 1)."""

from __future__ import annotations

import numpy as np
import pytest

from rfasim.grid import Grid
from rfasim.imaging.body import body_mask_on_grid, classify_hu, classify_unlabelled
from rfasim.imaging.io import Volume
from rfasim.tissue import TissueClass, TissueModel


def test_hounsfield_bands_give_air_lung_fat_soft_tissue_bone():
    hu = np.array([-1000, -960, -900, -700, -200, -100, -40, 0, 60, 150, 350, 700, 1500], np.float32)
    expected = [TissueClass.BACKGROUND, TissueClass.BACKGROUND, TissueClass.LUNG, TissueClass.LUNG, TissueClass.LUNG,
                TissueClass.FAT, TissueClass.FAT, TissueClass.OTHER, TissueClass.OTHER, TissueClass.OTHER,
                TissueClass.OTHER, TissueClass.BONE, TissueClass.BONE]
    assert classify_hu(hu).tolist() == [int(c) for c in expected]


def test_each_new_class_has_its_own_physical_properties():
    model = TissueModel()
    fat, lung, bone, soft = (model.classes[c] for c in (TissueClass.FAT, TissueClass.LUNG, TissueClass.BONE,
                                                         TissueClass.OTHER))
    assert fat.thermal_conductivity_w_per_m_k < soft.thermal_conductivity_w_per_m_k
    assert fat.electrical_conductivity_s_per_m < 0.1 * soft.electrical_conductivity_s_per_m
    assert lung.density_kg_per_m3 < 0.5 * soft.density_kg_per_m3
    assert bone.density_kg_per_m3 > 1.5 * soft.density_kg_per_m3
    assert bone.electrical_conductivity_s_per_m < 0.1 * soft.electrical_conductivity_s_per_m
    assert model.classes[TissueClass.BACKGROUND].electrical_conductivity_s_per_m == 0.0


@pytest.fixture
def torso():
    """A 2 mm CT: air around a body (soft tissue, a fat layer, a lung cavity, a rib), a table below."""
    shape = (50, 50, 40)
    affine = np.diag([2.0, 2.0, 2.0, 1.0])
    affine[:3, 3] = (-50.0, -50.0, -40.0)
    grid = Grid(shape=shape, spacing_mm=2.0, origin_mm=(-50.0, -50.0, -40.0))
    x, y, z = (np.broadcast_to(a, shape) for a in grid.voxel_centers_mm())
    hu = np.full(shape, -1000.0, np.float32)
    body = x**2 + y**2 <= 40**2
    hu[body] = 40.0
    hu[body & (x**2 + y**2 > 36**2)] = -100.0  # subcutaneous fat
    hu[(x + 10) ** 2 + y**2 + z**2 <= 12**2] = -850.0  # a lung base inside the body
    hu[(np.abs(x - 32) < 3) & (np.abs(y) < 10)] = 900.0  # a rib
    hu[(y < -44) & (y > -48)] = 50.0  # the scanner table, outside the body
    classes = np.zeros(shape, np.uint8)
    classes[(x - 10) ** 2 + y**2 <= 15**2] = TissueClass.LIVER  # the only labelled organ
    return grid, Volume(hu, affine, None), hu, classes


def test_unlabelled_body_voxels_take_their_class_from_the_ct(torso):
    grid, ct, hu, classes = torso
    found = classify_unlabelled(classes, grid, ct, hu)
    x, y, _ = (np.broadcast_to(a, grid.shape) for a in grid.voxel_centers_mm())
    assert found.ct_used
    assert not found.warnings
    assert found.classes[25, 5, 20] == TissueClass.FAT  # x = 0, y = -40 + ... fat ring
    index = grid.world_to_index(np.array([-30.0, 0.0, 0.0])).astype(int)
    assert found.classes[tuple(index)] == TissueClass.OTHER  # soft tissue
    assert found.classes[tuple(grid.world_to_index(np.array([-10.0, 0.0, 0.0])).astype(int))] == TissueClass.LUNG
    assert found.classes[tuple(grid.world_to_index(np.array([32.0, 0.0, 0.0])).astype(int))] == TissueClass.BONE
    # labelled voxels keep their class; air and the table outside the body stay background
    assert np.all(found.classes[classes == TissueClass.LIVER] == TissueClass.LIVER)
    table = (y < -44) & (y > -48) & (x**2 + y**2 > 41**2)
    assert np.all(found.classes[table] == TissueClass.BACKGROUND)
    assert found.classes[0, 0, 0] == TissueClass.BACKGROUND
    assert set(found.volumes_ml) >= {"soft tissue", "fat", "lung", "bone", "outside body"}
    assert body_mask_on_grid(ct, grid)[tuple(grid.world_to_index(np.array([-10.0, 0.0, 0.0])).astype(int))]


def test_without_a_ct_the_assumption_is_a_warning(torso):
    grid, _, _, classes = torso
    found = classify_unlabelled(classes, grid, None, None, source="labels.nii.gz")
    (warning,) = found.warnings
    assert "no CT given" in warning
    assert "insulating air" in warning
    assert "other = [0]" in warning
    assert np.array_equal(found.classes, classes)


def test_heat_and_current_enter_unlabelled_soft_tissue(torso):
    """The physical point: next to a heated liver, soft tissue warms; 'air' stays at exactly 37 degC."""
    from rfasim.generators import ConstantPower
    from rfasim.solver import simulate
    from rfasim.sources import ElectrodeRaster

    grid = Grid.centered(30.0, 2.0)
    x, y, z = grid.voxel_centers_mm()
    shape = grid.shape
    material = np.full(shape, TissueClass.LIVER, np.uint8)
    outside = np.broadcast_to(x > 6.0, shape)  # unlabelled beyond x = 6 mm
    ball = ElectrodeRaster.from_mask("ball", np.broadcast_to((x**2 + y**2 + z**2) <= 9.0, shape))
    peaks = {}
    for name, tissue_class in (("air", TissueClass.BACKGROUND), ("soft tissue", TissueClass.OTHER)):
        material[outside] = tissue_class
        result = simulate(grid, material, ConstantPower(power_w=5.0, duration_s=30.0), [ball])
        peaks[name] = result.peak_temperature_c[outside & np.broadcast_to(x < 12.0, shape)].max()
    assert peaks["air"] == pytest.approx(37.0, abs=1e-9)
    assert peaks["soft tissue"] > 38.0


def test_the_plan_classifies_the_unlabelled_tissue_of_a_ct_like_phantom(tmp_path):
    from rfasim.case import load_case
    from rfasim.imaging import load_labels, resample_labels
    from rfasim.phantoms import write_phantom
    from rfasim.plan.pipeline import run_case

    paths = write_phantom("ct-like-dome", tmp_path / "case")
    case = paths["case"]
    case.write_text(case.read_text().replace("spacing_mm = 1.0", "spacing_mm = 3.0")
                    .replace("duration_s = 720.0", "duration_s = 20.0").replace("margin_mm = 20.0", "margin_mm = 10.0"))
    plan = run_case(load_case(case), progress=False)
    labels = resample_labels(load_labels(paths["labels"]), plan.grid)
    unlabelled = labels == 0
    assert unlabelled.any()
    soft = plan.tissue_classes[unlabelled] == TissueClass.OTHER
    assert soft.mean() > 0.5  # most unlabelled voxels in the box are body tissue on the CT
    assert plan.metrics["unlabelled_tissue"]["ct_used"] is True
    assert plan.metrics["unlabelled_tissue"]["volumes_ml"]["soft tissue"] > 1.0
    # the same case without its CT: the assumption is said
    case.write_text(case.read_text().replace('ct = "ct.nii.gz"\n', ""))
    plan = run_case(load_case(case), progress=False)
    assert any("no CT given" in w for w in plan.metrics["warnings"])
    assert np.all(plan.tissue_classes[unlabelled] == TissueClass.BACKGROUND)
