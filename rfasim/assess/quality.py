"""Does the fusion hold?  Checks that refuse inconsistent inputs and measure the misalignment.

Before registration
    The two scans' world boxes must overlap: scans whose fields of view are apart (another
    patient position, another study) are refused.

After registration (:func:`check_registration`)
    - **Field of view**: every tumor point must land inside the post-ablation scan.
    - **Correlation**: the Pearson correlation of the two scans' HU (soft-tissue window) over the
      registration region, the ablation zone left out.  Unrelated anatomy (a wrong patient, a
      failed registration) correlates poorly.
    - **Reproducibility**: the rigid registration is run again from starts displaced by
      ``perturbation_mm`` and ``perturbation_deg``, each with another random sampling of the
      metric; the largest distance between the tumor
      surface positions the runs give is the *registration spread*.  A well-posed registration
      returns to the same optimum; a spread of several millimetres means the images do not pin
      the alignment down.
    - **Liver masks** (when a post-ablation liver segmentation is given): Dice, mean and 95th
      percentile symmetric surface distance between the pre-ablation liver and the registered
      post-ablation liver.
    - **Deformable correction**: with the deformable option, how far the B-spline moves the tumor
      beyond the rigid result.

Below a refusal threshold the margin is not reported (:class:`InconsistentImagesError`, exit
code 2); between the refusal and warning thresholds the margin is reported with a warning giving
the measured values.  The thresholds are this tool's engineering choices, set from the synthetic
pairs of ``tests/assess`` (see ``docs/assess.md``), not clinical standards.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from rfasim.assess.comparison import surface_distances_mm
from rfasim.assess.inputs import AssessmentInputs
from rfasim.assess.mapping import boxes_overlap_mm, inside_post_fraction, mask_on_grid
from rfasim.assess.registration import (
    RegistrationImages,
    RegistrationResult,
    _zone_in_fixed,
    register_rigid,
)
from rfasim.assess.sitk_bridge import from_sitk, resample, to_sitk, transform_points_ras
from rfasim.errors import InputError


class InconsistentImagesError(InputError):
    """The fused images do not agree: no margin is reported (exit code 2)."""


@dataclass(frozen=True)
class QualityThresholds:
    """Refusal and warning thresholds of the registration check.

    Attributes
    ----------
    refuse_correlation, warn_correlation : float
        HU correlation below which the fusion is refused / warned about.
    refuse_spread_mm, warn_spread_mm : float
        Registration spread at the tumor (mm) above which it is refused / warned about.
    refuse_liver_dice, warn_liver_dice : float
        Liver-mask Dice below which it is refused / warned about (with a post liver mask).
    warn_liver_surface_mm : float
        Mean liver surface distance (mm) above which it is warned about.
    warn_deformable_correction_mm : float
        B-spline displacement at the tumor beyond the rigid result (mm) that is warned about.
    perturbation_mm, perturbation_deg : float
        Size of the displaced starts of the reproducibility check.
    """

    refuse_correlation: float = 0.3
    warn_correlation: float = 0.6
    refuse_spread_mm: float = 10.0
    warn_spread_mm: float = 1.0
    refuse_liver_dice: float = 0.7
    warn_liver_dice: float = 0.9
    warn_liver_surface_mm: float = 2.0
    warn_deformable_correction_mm: float = 5.0
    perturbation_mm: float = 4.0
    perturbation_deg: float = 3.0


@dataclass
class QualityReport:
    """The measured agreement of the fused images.

    Attributes
    ----------
    correlation : float
        HU correlation over the registration region (zone left out).
    spread_mm : float
        Registration spread at the tumor (mm).
    tumor_in_post_pct : float
        Percentage of tumor surface points inside the post-ablation scan after registration.
    liver_dice, liver_mean_surface_mm, liver_hd95_mm : float or None
        Liver-mask agreement (None without a post-ablation liver mask).
    deformable_correction_mm : float or None
        Largest B-spline displacement at the tumor beyond the rigid result (mm).
    warnings : list of str
        What the reader must see.
    thresholds : QualityThresholds
    """

    correlation: float
    spread_mm: float
    tumor_in_post_pct: float
    liver_dice: float | None = None
    liver_mean_surface_mm: float | None = None
    liver_hd95_mm: float | None = None
    deformable_correction_mm: float | None = None
    warnings: list[str] = field(default_factory=list)
    thresholds: QualityThresholds = field(default_factory=QualityThresholds)

    @property
    def verdict(self) -> str:
        """``"ok"`` or ``"warning"`` (a refused fusion raises instead)."""
        return "warning" if self.warnings else "ok"

    def summary_line(self) -> str:
        """One line with the measured misalignment.

        Returns
        -------
        str
            Correlation, registration spread (mm) and, when measured, liver agreement and deformable
            correction (mm).
        """
        parts = [
            f"correlation {self.correlation:.2f}",
            f"registration spread at the tumor {self.spread_mm:.2f} mm",
        ]
        if self.liver_dice is not None:
            parts.append(
                f"liver Dice {self.liver_dice:.3f}, mean surface distance "
                f"{self.liver_mean_surface_mm:.2f} mm"
            )
        if self.deformable_correction_mm is not None:
            parts.append(f"deformable correction at the tumor {self.deformable_correction_mm:.2f} mm")
        return "registration check: " + "; ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready ``assessment.json["quality"]``.

        Returns
        -------
        dict
            Verdict, measured agreement (distances in mm) and the thresholds applied.
        """
        thresholds = self.thresholds
        return {
            "verdict": self.verdict,
            "correlation": float(self.correlation),
            "spread_mm": float(self.spread_mm),
            "tumor_in_post_pct": float(self.tumor_in_post_pct),
            "liver_dice": self.liver_dice,
            "liver_mean_surface_mm": self.liver_mean_surface_mm,
            "liver_hd95_mm": self.liver_hd95_mm,
            "deformable_correction_mm": self.deformable_correction_mm,
            "warnings": list(self.warnings),
            "thresholds": {
                key: getattr(thresholds, key) for key in thresholds.__dataclass_fields__
            },
        }


