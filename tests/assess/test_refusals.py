"""Bad or inconsistent inputs: exit code 2, one line naming what is wrong, no output folder."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rfasim.cli import main
from rfasim.imaging import save_nifti


def _run(capsys, tmp_path, pre, post, tumor, zone, *extra):
    out = tmp_path / "assessment"
    code = main([
        "assess", "--pre", str(pre), "--post", str(post), "--tumor", str(tumor),
        "--zone", str(zone), "--out", str(out), *extra,
    ])
    lines = capsys.readouterr().err.strip().splitlines()
    return code, lines, out


def _assert_refused(code, lines, out, *needles):
    assert code == 2
    assert len(lines) == 1, lines
    assert lines[0].startswith("rfasim: error: ")
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert not out.exists()
    assert not list(out.parent.glob(".*staging*"))


def test_missing_file(capsys, tmp_path, rigid_files):
    missing = tmp_path / "nope.nii.gz"
    result = _run(capsys, tmp_path, rigid_files["pre_ct"], missing, rigid_files["pre_labels"],
                  rigid_files["post_zone"])
    _assert_refused(*result, "nope.nii.gz", "not found")


def test_scans_30mm_apart_without_overlap(capsys, tmp_path, rigid_pair, rigid_files):
    affine = rigid_pair.post_ct.affine.copy()
    extent = np.ptp(rigid_pair.post_ct.index_to_world(np.array([[0, 0, 0], rigid_pair.post_ct.shape])), 0)
    affine[0, 3] += extent[0] + 30.0 + 2.0  # the whole box plus a 30 mm gap
    save_nifti(tmp_path / "post.nii.gz", rigid_pair.post_ct.data, affine)
    save_nifti(tmp_path / "zone.nii.gz", rigid_pair.post_zone.data, affine)
    result = _run(capsys, tmp_path, rigid_files["pre_ct"], tmp_path / "post.nii.gz",
                  rigid_files["pre_labels"], tmp_path / "zone.nii.gz")
    _assert_refused(*result, "does not overlap", "apart")


def test_empty_zone_segmentation(capsys, tmp_path, rigid_pair, rigid_files):
    save_nifti(tmp_path / "zone.nii.gz", np.zeros_like(rigid_pair.post_zone.data),
               rigid_pair.post_zone.affine)
    result = _run(capsys, tmp_path, rigid_files["pre_ct"], rigid_files["post_ct"],
                  rigid_files["pre_labels"], tmp_path / "zone.nii.gz")
    _assert_refused(*result, "zone.nii.gz", "empty")


def test_empty_tumor_segmentation(capsys, tmp_path, rigid_pair, rigid_files):
    labels = rigid_pair.pre_labels.data.copy()
    labels[labels == 2] = 1
    save_nifti(tmp_path / "labels.nii.gz", labels, rigid_pair.pre_labels.affine)
    result = _run(capsys, tmp_path, rigid_files["pre_ct"], rigid_files["post_ct"],
                  tmp_path / "labels.nii.gz", rigid_files["post_zone"])
    _assert_refused(*result, "labels.nii.gz", "tumor code 2")


def test_incomplete_plan_folder(capsys, tmp_path, rigid_files):
    plan = tmp_path / "plan"
    plan.mkdir()
    result = _run(capsys, tmp_path, rigid_files["pre_ct"], rigid_files["post_ct"],
                  rigid_files["pre_labels"], rigid_files["post_zone"], "--plan", str(plan))
    _assert_refused(*result, "metrics.json", "not found")


def test_zone_that_misses_the_tumor(capsys, tmp_path, rigid_pair, rigid_files):
    post = rigid_pair.post_zone
    indices = np.indices(post.shape).reshape(3, -1).T
    world = indices @ post.affine[:3, :3].T + post.affine[:3, 3]
    far = rigid_pair.motion.pre_to_post(rigid_pair.tumor_centre_mm + np.array([0.0, 0.0, -32.0]))
    zone = (np.sum((world - far) ** 2, axis=1) <= 8.0**2).reshape(post.shape)
    save_nifti(tmp_path / "zone.nii.gz", zone.astype(np.uint8), post.affine)
    result = _run(capsys, tmp_path, rigid_files["pre_ct"], rigid_files["post_ct"],
                  rigid_files["pre_labels"], tmp_path / "zone.nii.gz")
    _assert_refused(*result, "misses the tumor entirely", "mm apart")


def test_wrong_patient_like_pair_is_refused(capsys, tmp_path, rigid_pair, rigid_files):
    # The post-ablation scan mirrored left-right: another anatomy in the same field of view.
    save_nifti(tmp_path / "post.nii.gz", rigid_pair.post_ct.data[::-1].copy(), rigid_pair.post_ct.affine)
    save_nifti(tmp_path / "zone.nii.gz", rigid_pair.post_zone.data[::-1].copy(),
               rigid_pair.post_zone.affine)
    result = _run(capsys, tmp_path, rigid_files["pre_ct"], tmp_path / "post.nii.gz",
                  rigid_files["pre_labels"], tmp_path / "zone.nii.gz")
    _assert_refused(*result, "do not agree", "correlation")


def test_several_tumors_need_an_id(capsys, tmp_path, rigid_pair, rigid_files):
    labels = rigid_pair.pre_labels.data.copy()
    labels[5:8, 5:8, 5:8] = 2  # a second, small tumor
    save_nifti(tmp_path / "labels.nii.gz", labels, rigid_pair.pre_labels.affine)
    result = _run(capsys, tmp_path, rigid_files["pre_ct"], rigid_files["post_ct"],
                  tmp_path / "labels.nii.gz", rigid_files["post_zone"])
    _assert_refused(*result, "2 tumors", "--tumor-id")


@pytest.mark.parametrize("flag", ["--target-mm", "--spacing"])
def test_bad_number_is_a_usage_error(capsys, tmp_path, rigid_files, flag):
    with pytest.raises(SystemExit) as exit_info:
        _run(capsys, tmp_path, rigid_files["pre_ct"], rigid_files["post_ct"],
             rigid_files["pre_labels"], rigid_files["post_zone"], flag, "five")
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith("rfasim: error:")
    assert not (tmp_path / "assessment").exists()


def test_report_json_has_no_nan(tmp_path):
    # JSON written by the assessment never holds NaN (allow_nan=False in the writer).
    from rfasim.assess.pipeline import _rounded

    assert json.dumps(_rounded({"a": float("nan"), "b": [np.float32(1.23456)]}), allow_nan=False)
