"""A sweep resumed after its images changed must not mix rows of both images (issue 15, point 7)."""

from __future__ import annotations

import shutil

import nibabel as nib
import numpy as np
import pytest

from rfasim.errors import InputError
from rfasim.sweep import load_sweep, run_sweep

SWEEP = '[sweep]\ncase = "case/case.toml"\ndesign = "list"\n\n[[parameter]]\npath = "generator.duration_s"\nvalues = [10.0]\n'


def test_resume_after_the_labels_image_changed_is_refused(tiny_case, dask_client, tmp_path):
    shutil.copytree(tiny_case.parent, tmp_path / "case")
    sweep = tmp_path / "sweep.toml"
    sweep.write_text(SWEEP)
    out = tmp_path / "out"
    first = run_sweep(load_sweep(sweep), out, client=dask_client, progress=False, plots=False)
    assert first.executed == 1
    again = run_sweep(load_sweep(sweep), out, client=dask_client, progress=False, plots=False)
    assert (again.executed, again.skipped) == (0, 1)  # same images: resumed
    labels_path = tmp_path / "case" / "labels.nii.gz"
    image = nib.load(labels_path)
    data = np.asarray(image.dataobj).copy()
    data[data == 2] = 1  # a corrected segmentation: here, no tumor at all
    data[tuple(np.asarray(data.shape) // 2)] = 2
    nib.save(nib.Nifti1Image(data, image.affine), labels_path)
    with pytest.raises(InputError, match=r"another version of the image .*labels\.nii\.gz"):
        run_sweep(load_sweep(sweep), out, client=dask_client, progress=False, plots=False)
