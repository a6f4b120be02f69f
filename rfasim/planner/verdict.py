"""The verdict in words a radiologist reads at a glance, for both criteria.

One line per criterion (the design criterion, >= 100 degC, and the Arrhenius coagulation zone):
coverage, minimal margin, share of the tumor surface at the target, where the thinnest margin is
and why (next to a large vessel: heat sink; at the liver capsule; or where the probes' zones end:
a probe limit).  Then the plan (probes, device, protocol, time), the fast estimate against the
verified result, and, when the target is out of reach, why.
"""

from __future__ import annotations

import numpy as np

from rfasim.planner.automatic import AutomaticPlan
from rfasim.planner.verify import CriterionResult
from rfasim.tissue import TissueClass

CRITERION_NAMES = {
    "isotherm": "design criterion (>= 100 degC)",
    "arrhenius": "coagulation zone (Arrhenius)",
}
#: What each criterion shows, in one line (the demo prints it).
CRITERION_MEANING = {
    "isotherm": "tissue that reached the design's 100 degC: certain necrosis, the conservative figure",
    "arrhenius": "tissue whose thermal dose (Arrhenius Omega >= 1) coagulates it: the likely white zone, "
                 "larger; in vivo it is over-predicted (docs/validation.md)",
}


def thinnest_reason(plan: AutomaticPlan, point_mm: list[float] | None, margin_mm: float | None) -> str:
    """Why the margin is thinnest at a point: a vessel, the capsule, or the probes' reach."""
    if point_mm is None:
        return "no zone"
    context = plan.context
    anatomy = context.anatomy
    point = np.asarray(point_mm, dtype=float)[None]
    target = context.margin_target_mm
    vessel = float(anatomy.sample(anatomy.vessel_distance_mm, point, np.inf)[0])
    if vessel < target + 2.0:
        return f"next to a large vessel {vessel:.1f} mm away (heat sink; the zone stops at the vessel)"
    # Liver capsule: the nearest non-liver tissue within the margin target.
    directions = np.array([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]], float)
    steps = np.arange(0.5, target + 1.0, 0.5)
    samples = point[:, None, :] + steps[None, :, None] * directions[:, None, :].repeat(1, 0)
    classes = anatomy.sample(anatomy.classes, samples.reshape(-1, 3), 0).reshape(6, -1)
    outside = ~np.isin(classes, (TissueClass.LIVER, TissueClass.TUMOR, TissueClass.VESSEL))
    if outside.any():
        distance = float(steps[np.argmax(outside.any(axis=0))])
        kind = "a forbidden structure" if np.any(classes == TissueClass.FORBIDDEN) else "the liver capsule"
        return f"at {kind} {distance:.1f} mm away"
    return "where the probes' zones end (probe limit: more probes, a larger device or a longer ablation)"


def _criterion_line(plan: AutomaticPlan, result: CriterionResult, target_mm: float) -> str:
    name = CRITERION_NAMES[result.criterion]
    margin = "n/a" if result.min_margin_mm is None else f"{result.min_margin_mm:+.1f} mm"
    status = "TARGET MET" if result.ok else "target NOT met"
    line = (f"{name}: {status} - coverage {result.coverage_pct:.1f} %, minimal margin {margin} "
            f"(target {target_mm:g} mm), {result.surface_pct_at_target:.0f} % of the surface at target")
    if not result.ok and result.thinnest_at_mm is not None:
        where = ", ".join(f"{v:.0f}" for v in result.thinnest_at_mm)
        line += f"; thinnest at [{where}] mm, {thinnest_reason(plan, result.thinnest_at_mm, result.min_margin_mm)}"
    return line


def outcome(plan: AutomaticPlan, criterion: str) -> str:
    """``met`` / ``not met`` / ``unreachable: <reason>`` / ``not verified`` for one criterion."""
    from rfasim.planner.feasibility import CriterionFeasibility

    verdict = plan.feasibility.get(criterion, CriterionFeasibility(criterion, False))
    met = None if plan.chosen is None else plan.chosen.verified[criterion].ok
    return verdict.status(met)


