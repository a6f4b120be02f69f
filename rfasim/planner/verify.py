"""Verifying a candidate with the full coupled simulation, and judging both criteria.

:func:`candidate_case` turns a candidate into a :class:`~rfasim.case.Case` (the case as given,
with the candidate's probes, protocol and the verification spacing); :func:`verify_candidate`
runs it with :func:`rfasim.plan.pipeline.run_case` and measures, for the design criterion
(peak temperature >= 100 degC, or the case's threshold) and for the Arrhenius coagulation zone
(Omega >= 1): coverage, minimal margin, share of the surface at the target and where the thinnest
margin lies; and the fast model's prediction of the same plan on the same grid, so that the two
can be compared figure by figure.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rfasim.case import Case, ProbeSpec
from rfasim.metrics import margin_metrics
from rfasim.plan.result import PlanResult
from rfasim.planner.library import ELECTRIC_UPDATE
from rfasim.planner.search import Candidate
from rfasim.planner.zone_model import ProbePoses, ZoneModel
from rfasim.probes import get_probe_model
from rfasim.tissue import TissueClass

CRITERIA = ("isotherm", "arrhenius")


@dataclass
class CriterionResult:
    """Coverage and margin of one zone criterion.

    Attributes
    ----------
    criterion : str
        ``isotherm`` (the design criterion) or ``arrhenius``.
    description : str
        The criterion in words.
    coverage_pct : float
    min_margin_mm : float or None
    surface_pct_at_target : float
    thinnest_at_mm : list of float or None
    zone_volume_ml : float
    ok : bool
        Complete coverage and minimal margin at least the target.
    """

    criterion: str
    description: str
    coverage_pct: float
    min_margin_mm: float | None
    surface_pct_at_target: float
    thinnest_at_mm: list[float] | None
    zone_volume_ml: float
    ok: bool

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "criterion": self.criterion, "description": self.description,
            "coverage_pct": round(self.coverage_pct, 2),
            "min_margin_mm": None if self.min_margin_mm is None else round(self.min_margin_mm, 2),
            "surface_pct_at_target": round(self.surface_pct_at_target, 1),
            "thinnest_at_mm": None if self.thinnest_at_mm is None else [round(v, 1) for v in self.thinnest_at_mm],
            "zone_volume_ml": round(self.zone_volume_ml, 3), "ok": self.ok,
        }


@dataclass
class Verification:
    """A verified candidate.

    Attributes
    ----------
    candidate : Candidate
    case : Case
        The case that was run (the proposed plan at the verification spacing).
    plan : PlanResult
    verified : dict of str to CriterionResult
        Full simulation, per criterion.
    estimated : dict of str to CriterionResult
        Fast model on the same grid, per criterion.
    zone_overlap : dict of str to float
        Intersection over union of the fast and the verified zones, per criterion.
    label_map_problems : list of str
        What the plan's paths touch on the label map that they must not (:mod:`rfasim.planner.guard`;
        filled by the planner before it returns a plan; empty: none).
    fast_peak_c : dict of str to numpy.ndarray
        The fast model's peak temperature (degC) on the plan's grid, per criterion (each read with
        that criterion's correction at verification time).
    fast_level_c : dict of str to float
        The fast model's zone level (degC) per criterion: the fast zone is ``fast_peak_c >= level``.
    """

    candidate: Candidate
    case: Case
    plan: PlanResult
    verified: dict[str, CriterionResult]
    estimated: dict[str, CriterionResult]
    zone_overlap: dict[str, float] = field(default_factory=dict)
    label_map_problems: list[str] = field(default_factory=list)
    fast_peak_c: dict[str, np.ndarray] = field(default_factory=dict)
    fast_level_c: dict[str, float] = field(default_factory=dict)

    def meets(self, criterion: str) -> bool:
        """Whether the full simulation meets the margin target under a criterion."""
        return self.verified[criterion].ok


def generator_table(candidate: Candidate) -> dict[str, Any]:
    """The case file's ``[generator]`` table of a candidate: the device's protocol plus schedule."""
    table = dict(get_probe_model(candidate.device).generator)
    if candidate.probe_count > 1:
        table["probe_schedule"] = candidate.protocol
    else:
        table.pop("probe_schedule", None)
    return table


def candidate_case(case: Case, candidate: Candidate, spacing_mm: float | None = None) -> Case:
    """The case with the candidate's probes and protocol (optionally at another spacing)."""
    proposed = copy.deepcopy(case)
    proposed.probes = [
        ProbeSpec(model=candidate.device, tip_mm=tuple(round(float(v), 2) for v in tip),
                  entry_mm=tuple(round(float(v), 2) for v in entry))
        for tip, entry in zip(candidate.tips_mm, candidate.entries_mm, strict=True)
    ]
    proposed.generator_table = generator_table(candidate)
    proposed.options_table = {"electric_update": ELECTRIC_UPDATE, **proposed.options_table}
    if spacing_mm is not None:
        proposed.spacing_mm = float(spacing_mm)
    return proposed


def criterion_result(plan: PlanResult, criterion: str, field_values: np.ndarray, threshold: float,
                     target_mm: float, description: str) -> CriterionResult:
    """Coverage and margin of the zone ``field_values >= threshold`` on the plan's grid."""
    zone = field_values >= threshold
    metrics = margin_metrics(plan.target_mask, plan.grid, zone_mask=zone, zone_field=field_values,
                             zone_threshold=threshold, target_mm=target_mm)
    coverage = float(metrics.coverage_pct)
    return CriterionResult(
        criterion=criterion, description=description, coverage_pct=coverage,
        min_margin_mm=metrics.min_mm, surface_pct_at_target=float(metrics.surface_pct_at_target),
        thinnest_at_mm=None if metrics.thinnest_at_mm is None else [float(v) for v in metrics.thinnest_at_mm],
        zone_volume_ml=float(np.count_nonzero(zone)) * plan.grid.voxel_volume_ml,
        ok=bool(metrics.ok and coverage >= 99.95),
    )


def design_threshold_c(case: Case) -> float:
    """The isotherm of the design criterion: the case's threshold when it uses one, else 100 degC."""
    return float(case.zone_threshold_c) if case.zone_criterion == "isotherm" and case.zone_threshold_c else 100.0


def _grid_points(plan: PlanResult) -> np.ndarray:
    x, y, z = np.meshgrid(*plan.grid.axis_coordinates_mm(), indexing="ij")
    return np.stack([x.ravel(), y.ravel(), z.ravel()], axis=1)


def fast_fields(zone_model: ZoneModel, candidate: Candidate, plan: PlanResult,
                criterion: str | None) -> np.ndarray:
    """The fast model's peak temperature (degC) on the plan's grid, read under a zone criterion.

    ``criterion``: ``isotherm`` or ``arrhenius`` (the model's correction for that criterion
    only), or None (uncorrected).
    """
    from scipy import ndimage

    points = _grid_points(plan)
    vessels = plan.tissue_classes == TissueClass.VESSEL
    distance = (ndimage.distance_transform_edt(~vessels, sampling=plan.grid.spacing_mm).ravel() if vessels.any()
                else np.full(points.shape[0], np.inf))
    poses = ProbePoses(candidate.tips_mm[None], candidate.directions[None])
    protocol = candidate.protocol if candidate.probe_count > 1 else "single"
    values = zone_model.peak_temperatures_c(candidate.device, (protocol,), poses, points, distance,
                                          criterion)[protocol][0]
    return np.asarray(values, dtype=float).reshape(plan.grid.shape)


def judge(plan: PlanResult, case: Case, peak_c: np.ndarray, damage_like: np.ndarray, damage_threshold: float,
          ) -> dict[str, CriterionResult]:
    """Both criteria on a plan's grid from a peak-temperature field and a damage (or proxy) field."""
    threshold = design_threshold_c(case)
    return {
        "isotherm": criterion_result(plan, "isotherm", peak_c, threshold, case.margin_target_mm,
                                     f"peak temperature >= {threshold:g} degC"),
        "arrhenius": criterion_result(plan, "arrhenius", damage_like, damage_threshold, case.margin_target_mm,
                                      "Arrhenius damage Omega >= 1"),
    }


def verify_candidate(case: Case, candidate: Candidate, zone_model: ZoneModel, spacing_mm: float,
                     force: bool = False, progress: bool = True) -> Verification:
    """Run the full coupled simulation of a candidate and compare it with the fast model."""
    from rfasim.plan.pipeline import run_case

    proposed = candidate_case(case, candidate, spacing_mm)
    reach = getattr(zone_model, "zone_reach_mm", None)
    if reach is not None:
        # A box that the zones clear by the growth trigger from the start: one run, not two or three.
        from rfasim.plan.domain import TRIGGER_CLEARANCE_MM

        needed = reach(candidate.device) + TRIGGER_CLEARANCE_MM + 2.0 * proposed.spacing_mm
        proposed.roi_margin_mm = max(proposed.roi_margin_mm, round(needed, 1))
    plan = run_case(proposed, force=force, progress=progress)
    verified = judge(plan, proposed, plan.peak_temperature_c, plan.damage, 1.0)
    # Each criterion's fast estimate with that criterion's own correction of the model.
    protocol = candidate.protocol if candidate.probe_count > 1 else "single"
    fast = {name: fast_fields(zone_model, candidate, plan, name) for name in ("isotherm", "arrhenius")}
    levels = {"isotherm": design_threshold_c(proposed),
              "arrhenius": zone_model.arrhenius_level_c(candidate.device, protocol, candidate.probe_count)}
    estimated = judge(plan, proposed, fast["isotherm"], fast["arrhenius"], levels["arrhenius"])
    overlap = {}
    for name, true_zone in verified_zones(plan, proposed).items():
        fast_zone = fast[name] >= levels[name]
        union = np.count_nonzero(fast_zone | true_zone)
        overlap[name] = 1.0 if union == 0 else float(np.count_nonzero(fast_zone & true_zone)) / union
    return Verification(candidate, proposed, plan, verified, estimated, overlap, fast_peak_c=fast, fast_level_c=levels)


def verified_zones(plan: PlanResult, case: Case) -> dict[str, np.ndarray]:
    """The full simulation's zone masks per criterion.

    ``isotherm``: peak temperature >= the case's design threshold (degC); ``arrhenius``: the
    damage integral Omega >= 1.
    """
    return {"isotherm": plan.peak_temperature_c >= design_threshold_c(case), "arrhenius": plan.damage >= 1.0}


__all__ = ["CRITERIA", "CriterionResult", "Verification", "candidate_case", "criterion_result",
           "design_threshold_c", "generator_table", "judge", "verified_zones", "verify_candidate"]
