"""The clinical eligibility rule (``../shared/context``): tumors over 4 cm are not for RFA."""

from __future__ import annotations

from rfasim.plan.result import Eligibility

#: Maximum 3D tumor diameter eligible for RFA (mm).
ELIGIBILITY_LIMIT_MM = 40.0

#: What the clinical sources suggest instead when a tumor is not eligible.
ALTERNATIVES = (
    "liver resection where technically possible; embolization (chemo- or radioembolization); "
    "multi-probe stereotactic ablation with margin evaluation in specialised centres; "
    "palliative debulking only if more than 90 % of the tumor tissue can be destroyed"
)


def eligibility_verdict(max_diameter_mm: float, limit_mm: float = ELIGIBILITY_LIMIT_MM) -> Eligibility:
    """The clinical verdict on a tumor (``metrics.json``'s ``eligibility``).

    Parameters
    ----------
    max_diameter_mm : float
        Maximum 3D diameter of the segmented target tumor (mm).
    limit_mm : float
        The rule's limit (40 mm).

    Examples
    --------
    >>> eligibility_verdict(25.0).eligible
    True
    >>> eligibility_verdict(45.2).reason.startswith("tumor maximum diameter 45.2 mm exceeds")
    True
    """
    diameter = round(float(max_diameter_mm), 2)
    if diameter > limit_mm:
        reason = (
            f"tumor maximum diameter {diameter:g} mm exceeds the {limit_mm:g} mm limit for "
            f"radiofrequency ablation; consider instead: {ALTERNATIVES}"
        )
        return Eligibility(eligible=False, tumor_max_diameter_mm=diameter, limit_mm=limit_mm, reason=reason)
    reason = f"tumor maximum diameter {diameter:g} mm is within the {limit_mm:g} mm limit for radiofrequency ablation"
    return Eligibility(eligible=True, tumor_max_diameter_mm=diameter, limit_mm=limit_mm, reason=reason)
