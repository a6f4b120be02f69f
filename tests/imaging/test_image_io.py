"""Reading and writing NIfTI images; every bad input gives an ImageError naming the file."""

from __future__ import annotations

import gzip

import nibabel as nib
import numpy as np
import pytest
from imaging_helpers import centred_affine

from rfasim.errors import ImageError, LabelError
from rfasim.imaging import (
    Volume,
    check_same_space,
    load_ct,
    load_image,
    load_labels,
    save_nifti,
)


@pytest.mark.parametrize("spacing", [(1.0, 1.0, 1.0), (0.8, 0.8, 1.5)])
def test_nifti_round_trip_keeps_orientation_and_spacing(tmp_path, orientation, spacing):
    shape = (7, 6, 5)
    affine = centred_affine(spacing, orientation, shape)
    data = np.arange(np.prod(shape), dtype=np.int16).reshape(shape)
    path = save_nifti(tmp_path / "image.nii.gz", data, affine)
    volume = load_image(path)
    np.testing.assert_array_equal(volume.data, data)
    np.testing.assert_allclose(volume.affine, affine, atol=1e-4)
    np.testing.assert_allclose(volume.spacing_mm, spacing, atol=1e-5)
    # A voxel's world position is the same through the loaded affine.
    np.testing.assert_allclose(
        volume.index_to_world([2, 3, 4]), (affine @ [2, 3, 4, 1])[:3], atol=1e-4
    )
    assert volume.source == path
    assert [p.name for p in tmp_path.iterdir()] == ["image.nii.gz"]  # no temporary left


def test_uncompressed_nifti_and_singleton_fourth_axis(tmp_path):
    data = np.ones((4, 4, 3, 1), dtype=np.uint8)
    nib.save(nib.Nifti1Image(data, np.eye(4)), str(tmp_path / "labels.nii"))
    volume = load_labels(tmp_path / "labels.nii")
    assert volume.shape == (4, 4, 3)


def test_true_four_dimensional_image_is_refused(tmp_path):
    nib.save(
        nib.Nifti1Image(np.ones((4, 4, 3, 2), dtype=np.uint8), np.eye(4)),
        str(tmp_path / "movie.nii.gz"),
    )
    with pytest.raises(ImageError, match=r"movie\.nii\.gz.*3D"):
        load_image(tmp_path / "movie.nii.gz")


def test_missing_file(tmp_path):
    with pytest.raises(ImageError, match=r"absent\.nii\.gz.*not found"):
        load_image(tmp_path / "absent.nii.gz")


def test_not_nifti_nor_dicom(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("hello")
    with pytest.raises(ImageError, match=r"notes\.txt.*not a NIfTI"):
        load_image(path)


def test_single_dicom_file_asks_for_the_folder(tmp_path):
    path = tmp_path / "slice.dcm"
    path.write_bytes(b"\0" * 128 + b"DICM" + b"\0" * 64)
    with pytest.raises(ImageError, match=r"slice\.dcm.*folder"):
        load_image(path)


def test_truncated_gzip_nifti(tmp_path):
    good = save_nifti(
        tmp_path / "ct.nii.gz",
        np.random.default_rng(0).normal(size=(20, 20, 20)).astype(np.float32),
        np.eye(4),
    )
    raw = good.read_bytes()
    broken = tmp_path / "broken.nii.gz"
    broken.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ImageError, match=r"broken\.nii\.gz.*cannot read"):
        load_image(broken)


def test_truncated_uncompressed_nifti(tmp_path):
    path = tmp_path / "short.nii"
    nib.save(nib.Nifti1Image(np.zeros((10, 10, 10), dtype=np.float32), np.eye(4)), str(path))
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(ImageError, match=r"short\.nii"):
        load_image(path)


def test_garbage_with_nifti_suffix(tmp_path):
    path = tmp_path / "garbage.nii.gz"
    path.write_bytes(gzip.compress(b"this is not an image" * 30))
    with pytest.raises(ImageError, match=r"garbage\.nii\.gz"):
        load_image(path)


def test_nan_voxels_in_ct(tmp_path):
    data = np.zeros((5, 5, 5), dtype=np.float32)
    data[2, 2, 2] = np.nan
    path = save_nifti(tmp_path / "ct.nii.gz", data, np.eye(4))
    with pytest.raises(ImageError, match=r"ct\.nii\.gz: 1 CT voxels are NaN"):
        load_ct(path)


def test_float_labels_with_integral_values_become_integers(tmp_path):
    data = np.zeros((5, 5, 5), dtype=np.float32)
    data[1:3, 1:3, 1:3] = 2.0
    volume = load_labels(save_nifti(tmp_path / "labels.nii.gz", data, np.eye(4)))
    assert np.issubdtype(volume.data.dtype, np.integer)
    assert set(np.unique(volume.data).tolist()) == {0, 2}


def test_float_labels_with_fractions_are_refused(tmp_path):
    data = np.zeros((5, 5, 5), dtype=np.float32)
    data[1, 1, 1] = 1.5
    path = save_nifti(tmp_path / "labels.nii.gz", data, np.eye(4))
    with pytest.raises(LabelError, match=r"labels\.nii\.gz.*non-integer values \(e\.g\. 1\.5"):
        load_labels(path)


def test_same_space_accepts_rounding_and_refuses_real_offsets():
    affine = centred_affine((0.8, 0.8, 1.5), "oblique", (6, 6, 6))
    labels = Volume(np.zeros((6, 6, 6), dtype=np.uint8), affine)
    nearly = affine.copy()
    nearly[0, 3] += 1e-5
    check_same_space(labels, Volume(np.zeros((6, 6, 6)), nearly))
    shifted = affine.copy()
    shifted[1, 3] += 0.01
    with pytest.raises(ImageError, match="affine differs"):
        check_same_space(labels, Volume(np.zeros((6, 6, 6)), shifted, None))
    with pytest.raises(ImageError, match=r"shape \(6, 6, 5\) differs"):
        check_same_space(labels, Volume(np.zeros((6, 6, 5)), affine))


def test_ct_and_labels_with_different_grids_name_the_file(tmp_path):
    ct = load_ct(save_nifti(tmp_path / "ct.nii.gz", np.zeros((6, 6, 6), dtype=np.int16), np.eye(4)))
    scaled = np.diag([1.0, 1.0, 1.01, 1.0])
    labels = load_labels(
        save_nifti(tmp_path / "labels.nii.gz", np.zeros((6, 6, 6), dtype=np.uint8), scaled)
    )
    with pytest.raises(ImageError, match=r"labels\.nii\.gz: affine differs from .*ct\.nii\.gz"):
        check_same_space(ct, labels)


def test_save_nifti_refuses_other_suffixes(tmp_path):
    with pytest.raises(ImageError, match=r"out\.mha"):
        save_nifti(tmp_path / "out.mha", np.zeros((3, 3, 3)), np.eye(4))


def test_save_nifti_stores_booleans_as_uint8(tmp_path):
    mask = np.zeros((4, 4, 4), dtype=bool)
    mask[1, 2, 3] = True
    volume = load_labels(save_nifti(tmp_path / "zone.nii.gz", mask, np.eye(4)))
    assert volume.data.dtype == np.uint8
    assert volume.data[1, 2, 3] == 1
    assert volume.data.sum() == 1
