"""DICOM series: slices ordered by position (not file names), affine from the headers, LPS->RAS."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from imaging_helpers import rotation

from rfasim.errors import ImageError
from rfasim.imaging import load_ct, load_image, load_labels

pydicom = pytest.importorskip("pydicom")
from pydicom.dataset import Dataset, FileMetaDataset  # noqa: E402
from pydicom.uid import ExplicitVRLittleEndian, generate_uid  # noqa: E402


def write_series(
    folder,
    stored: np.ndarray,
    row_direction,
    column_direction,
    pixel_spacing,
    slice_gap_mm: float,
    first_position_lps,
    slope: float = 1.0,
    intercept: float = 0.0,
    shuffle_seed: int = 0,
    series_uid: str | None = None,
) -> None:
    """Write ``stored`` (shape columns, rows, slices) as one DICOM file per slice, shuffled names."""
    folder.mkdir(parents=True, exist_ok=True)
    normal = np.cross(row_direction, column_direction)
    series_uid = series_uid or generate_uid()
    order = np.random.default_rng(shuffle_seed).permutation(stored.shape[2])
    for k in range(stored.shape[2]):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        dataset = Dataset()
        dataset.file_meta = meta
        dataset.SOPClassUID = meta.MediaStorageSOPClassUID
        dataset.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
        dataset.Modality = "CT"
        dataset.SeriesInstanceUID = series_uid
        dataset.InstanceNumber = int(stored.shape[2] - k)  # reversed on purpose
        dataset.ImageOrientationPatient = [f"{v:.6f}" for v in (*row_direction, *column_direction)]
        position = np.asarray(first_position_lps) + k * slice_gap_mm * normal
        dataset.ImagePositionPatient = [f"{v:.4f}" for v in position]
        dataset.PixelSpacing = [f"{pixel_spacing[0]:g}", f"{pixel_spacing[1]:g}"]
        dataset.SliceThickness = f"{slice_gap_mm:g}"
        dataset.Rows, dataset.Columns = stored.shape[1], stored.shape[0]
        dataset.SamplesPerPixel = 1
        dataset.PhotometricInterpretation = "MONOCHROME2"
        dataset.BitsAllocated = 16
        dataset.BitsStored = 16
        dataset.HighBit = 15
        dataset.PixelRepresentation = 1
        dataset.RescaleSlope = f"{slope:g}"
        dataset.RescaleIntercept = f"{intercept:g}"
        dataset.PixelData = np.ascontiguousarray(stored[:, :, k].T.astype(np.int16)).tobytes()
        # File names in a random order that does not follow the slices.
        dataset.save_as(str(folder / f"IM{order[k]:04d}"), enforce_file_format=True)
    (folder / "README.txt").write_text("not a DICOM file: skipped")


def expected_affine_ras(
    row_direction, column_direction, pixel_spacing, slice_gap_mm, first_position_lps
):
    normal = np.cross(row_direction, column_direction)
    affine = np.eye(4)
    affine[:3, 0] = np.asarray(row_direction) * pixel_spacing[1]
    affine[:3, 1] = np.asarray(column_direction) * pixel_spacing[0]
    affine[:3, 2] = normal * slice_gap_mm
    affine[:3, 3] = first_position_lps
    return np.diag([-1.0, -1.0, 1.0, 1.0]) @ affine


OBLIQUE = rotation("x", 20.0) @ rotation("y", -10.0)


@pytest.mark.parametrize(
    ("row_direction", "column_direction"),
    [((1.0, 0.0, 0.0), (0.0, 1.0, 0.0)), (tuple(OBLIQUE[:, 0]), tuple(OBLIQUE[:, 1]))],
    ids=["axial", "oblique"],
)
def test_ct_series_round_trip(tmp_path, row_direction, column_direction):
    rng = np.random.default_rng(1)
    stored = rng.integers(0, 2000, size=(6, 5, 7)).astype(np.int16)
    spacing = (0.7, 0.9)  # between rows, between columns
    gap = 2.5
    first = (-100.0, 40.0, 250.0)
    write_series(
        tmp_path / "ct", stored, row_direction, column_direction, spacing, gap, first, 1.0, -1024.0
    )
    volume = load_ct(tmp_path / "ct")
    np.testing.assert_allclose(volume.data, stored.astype(np.float32) - 1024.0)
    expected = expected_affine_ras(row_direction, column_direction, spacing, gap, first)
    np.testing.assert_allclose(volume.affine, expected, atol=1e-3)
    # Voxel (i, j, k) = (column, row, slice) sits at the DICOM position of that pixel, in RAS.
    i, j, k = 4, 2, 5
    normal = np.cross(row_direction, column_direction)
    lps = (
        np.asarray(first)
        + k * gap * normal
        + i * spacing[1] * np.asarray(row_direction)
        + j * spacing[0] * np.asarray(column_direction)
    )
    np.testing.assert_allclose(volume.index_to_world([i, j, k]), lps * [-1, -1, 1], atol=1e-3)


def test_mask_series_stays_integer(tmp_path):
    stored = np.zeros((5, 5, 4), dtype=np.int16)
    stored[1:3, 1:4, 1:3] = 2
    write_series(tmp_path / "mask", stored, (1, 0, 0), (0, 1, 0), (1.0, 1.0), 1.0, (0.0, 0.0, 0.0))
    volume = load_labels(tmp_path / "mask")
    assert np.issubdtype(volume.data.dtype, np.integer)
    np.testing.assert_array_equal(volume.data, stored)


def test_empty_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ImageError, match=r"empty: no DICOM image files"):
        load_image(tmp_path / "empty")


def test_two_series_in_one_folder(tmp_path):
    stored = np.zeros((4, 4, 3), dtype=np.int16)
    write_series(
        tmp_path / "mixed", stored, (1, 0, 0), (0, 1, 0), (1.0, 1.0), 1.0, (0, 0, 0), shuffle_seed=1
    )
    for path in (tmp_path / "mixed").glob("IM*"):
        path.rename(path.with_name("A" + path.name))
    write_series(
        tmp_path / "mixed",
        stored,
        (1, 0, 0),
        (0, 1, 0),
        (1.0, 1.0),
        1.0,
        (0, 0, 50),
        shuffle_seed=2,
    )
    with pytest.raises(ImageError, match=r"mixed: holds 2 DICOM series"):
        load_image(tmp_path / "mixed")


def test_missing_slice_is_detected(tmp_path):
    stored = np.zeros((4, 4, 5), dtype=np.int16)
    folder = tmp_path / "gap"
    write_series(folder, stored, (1, 0, 0), (0, 1, 0), (1.0, 1.0), 1.0, (0, 0, 0))
    files = sorted(
        folder.glob("IM*"), key=lambda p: float(pydicom.dcmread(str(p)).ImagePositionPatient[2])
    )
    files[2].unlink()
    with pytest.raises(ImageError, match=r"gap: slices are unevenly spaced"):
        load_image(folder)


def test_duplicate_slice_position(tmp_path):
    stored = np.zeros((4, 4, 3), dtype=np.int16)
    folder = tmp_path / "dup"
    write_series(folder, stored, (1, 0, 0), (0, 1, 0), (1.0, 1.0), 0.0, (0, 0, 0))
    with pytest.raises(ImageError, match="share one position"):
        load_image(folder)


def test_without_pydicom(tmp_path, monkeypatch):
    (tmp_path / "series").mkdir()
    monkeypatch.setitem(sys.modules, "pydicom", None)
    with pytest.raises(ImageError, match=r"series: reading DICOM needs pydicom"):
        load_image(tmp_path / "series")