def feasibility_line(plan: AutomaticPlan, criterion: str) -> str:
    """What the feasibility check says about a criterion, with the bound's numbers, in one line."""
    verdict = plan.feasibility.get(criterion)
    if verdict is None:
        return "not checked"
    if verdict.unreachable:
        return f"unreachable: {verdict.reason}"
    parts = []
    for device, figures in verdict.figures.get("devices", {}).items():
        volume = figures.get("volume_bound")
        if volume:
            parts.append(f"{device}: {figures['max_probes']} probes x {figures['multi_probe_factor']:g} x "
                         f"{figures['core']['volume_ml']:.2f} mL core = {volume['cores_ml']:.1f} mL >= "
                         f"{volume['target_ml']:.1f} mL of tumor + margin")
    detail = f" ({'; '.join(parts)})" if parts else ""
    return "not proven unreachable by the bounds" + detail


def outcome_lines(plan: AutomaticPlan) -> list[str]:
    """One line per criterion: its outcome, and whether it was proven before or after the search."""
    lines = []
    for criterion in ("isotherm", "arrhenius"):
        text = outcome(plan, criterion)
        verdict = plan.feasibility.get(criterion)
        if verdict is not None and verdict.unreachable:
            text += " (proven before the search" + ("; the search was skipped)" if plan.skipped_search
                                                     and criterion == plan.criterion else ")")
        elif verdict is not None and "withdrawn" in verdict.figures:
            text += f" ({verdict.figures['withdrawn']})"
        lines.append(f"outcome, {CRITERION_NAMES[criterion]}: {text}")
    return lines


def verdict_lines(plan: AutomaticPlan) -> list[str]:
    """The verdict (see the module docstring)."""
    case = plan.case
    context = plan.context
    lines: list[str] = []
    target = context.target
    lines.append(f"tumor {target.id}: {target.volume_ml:.1f} mL, max diameter {target.max_diameter_mm:.1f} mm, "
                 f"margin target {case.margin_target_mm:g} mm")
    if plan.refused:
        lines.append(f"REFUSED: {context.eligibility.reason} (rfasim plan --auto --force plans it for research)")
        return lines
    chosen = plan.chosen
    if chosen is None:
        lines.append("no plan found: " + "; ".join(plan.notes))
        lines += outcome_lines(plan)
        return lines
    candidate = chosen.candidate
    count = candidate.probe_count
    protocol = {"single": "one ablation", "switched": "switched between the probes in one ablation",
                "sequential": "one ablation after the other (overlapping)",
                "simultaneous": "all probes at once"}[candidate.protocol if count > 1 else "single"]
    minutes = candidate.treatment_time_s / 60.0
    headline = "PLAN MEETS THE MARGIN TARGET" if plan.meets_target else "BEST PLAN FOUND - margin target not met"
    lines.append(f"{headline} ({CRITERION_NAMES[plan.criterion]}, the plan's criterion)")
    lines.append(f"plan: {count} x {candidate.device}, {protocol}, {minutes:.0f} min of ablation; "
                 f"verified by the full simulation at {chosen.plan.grid.spacing_mm:g} mm")
    for criterion in ("isotherm", "arrhenius"):
        lines.append(_criterion_line(plan, chosen.verified[criterion], case.margin_target_mm))
    lines += outcome_lines(plan)
    for criterion in ("isotherm", "arrhenius"):
        fast, true = chosen.estimated[criterion], chosen.verified[criterion]
        fast_margin = "n/a" if fast.min_margin_mm is None else f"{fast.min_margin_mm:+.1f}"
        true_margin = "n/a" if true.min_margin_mm is None else f"{true.min_margin_mm:+.1f}"
        lines.append(f"fast estimate vs verified, {CRITERION_NAMES[criterion]}: coverage {fast.coverage_pct:.1f} vs "
                     f"{true.coverage_pct:.1f} %, minimal margin {fast_margin} vs {true_margin} mm, zone "
                     f"{fast.zone_volume_ml:.1f} vs {true.zone_volume_ml:.1f} mL (overlap {chosen.zone_overlap[criterion]:.2f})")
    for note in plan.notes:
        lines.append(f"why: {note}")
    return lines


__all__ = ["CRITERION_MEANING", "CRITERION_NAMES", "feasibility_line", "outcome", "outcome_lines", "thinnest_reason", "verdict_lines"]
