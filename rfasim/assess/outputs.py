"""The assessment folder: NIfTI results in the pre-ablation space, assessment.json, pictures.

| file | content |
|---|---|
| ``zone_in_pre.nii.gz`` | the achieved zone mapped onto the pre-ablation scan's grid (uint8) |
| ``post_in_pre.nii.gz`` | the post-ablation CT resampled onto the pre-ablation scan's grid (HU) |
| ``transform.tfm`` | the registration (ITK transform file, LPS: pre-ablation to post-ablation points) |
| ``summary.png`` | slices through the thinnest spot: tumor, achieved zone, thinnest margin marked |
| ``scene.png`` | 3D scene, the tumor surface coloured by margin (skipped with a warning without OpenGL) |
| ``assessment.json`` | every number (see ``docs/assess.md``), written last |

Everything is written into a staging folder beside the destination.  A new destination is the
staging folder renamed in one step; an existing one gets the files moved in one by one with
``assessment.json`` last (its stale copy removed first), so a folder holding ``assessment.json``
is always complete.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from rfasim.assess.mapping import post_ct_on, zone_field_on
from rfasim.assess.pipeline import AssessmentResult
from rfasim.assess.sitk_bridge import import_simpleitk
from rfasim.atomic import write_text
from rfasim.errors import InputError
from rfasim.imaging import save_nifti

ASSESSMENT_FILES = (
    "zone_in_pre.nii.gz",
    "post_in_pre.nii.gz",
    "transform.tfm",
    "summary.png",
    "scene.png",
    "assessment.json",
)


def _render_picture(
    render: Callable[[AssessmentResult, Path], object], result: AssessmentResult, path: Path
) -> str | None:
    """Render one picture of the assessment; None, or why it could not be rendered."""
    try:
        render(result, path)
    except Exception as error:  # a picture must never sink a computed assessment
        return f"{type(error).__name__}: {error}"
    return None


def _write_into(result: AssessmentResult, folder: Path) -> list[Path]:
    inputs = result.inputs
    pre = inputs.pre
    written = []
    zone = zone_field_on(inputs, result.registration, pre.shape, pre.affine) >= 0.5
    written.append(save_nifti(folder / "zone_in_pre.nii.gz", zone.astype(np.uint8), pre.affine))
    post = post_ct_on(inputs, result.registration, pre.shape, pre.affine)
    post = np.clip(np.rint(post), -1024, 3071).astype(np.int16)
    written.append(save_nifti(folder / "post_in_pre.nii.gz", post, pre.affine))
    import_simpleitk().WriteTransform(result.registration.transform, str(folder / "transform.tfm"))
    written.append(folder / "transform.tfm")
    report = result.report
    warnings = report.setdefault("warnings", [])
    from rfasim.assess.figures import plot_assessment_summary, render_assessment_scene

    for name, render in (
        ("summary.png", plot_assessment_summary),
        ("scene.png", render_assessment_scene),
    ):
        problem = _render_picture(render, result, folder / name)
        if problem is None:
            written.append(folder / name)
        else:
            warnings.append(f"{name} not rendered: {problem}")
    write_text(
        folder / "assessment.json", json.dumps(report, indent=2, allow_nan=False) + "\n"
    )
    written.append(folder / "assessment.json")
    return written


def write_assessment_folder(result: AssessmentResult, out_dir: str | os.PathLike[str]) -> list[Path]:
    """Write the assessment folder atomically; returns the files written.

    Parameters
    ----------
    result : AssessmentResult
    out_dir : path
        Destination folder: created, or updated when it exists (other files there are kept).

    Returns
    -------
    list of pathlib.Path
        The files written, inside ``out_dir``.

    Raises
    ------
    InputError
        ``out_dir`` exists and is not a folder.
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: exists and is not a folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.staging-", dir=out.parent))
    umask = os.umask(0)
    os.umask(umask)
    staging.chmod(0o777 & ~umask)  # mkdtemp makes 0700; the renamed folder is a normal one
    try:
        written = _write_into(result, staging)
        if not out.exists():
            staging.rename(out)
            return [out / path.name for path in written]
        (out / "assessment.json").unlink(missing_ok=True)
        for name in ASSESSMENT_FILES:
            if name == "assessment.json":
                continue
            if (staging / name).exists():
                (staging / name).replace(out / name)
            else:
                (out / name).unlink(missing_ok=True)
        (staging / "assessment.json").replace(out / "assessment.json")
        return [out / path.name for path in written]
    finally:
        shutil.rmtree(staging, ignore_errors=True)