def check_overlap(inputs: AssessmentInputs) -> None:
    """Refuse scans whose world boxes do not overlap (before any registration).

    Parameters
    ----------
    inputs : AssessmentInputs
        The assessment's scans and masks.

    Raises
    ------
    InconsistentImagesError
        The boxes are apart (the message gives the gap in mm).
    """
    overlap, gap = boxes_overlap_mm(inputs)
    if not overlap:
        raise InconsistentImagesError(
            f"{inputs.post.name}: the post-ablation scan does not overlap the pre-ablation scan "
            f"{inputs.pre.name} (fields of view {gap:.0f} mm apart): not the same patient "
            "position or study; no margin can be measured"
        )


def tumor_points_mm(inputs: AssessmentInputs) -> np.ndarray:
    """Points of the tumor's boundary voxels (world mm, at most 2000), for the checks.

    Parameters
    ----------
    inputs : AssessmentInputs
        The assessment's scans and masks.

    Returns
    -------
    numpy.ndarray, shape (n, 3)
        World RAS+ voxel centres (mm), evenly subsampled when there are more than 2000.
    """
    from scipy import ndimage

    mask = inputs.tumor_mask
    boundary = mask & ~ndimage.binary_erosion(mask)
    indices = np.argwhere(boundary)
    if len(indices) > 2000:
        indices = indices[np.linspace(0, len(indices) - 1, 2000).astype(int)]
    return indices @ inputs.pre.affine[:3, :3].T + inputs.pre.affine[:3, 3]


