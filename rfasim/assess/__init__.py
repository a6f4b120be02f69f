"""After the ablation: margin assessment by image fusion, and predicted-versus-achieved zones.

The post-ablation CT is registered onto the pre-ablation CT with SimpleITK (rigid by default,
B-spline deformable as an option, restricted to the liver), the ablation-zone segmentation is
mapped into the pre-ablation space, and rfasim's signed-margin code measures coverage, the
minimal ablative margin, its distribution over the tumor surface and the thinnest spot.  A
registration-quality check refuses images that do not agree.  See ``docs/assess.md``.

Modules: :mod:`~rfasim.assess.inputs` (reading, checks), :mod:`~rfasim.assess.registration`
(SimpleITK), :mod:`~rfasim.assess.mapping` (into the pre-ablation space),
:mod:`~rfasim.assess.measurement` (the margin), :mod:`~rfasim.assess.quality` (the fusion check),
:mod:`~rfasim.assess.comparison` (plan versus achieved), :mod:`~rfasim.assess.context` (published
margin bands), :mod:`~rfasim.assess.outputs` and :mod:`~rfasim.assess.figures` (the folder),
:mod:`~rfasim.assess.pipeline` (all of it), :mod:`~rfasim.assess.synthetic` (test pairs).

Examples
--------
>>> from rfasim.assess import assess_ablation, write_assessment_folder  # doctest: +SKIP
>>> result = assess_ablation("pre.nii.gz", "post.nii.gz", "labels.nii.gz", "zone.nii.gz")  # doctest: +SKIP
>>> write_assessment_folder(result, "assessment")  # doctest: +SKIP

Nothing is imported until used, so ``rfasim --help`` does not load SimpleITK.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "AssessmentResult": "rfasim.assess.pipeline",
    "assess_ablation": "rfasim.assess.pipeline",
    "summary_text": "rfasim.assess.pipeline",
    "InconsistentImagesError": "rfasim.assess.quality",
    "QualityReport": "rfasim.assess.quality",
    "QualityThresholds": "rfasim.assess.quality",
    "MarginAssessment": "rfasim.assess.measurement",
    "PlanComparison": "rfasim.assess.comparison",
    "RegistrationResult": "rfasim.assess.registration",
    "RegistrationSettings": "rfasim.assess.registration",
    "RigidMotion": "rfasim.assess.synthetic",
    "SmoothDeformation": "rfasim.assess.synthetic",
    "SyntheticPair": "rfasim.assess.synthetic",
    "make_pair": "rfasim.assess.synthetic",
    "write_assessment_folder": "rfasim.assess.outputs",
}

__all__ = [
    "AssessmentResult",
    "InconsistentImagesError",
    "MarginAssessment",
    "PlanComparison",
    "QualityReport",
    "QualityThresholds",
    "RegistrationResult",
    "RegistrationSettings",
    "RigidMotion",
    "SmoothDeformation",
    "SyntheticPair",
    "assess_ablation",
    "make_pair",
    "summary_text",
    "write_assessment_folder",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'rfasim.assess' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
