"""Writing a phantom case folder: files, a ready case.toml, atomic behaviour."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from rfasim.imaging import LabelMapping, check_same_space, find_tumors, load_ct, load_labels
from rfasim.phantoms import write_phantom

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


@pytest.mark.parametrize("name", ["liver-25mm", "two-tumors"])
def test_written_case_is_ready(tmp_path, name):
    paths = write_phantom(name, tmp_path / "case")
    assert sorted(p.name for p in (tmp_path / "case").iterdir()) == [
        "case.toml",
        "ct.nii.gz",
        "labels.nii.gz",
    ]
    case = tomllib.loads(paths["case"].read_text())
    labels = load_labels(paths["case"].parent / case["images"]["labels"])
    ct = load_ct(paths["case"].parent / case["images"]["ct"])
    check_same_space(labels, ct)
    mapping = LabelMapping.from_case(case["labels"])
    classes, warnings = mapping.to_tissue_classes(labels.data, source="labels.nii.gz")
    assert warnings == []

    assert case["target"] == {"tumor_id": 1}
    (probe,) = case["probes"]
    assert probe["model"] == "cooltip-17g-3cm"
    assert case["generator"] == {"mode": "impedance", "power_w": 200.0, "duration_s": 720.0}
    assert case["zone"] == {"criterion": "isotherm", "threshold_c": 100.0}
    assert case["grid"] == {"spacing_mm": 1.0, "margin_mm": 20.0}
    assert case["margin"] == {"target_mm": 5.0}

    # The 3 cm active tip is centred on tumor 1: tip = centroid + 15 mm along the insertion.
    target = find_tumors(classes == 2, labels.affine)[0]
    tip, entry = np.asarray(probe["tip_mm"]), np.asarray(probe["entry_mm"])
    direction = (tip - entry) / np.linalg.norm(tip - entry)
    np.testing.assert_allclose(tip - 15.0 * direction, target.centroid_mm, atol=0.3)
    # The entry is inside the image, on the skin, outside the liver.
    entry_index = np.rint(labels.world_to_index(entry)).astype(int)
    assert np.all(entry_index >= 0) and np.all(entry_index < np.asarray(labels.shape))
    assert labels.data[tuple(entry_index)] in (0, 4)


def test_write_failure_leaves_nothing(tmp_path, monkeypatch):
    import rfasim.imaging.io as image_io

    calls = []

    def failing_save(path, data, affine):
        calls.append(path)
        if len(calls) == 2:
            raise OSError("disk full")
        return original(path, data, affine)

    original = image_io.save_nifti
    monkeypatch.setattr(image_io, "save_nifti", failing_save)
    with pytest.raises(OSError, match="disk full"):
        write_phantom("liver-25mm", tmp_path / "out")
    assert not (tmp_path / "out").exists()

    existing = tmp_path / "existing"
    existing.mkdir()
    (existing / "notes.txt").write_text("mine")
    calls.clear()
    with pytest.raises(OSError, match="disk full"):
        write_phantom("liver-25mm", existing)
    assert [p.name for p in existing.iterdir()] == ["notes.txt"]


def test_output_must_be_a_folder(tmp_path):
    from rfasim.errors import InputError

    (tmp_path / "file").write_text("x")
    with pytest.raises(InputError, match="must be a folder"):
        write_phantom("liver-25mm", tmp_path / "file")
