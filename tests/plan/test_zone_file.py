"""zone.nii.gz, metrics.json and a threshold of temperature_max.nii.gz agree (issue 15, point 4)."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest
from skimage.measure import marching_cubes, mesh_surface_area

from rfasim.cli import main


@pytest.mark.parametrize("criterion", ["isotherm", "arrhenius"])
def test_what_slicer_measures_from_the_files_agrees_with_the_report(small_case, tmp_path, criterion):
    case = small_case("liver-25mm", orientation="oblique", spacing_mm=(1.5, 1.5, 2.0))
    text = case.read_text()
    if criterion == "arrhenius":
        text = text.replace('criterion = "isotherm"\nthreshold_c = 100.0', 'criterion = "arrhenius"')
    case.write_text(text)
    out = tmp_path / "plan"
    assert main(["plan", str(case), "--out", str(out), "--quiet"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    zone_image = nib.load(out / "zone.nii.gz")
    zone = np.asarray(zone_image.dataobj) > 0
    voxel_ml = abs(np.linalg.det(zone_image.affine[:3, :3])) * 1e-3
    if criterion == "isotherm":
        field = np.asarray(nib.load(out / "temperature_max.nii.gz").dataobj)
        threshold = metrics["zone"]["threshold_c"]
    else:
        field = np.asarray(nib.load(out / "damage.nii.gz").dataobj)
        threshold = 1.0
    # the zone file is exactly the written field thresholded at the criterion
    np.testing.assert_array_equal(zone, field >= np.float32(threshold))
    file_ml = zone.sum() * voxel_ml
    assert metrics["zone"]["zone_file_volume_ml"] == pytest.approx(file_ml, abs=1e-3)
    # ... and it agrees with the reported (sub-voxel) volume within one layer of voxels
    spacing = np.linalg.norm(zone_image.affine[:3, :3], axis=0)
    vertices, faces, _, _ = marching_cubes(np.pad(zone, 1).astype(np.float32), 0.5, spacing=tuple(spacing))
    layer_ml = mesh_surface_area(vertices, faces) * max(spacing.max(), metrics["run"]["spacing_mm"]) * 1e-3
    assert abs(file_ml - metrics["zone"]["volume_ml"]) < layer_ml