def _images(registration: RegistrationResult) -> RegistrationImages:
    """The images ``registration`` ran on (the checks resample and re-register them)."""
    if registration.images is None:
        raise ValueError(
            "the registration quality check needs the images the registration ran on "
            "(RegistrationResult.images, which register sets)"
        )
    return registration.images


def _correlation(registration: RegistrationResult) -> float:
    images = _images(registration)
    grid = images.fixed_grid
    fixed = from_sitk(images.fixed)
    moving = resample(images.moving, registration.transform, grid.shape, grid.affine, fill=np.nan)
    inside = resample(
        to_sitk(images.moving_inside.astype(np.float32), images.moving_grid.affine),
        registration.transform,
        grid.shape,
        grid.affine,
    )
    region = (
        images.fixed_mask
        & (inside > 0.99)
        & np.isfinite(moving)
        & ~_zone_in_fixed(images, registration.transform, registration.settings.zone_exclusion_mm)
    )
    if np.count_nonzero(region) < 100:
        return 0.0
    a, b = fixed[region].astype(float), moving[region].astype(float)
    a -= a.mean()
    b -= b.mean()
    denominator = float(np.sqrt(np.sum(a * a) * np.sum(b * b)))
    return float(np.sum(a * b) / denominator) if denominator > 0 else 0.0


def _spread_mm(
    registration: RegistrationResult, points_mm: np.ndarray, thresholds: QualityThresholds
) -> float:
    import SimpleITK

    images = _images(registration)
    reference = transform_points_ras(registration.rigid, points_mm)
    worst = 0.0
    offsets = (
        (thresholds.perturbation_mm, 0.0, 0.0, thresholds.perturbation_deg),
        (0.0, -thresholds.perturbation_mm, thresholds.perturbation_mm, -thresholds.perturbation_deg),
    )
    for number, (dx, dy, dz, angle) in enumerate(offsets, start=1):
        start = SimpleITK.Euler3DTransform(registration.rigid)
        parameters = list(start.GetParameters())
        parameters[0] += np.radians(angle)
        parameters[2] -= np.radians(angle)
        parameters[3] += dx
        parameters[4] += dy
        parameters[5] += dz
        start.SetParameters(parameters)
        # Another sampling of the metric as well as another start: the spread then includes the
        # metric's sampling noise, not only a second basin of attraction.
        settings = replace(registration.settings, seed=registration.settings.seed + number)
        again, *_ = register_rigid(images, settings, initial=start)
        moved = transform_points_ras(again, points_mm)
        worst = max(worst, float(np.max(np.linalg.norm(moved - reference, axis=1))))
    return worst


def _liver_agreement(
    inputs: AssessmentInputs,
    registration: RegistrationResult,
    pre_liver_mask: np.ndarray,
    post_liver_mask: np.ndarray,
) -> tuple[float, float, float]:
    grid = _images(registration).fixed_grid
    pre_liver = mask_on_grid(pre_liver_mask, inputs.pre.affine, grid)
    post_liver = (
        resample(
            to_sitk(post_liver_mask.astype(np.float32), inputs.post.affine),
            registration.transform,
            grid.shape,
            grid.affine,
        )
        >= 0.5
    )
    overlap = float(np.count_nonzero(pre_liver & post_liver))
    dice = 2.0 * overlap / max(float(pre_liver.sum() + post_liver.sum()), 1.0)
    distances = surface_distances_mm(pre_liver, post_liver, grid.spacing_mm)
    if distances.size == 0:
        return dice, float("inf"), float("inf")
    return dice, float(distances.mean()), float(np.percentile(distances, 95))


