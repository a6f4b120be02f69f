"""Label codes to tissue classes: presets, case-file tables, unmapped codes, empty tumor."""

from __future__ import annotations

import numpy as np
import pytest

from rfasim.errors import CaseFileError, LabelError
from rfasim.imaging import LabelMapping, merge_totalsegmentator_liver_vessels
from rfasim.tissue import TissueClass


def label_map(*codes: int) -> np.ndarray:
    """A small label image holding each code at least once."""
    data = np.zeros((4, 4, 4), dtype=np.int16)
    data.flat[: len(codes)] = codes
    return data


def test_rfasim_preset():
    classes, warnings = LabelMapping.preset("rfasim").to_tissue_classes(label_map(0, 1, 2, 3))
    assert classes.dtype == np.uint8
    assert classes.flat[:4].tolist() == [
        TissueClass.BACKGROUND,
        TissueClass.LIVER,
        TissueClass.TUMOR,
        TissueClass.VESSEL,
    ]
    assert warnings == []


def test_several_codes_form_one_class():
    mapping = LabelMapping.from_case({"preset": "rfasim", "vessel": [3, 4, 5]})
    classes, _ = mapping.to_tissue_classes(label_map(1, 2, 3, 4, 5))
    assert classes.flat[:5].tolist() == [1, 2, 3, 3, 3]


def test_explicit_list_takes_codes_from_the_preset_only_when_that_class_is_listed_too():
    mapping = LabelMapping.from_case({"tumor": [1, 2], "liver": []})  # liver code 1 now counts as tumor
    assert mapping.codes_of("liver") == []
    assert mapping.class_of(1) == TissueClass.TUMOR
    # silently taking the tumor's code into the liver would leave no tumor (issue 15)
    with pytest.raises(CaseFileError, match=r"\[labels\] liver: code 2 is the tumor code of preset 'rfasim'"):
        LabelMapping.from_case({"liver": [1, 2]})
    # background and other codes move freely: unlabelled voxels as other tissue
    assert LabelMapping.from_case({"other": [0]}).class_of(0) == TissueClass.OTHER


def test_unmapped_code_is_an_error_naming_the_codes():
    with pytest.raises(LabelError, match=r"labels\.nii\.gz: label codes 7, 9 are in no class"):
        LabelMapping.preset("rfasim").to_tissue_classes(
            label_map(1, 2, 7, 9), source="labels.nii.gz"
        )


def test_unmapped_other_gives_other_tissue_and_a_warning():
    mapping = LabelMapping.from_case({"unmapped": "other"})
    classes, warnings = mapping.to_tissue_classes(label_map(1, 2, 7), source="labels.nii.gz")
    assert classes.flat[2] == TissueClass.OTHER
    assert len(warnings) == 1
    assert "7" in warnings[0]
    assert "other" in warnings[0]


def test_empty_tumor_label():
    with pytest.raises(LabelError, match=r"seg\.nii\.gz: the tumor label \(codes \[2\]\) is empty"):
        LabelMapping.preset("rfasim").to_tissue_classes(label_map(0, 1, 3), source="seg.nii.gz")
    classes, _ = LabelMapping.preset("rfasim").to_tissue_classes(
        label_map(0, 1), require_tumor=False
    )
    assert not np.any(classes == TissueClass.TUMOR)


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"prest": "rfasim"}, r"\[labels\]: unknown key 'prest'"),
        ({"preset": "nnunet"}, r"preset must be one of"),
        ({"unmapped": "ignore"}, r"unmapped must be"),
        ({"liver": ["1"]}, r"liver must be a list of integer"),
        ({"liver": [1], "tumor": [1]}, r"label code 1 is in two classes"),
    ],
)
def test_bad_labels_table(table, message):
    with pytest.raises(CaseFileError, match=message):
        LabelMapping.from_case(table)


def test_totalsegmentator_preset():
    mapping = LabelMapping.preset("totalsegmentator")
    expected = {
        0: TissueClass.BACKGROUND,
        5: TissueClass.LIVER,  # liver
        64: TissueClass.VESSEL,  # portal_vein_and_splenic_vein
        63: TissueClass.VESSEL,  # inferior_vena_cava
        4: TissueClass.FORBIDDEN,  # gallbladder
        12: TissueClass.FORBIDDEN,  # lung_upper_lobe_right
        31: TissueClass.FORBIDDEN,  # vertebrae_L1
        110: TissueClass.FORBIDDEN,  # rib_right_7
        20: TissueClass.FORBIDDEN,  # colon
        1: TissueClass.OTHER,  # spleen
        2: TissueClass.OTHER,  # kidney_right
        201: TissueClass.VESSEL,  # liver_vessels task, merged
        202: TissueClass.TUMOR,  # liver_tumor, merged
    }
    for code, tissue in expected.items():
        assert mapping.class_of(code) == tissue, code
    assert mapping.class_of(118) is None


def test_totalsegmentator_v1_codes_differ():
    assert (
        LabelMapping.preset("totalsegmentator-v1").class_of(9) == TissueClass.VESSEL
    )  # portal vein in v1
    assert (
        LabelMapping.preset("totalsegmentator").class_of(9) == TissueClass.OTHER
    )  # adrenal gland in v2


def test_merge_liver_vessels_output():
    total = label_map(5, 5, 5, 1)
    liver_vessels = label_map(0, 1, 2, 0)
    merged = merge_totalsegmentator_liver_vessels(total, liver_vessels)
    classes, _ = LabelMapping.preset("totalsegmentator").to_tissue_classes(merged)
    assert classes.flat[:4].tolist() == [
        TissueClass.LIVER,
        TissueClass.VESSEL,
        TissueClass.TUMOR,
        TissueClass.OTHER,
    ]


def test_float_label_array_is_refused():
    with pytest.raises(LabelError, match="must hold integers"):
        LabelMapping.preset("rfasim").to_tissue_classes(label_map(1, 2).astype(float))
