"""Reading segmentations: DICOM-SEG (highdicom), other grids, label conventions."""

from __future__ import annotations

import numpy as np
import pytest

from rfasim.assess.inputs import load_segmentation, on_image_grid
from rfasim.errors import LabelError
from rfasim.imaging import Volume, load_image

pydicom = pytest.importorskip("pydicom")
highdicom = pytest.importorskip("highdicom")


def _ct_series(folder, stored: np.ndarray, spacing_mm: float = 2.0):
    """A CT series (one file per slice, axial, LPS) of ``stored`` (columns, rows, slices)."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    folder.mkdir(parents=True)
    series, study, frame = generate_uid(), generate_uid(), generate_uid()
    datasets = []
    for k in range(stored.shape[2]):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = Dataset()
        ds.file_meta = meta
        ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
        ds.Modality = "CT"
        ds.PatientName, ds.PatientID, ds.PatientBirthDate, ds.PatientSex = "Phantom^Test", "P1", "", "O"
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study, series, frame
        ds.StudyDate = ds.StudyTime = ds.AccessionNumber = ds.ReferringPhysicianName = ""
        ds.StudyID, ds.SeriesNumber, ds.InstanceNumber = "1", 1, k + 1
        ds.Manufacturer = "rfasim"
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.ImagePositionPatient = [-30.0, -40.0, 10.0 + k * spacing_mm]
        ds.PixelSpacing = [spacing_mm, spacing_mm]
        ds.SliceThickness = spacing_mm
        ds.Rows, ds.Columns = stored.shape[1], stored.shape[0]
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated = ds.BitsStored = 16
        ds.HighBit, ds.PixelRepresentation = 15, 1
        ds.RescaleSlope, ds.RescaleIntercept = 1, 0
        ds.PixelData = np.ascontiguousarray(stored[:, :, k].T.astype(np.int16)).tobytes()
        ds.save_as(str(folder / f"CT{k:03d}.dcm"), enforce_file_format=True)
        datasets.append(pydicom.dcmread(str(folder / f"CT{k:03d}.dcm")))
    return datasets


def test_dicom_seg_is_read_in_world_space(tmp_path):
    shape = (16, 12, 10)
    ct = np.full(shape, 40, dtype=np.int16)
    mask = np.zeros(shape, dtype=bool)
    mask[4:9, 3:7, 2:6] = True
    sources = _ct_series(tmp_path / "ct", ct)
    description = highdicom.seg.SegmentDescription(
        segment_number=1,
        segment_label="ablation zone",
        segmented_property_category=highdicom.sr.CodedConcept("91723000", "SCT", "Anatomical Structure"),
        segmented_property_type=highdicom.sr.CodedConcept("108369006", "SCT", "Neoplasm"),
        algorithm_type=highdicom.seg.SegmentAlgorithmTypeValues.MANUAL,
    )
    # highdicom frames are (slices, rows, columns); rfasim arrays are (columns, rows, slices).
    segmentation = highdicom.seg.Segmentation(
        source_images=sources,
        pixel_array=np.ascontiguousarray(mask.transpose(2, 1, 0)).astype(np.uint8),
        segmentation_type=highdicom.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=[description],
        series_instance_uid=highdicom.UID(),
        series_number=2,
        sop_instance_uid=highdicom.UID(),
        instance_number=1,
        manufacturer="rfasim",
        manufacturer_model_name="tests",
        software_versions="0",
        device_serial_number="0",
    )
    segmentation.save_as(str(tmp_path / "zone.dcm"))
    image = load_image(tmp_path / "ct")
    read = load_segmentation(tmp_path / "zone.dcm")
    np.testing.assert_array_equal(on_image_grid(read, image) != 0, mask)
    # A folder holding the one SEG file is read the same way.
    (tmp_path / "seg").mkdir()
    (tmp_path / "zone.dcm").rename(tmp_path / "seg" / "zone.dcm")
    again = load_segmentation(tmp_path / "seg")
    np.testing.assert_array_equal(on_image_grid(again, image) != 0, mask)


def test_segmentation_on_another_grid_is_resampled_and_outside_is_refused():
    image = Volume(np.zeros((10, 10, 10), np.float32), np.diag([2.0, 2.0, 2.0, 1.0]))
    fine = np.zeros((20, 20, 20), np.uint8)
    fine[6:10, 6:10, 6:10] = 1
    segmentation = Volume(fine, np.diag([1.0, 1.0, 1.0, 1.0]) @ np.eye(4))
    codes = on_image_grid(segmentation, image)
    assert codes.shape == image.shape
    assert np.count_nonzero(codes) == 8  # 4 mm cube = 2x2x2 voxels of 2 mm
    outside_affine = np.eye(4)
    outside_affine[:3, 3] = 500.0
    with pytest.raises(LabelError, match="outside its image"):
        on_image_grid(Volume(fine, outside_affine), image)