def check_registration(
    inputs: AssessmentInputs,
    registration: RegistrationResult,
    thresholds: QualityThresholds | None = None,
) -> QualityReport:
    """Measure the fused images' agreement; refuse when they do not agree.

    Parameters
    ----------
    inputs : AssessmentInputs
        The assessment's scans and masks.
    registration : RegistrationResult
        The registration to check (with the images it ran on).
    thresholds : QualityThresholds, optional
        Warning and refusal thresholds (default: :class:`QualityThresholds`).

    Returns
    -------
    QualityReport
        The measured agreement (distances in mm) and its warnings.

    Raises
    ------
    InconsistentImagesError
        The tumor leaves the post-ablation scan, the correlation is below the refusal threshold,
        the registration spread is above it, or the liver masks disagree.
    """
    thresholds = thresholds or QualityThresholds()
    points = tumor_points_mm(inputs)
    in_post = 100.0 * inside_post_fraction(inputs, registration, points)
    post_name = inputs.post.name
    if in_post < 100.0:
        raise InconsistentImagesError(
            f"{post_name}: after registration {100.0 - in_post:.0f} % of the tumor surface lies "
            "outside the post-ablation scan; the margin cannot be measured there"
        )
    correlation = _correlation(registration)
    if correlation < thresholds.refuse_correlation:
        raise InconsistentImagesError(
            f"{post_name}: the registered scans do not agree (HU correlation {correlation:.2f} "
            f"over the liver region, refused below {thresholds.refuse_correlation:g}): wrong "
            "patient, wrong scan, or failed registration; no margin reported"
        )
    spread = _spread_mm(registration, points, thresholds)
    if spread > thresholds.refuse_spread_mm:
        raise InconsistentImagesError(
            f"{post_name}: the registration is not reproducible (restarts disagree by "
            f"{spread:.1f} mm at the tumor, refused above {thresholds.refuse_spread_mm:g} mm); "
            "no margin reported"
        )
    report = QualityReport(
        correlation=correlation, spread_mm=spread, tumor_in_post_pct=in_post, thresholds=thresholds
    )
    if correlation < thresholds.warn_correlation:
        report.warnings.append(
            f"low HU correlation of the registered scans ({correlation:.2f} < "
            f"{thresholds.warn_correlation:g}): check the fusion (post_in_pre.nii.gz) before "
            "trusting the margin"
        )
    if spread > thresholds.warn_spread_mm:
        report.warnings.append(
            f"registration spread {spread:.1f} mm at the tumor (restarts disagree by more than "
            f"{thresholds.warn_spread_mm:g} mm): the margin is uncertain by about that much"
        )
    if inputs.post_liver_mask is not None and inputs.liver_mask is None:
        report.warnings.append(
            "the post-ablation liver mask was not used: the tumor labels hold no liver (code 1) "
            "to compare it with"
        )
    if inputs.post_liver_mask is not None and inputs.liver_mask is not None:
        dice, mean_mm, hd95_mm = _liver_agreement(
            inputs, registration, inputs.liver_mask, inputs.post_liver_mask
        )
        report.liver_dice, report.liver_mean_surface_mm, report.liver_hd95_mm = dice, mean_mm, hd95_mm
        if dice < thresholds.refuse_liver_dice:
            raise InconsistentImagesError(
                f"{post_name}: the registered liver masks disagree (Dice {dice:.2f}, refused below "
                f"{thresholds.refuse_liver_dice:g}); no margin reported"
            )
        if dice < thresholds.warn_liver_dice or mean_mm > thresholds.warn_liver_surface_mm:
            report.warnings.append(
                f"liver masks after registration: Dice {dice:.3f}, mean surface distance "
                f"{mean_mm:.1f} mm, 95th percentile {hd95_mm:.1f} mm: residual misalignment"
            )
    if registration.method != "rigid":
        rigid_points = transform_points_ras(registration.rigid, points)
        correction = float(np.max(np.linalg.norm(registration.map_points(points) - rigid_points, axis=1)))
        report.deformable_correction_mm = correction
        if correction > thresholds.warn_deformable_correction_mm:
            report.warnings.append(
                f"the deformable step moves the tumor by up to {correction:.1f} mm beyond the rigid "
                "result, where the ablation zone hides the tissue: compare with the rigid result"
            )
    return report
