"""Candidate trajectories and their constraints, checked on the whole label map.

A probe's trajectory runs from its skin entry to its tip.  The entry is where the line from the
tip backwards first leaves the body (tissue into air) on the anatomy grid.  A trajectory is
feasible when (all distances world mm):

- it reaches the skin within the needle's length (active part plus shaft), inside the image;
- its path (skin to the active part) keeps ``vessel_clearance_mm`` from every large vessel, and
  the active metal (needles, tines) never enters one;
- no point of it, active part included, comes closer than ``obstacle_clearance_mm`` to a
  forbidden structure or to a tumor other than the target (never crossed);
- it enters the liver once (the capsule is crossed once) and its tip lies in liver or tumor;
- it respects the entry constraint, if any: a skin-entry region (a sphere) or an allowed
  direction with an angular tolerance.

Between the probes of one plan: active parts at least ``min_spacing_mm`` apart and each within
``max_spacing_mm`` of its nearest neighbour (the device's spacing rule), shafts never touching.
Every check is vectorised over a batch of candidate plans and returns a penalty in mm of
violation (0: feasible) so that the optimiser is guided back into the feasible set.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from rfasim.planner.context import AnatomyGrid
from rfasim.planner.zone_model import probe_frames
from rfasim.probes import ProbeModel, ProbePlacement
from rfasim.tissue import TissueClass

#: Step (mm) of the samples along a trajectory.
PATH_STEP_MM = 0.5
#: Penalty (mm) of a trajectory that reaches no skin within the needle's length.
NO_ENTRY_PENALTY_MM = 40.0
#: Penalty (mm) per extra capsule crossing, and for a tip outside liver and tumor.
CAPSULE_PENALTY_MM = 5.0
_OUTSIDE_IMAGE = 255
#: Lookup tables by class code (0-255): liver parenchyma as the capsule check sees it (liver,
#: tumor, vessel lumen), and the classes a tip may lie in.
_IN_LIVER = np.zeros(256, bool)
_IN_LIVER[[TissueClass.LIVER, TissueClass.TUMOR, TissueClass.VESSEL]] = True
_TIP_ALLOWED = np.zeros(256, bool)
_TIP_ALLOWED[[TissueClass.LIVER, TissueClass.TUMOR]] = True


@dataclass(frozen=True)
class TrajectoryRules:
    """The trajectory constraints (see the module docstring).

    Attributes
    ----------
    vessel_clearance_mm : float
        Smallest distance (mm) from the path to a large vessel (planner default 3 mm: an assumption,
        not a clinical figure; set it to your centre's rule).
    obstacle_clearance_mm : float
        Smallest distance (mm) from any part of the probe to a forbidden structure or another tumor.
    entry_point_mm : tuple of float or None
        Centre of the allowed skin-entry region (world mm).
    entry_radius_mm : float
        Radius (mm) of that region.
    direction : tuple of float or None
        Allowed insertion direction (entry towards tip).
    direction_tolerance_deg : float
        Largest angle (deg) from that direction.
    """

    vessel_clearance_mm: float = 3.0
    obstacle_clearance_mm: float = 2.0
    entry_point_mm: tuple[float, float, float] | None = None
    entry_radius_mm: float = 20.0
    direction: tuple[float, float, float] | None = None
    direction_tolerance_deg: float = 20.0


@dataclass(frozen=True)
class SpacingRule:
    """Allowed distance (mm) between the active parts of neighbouring probes of a plan."""

    min_spacing_mm: float
    max_spacing_mm: float
    source: str


def spacing_rule(model: ProbeModel) -> SpacingRule:
    """The spacing rule of a device.

    Straight, cluster and bipolar probes: 10-25 mm.  The upper bound is the 2.0-2.5 cm spacing of
    multiple-electrode switching RFA (Francica et al., Br J Radiol 2019;92:20180625); the lower
    bound (needles far enough apart to be placed and imaged separately) is an assumption.
    Multi-tine arrays: from just over one deployment diameter (the tines of two arrays must not
    touch) to 1.5 diameters (an assumption).
    """
    if model.kind == "multitine":
        diameter = model.max_deployment_diameter_mm
        return SpacingRule(diameter + 2.0, 1.5 * diameter,
                           "arrays side by side: deployment diameter + 2 mm to 1.5 diameters (assumption)")
    low = 10.0 + (model.needle_spacing_mm if model.kind == "cluster" else 0.0)
    return SpacingRule(low, 25.0 + (model.needle_spacing_mm if model.kind == "cluster" else 0.0),
                       "10-25 mm: switching RFA electrodes 2.0-2.5 cm apart (Francica et al., BJR 2019); "
                       "lower bound an assumption")


@dataclass
class TrajectoryBatch:
    """Trajectory checks of a batch of plans.

    Attributes
    ----------
    penalty_mm : ndarray (candidates, probes)
        Total violation (mm); 0 for a feasible trajectory.
    entry_mm : ndarray (candidates, probes, 3)
        Skin entry (NaN where none was found).
    path_length_mm : ndarray (candidates, probes)
        Skin to tip (mm).
    approach_vessel_distance_mm : ndarray (candidates, probes)
        Smallest distance from the path (skin to active part) to a large vessel (mm).
    reasons : list of list of str
        For each candidate, the violations found (empty when feasible).
    """

    penalty_mm: np.ndarray
    entry_mm: np.ndarray
    path_length_mm: np.ndarray
    approach_vessel_distance_mm: np.ndarray
    reasons: list[list[str]]


#: _template's results by ``id(model)`` (the models are immutable; the entry keeps the model).
_TEMPLATES: dict[int, tuple[ProbeModel, np.ndarray, float]] = {}


def _template(model: ProbeModel) -> tuple[np.ndarray, float]:
    """Active metal sample points in the probe frame (tip 0, shaft +z) and their radius (mm).

    Computed once per model: the search checks hundreds of batches of one device.
    """
    cached = _TEMPLATES.get(id(model))
    if cached is None or cached[0] is not model:
        cached = (model, *_build_template(model))
        _TEMPLATES[id(model)] = cached
    return cached[1], cached[2]


def _build_template(model: ProbeModel) -> tuple[np.ndarray, float]:
    placement = ProbePlacement(model, tip_mm=[0.0, 0.0, 0.0], direction=[0.0, 0.0, 1.0])
    geometry = placement.geometry()
    points = []
    for segment in geometry.active_segments:
        count = max(2, int(math.ceil(segment.length_mm / 1.0)) + 1)
        weights = np.linspace(0.0, 1.0, count)[:, None]
        points.append(segment.start_mm + weights * (segment.end_mm - segment.start_mm))
    radius = min(s.radius_mm for s in geometry.active_segments)
    return np.concatenate(points), radius


def check_trajectories_batch(anatomy: AnatomyGrid, model: ProbeModel, tips_mm: np.ndarray,
                             directions: np.ndarray, rules: TrajectoryRules,
                             explain: bool = False) -> TrajectoryBatch:
    """Check a batch of trajectories (see the module docstring).

    Parameters
    ----------
    anatomy : AnatomyGrid
    model : ProbeModel
    tips_mm, directions : ndarray, shape (candidates, probes, 3)
    rules : TrajectoryRules
    explain : bool
        Fill ``reasons`` with sentences (slower; for reports).
    """
    tips = np.asarray(tips_mm, dtype=float)
    direction = np.asarray(directions, dtype=float)
    direction = direction / np.linalg.norm(direction, axis=-1, keepdims=True)
    candidates, probes = tips.shape[:2]
    reach = model.active_length_mm + model.shaft_length_mm
    distances = np.arange(0.0, reach + PATH_STEP_MM / 2, PATH_STEP_MM)
    points = tips[:, :, None, :] - distances[None, None, :, None] * direction[:, :, None, :]
    located = anatomy.locate(points)  # once for the three volumes read along the path
    classes = anatomy.read(anatomy.classes, located, _OUTSIDE_IMAGE)
    body = (classes != TissueClass.BACKGROUND) & (classes != _OUTSIDE_IMAGE)
    left = ~body
    first_out = np.where(left.any(axis=-1), left.argmax(axis=-1), distances.size)
    found = first_out < distances.size
    exit_class = np.take_along_axis(classes, np.minimum(first_out, distances.size - 1)[..., None], -1)[..., 0]
    skin = found & (exit_class == TissueClass.BACKGROUND) & (first_out > 0)
    entry_index = np.maximum(first_out - 1, 0)
    entry = np.take_along_axis(points, entry_index[..., None, None].repeat(3, -1), 2)[:, :, 0, :]
    entry = np.where(skin[..., None], entry, np.nan)
    length = np.where(skin, distances[entry_index], np.inf)

    inside = np.arange(distances.size)[None, None, :] < first_out[..., None]
    approach = inside & (distances[None, None, :] >= model.active_length_mm)
    vessel = anatomy.read(anatomy.vessel_distance_mm, located, np.inf)
    obstacle = anatomy.read(anatomy.obstacle_distance_mm, located, np.inf)
    approach_vessel = np.where(approach, vessel, np.inf).min(axis=-1)
    vessel_violation = (np.where(approach, np.maximum(rules.vessel_clearance_mm - vessel, 0.0), 0.0).sum(-1)
                        * PATH_STEP_MM)
    obstacle_violation = (np.where(inside, np.maximum(rules.obstacle_clearance_mm - obstacle, 0.0), 0.0).sum(-1)
                          * PATH_STEP_MM)
    liver = _IN_LIVER[classes] & inside
    rising = liver[..., :-1] & ~liver[..., 1:]  # walking from the tip outwards: leaving the liver
    capsule_crossings = rising.sum(-1) + (liver[..., -1])
    extra_crossings = np.maximum(capsule_crossings - 1, 0)
    tip_class = classes[..., 0]
    bad_tip = ~_TIP_ALLOWED[tip_class]

    # Active metal (needles and tines): never in a vessel, a forbidden structure or another tumor.
    template, metal_radius = _template(model)
    frames = probe_frames(direction)  # (c, p, 3, 3) rows: first, second, direction
    metal = tips[:, :, None, :] + np.matmul(template, frames)  # sum_r template[k, r] frames[c, p, r, a]
    located_metal = anatomy.locate(metal)
    metal_vessel = anatomy.read(anatomy.vessel_distance_mm, located_metal, np.inf)
    metal_obstacle = anatomy.read(anatomy.obstacle_distance_mm, located_metal, np.inf)
    limit = metal_radius + 0.5 * anatomy.grid.spacing_mm
    metal_violation = (np.maximum(limit - metal_vessel, 0.0).sum(-1)
                       + np.maximum(rules.obstacle_clearance_mm - metal_obstacle, 0.0).sum(-1)) * 1.0

    penalty = (vessel_violation + obstacle_violation + metal_violation + CAPSULE_PENALTY_MM * extra_crossings
               + CAPSULE_PENALTY_MM * bad_tip + np.where(skin, 0.0, NO_ENTRY_PENALTY_MM))
    if rules.entry_point_mm is not None:
        offset = np.linalg.norm(np.nan_to_num(entry, nan=1e6) - np.asarray(rules.entry_point_mm), axis=-1)
        penalty = penalty + np.where(skin, np.maximum(offset - rules.entry_radius_mm, 0.0), 0.0)
    if rules.direction is not None:
        allowed = np.asarray(rules.direction, dtype=float)
        allowed = allowed / np.linalg.norm(allowed)
        angle = np.degrees(np.arccos(np.clip(direction @ allowed, -1.0, 1.0)))
        penalty = penalty + np.maximum(angle - rules.direction_tolerance_deg, 0.0)

    reasons: list[list[str]] = [[] for _ in range(candidates)]
    if explain:
        for c in range(candidates):
            for p in range(probes):
                label = f"probe {p + 1}"
                if not skin[c, p]:
                    reasons[c].append(f"{label}: reaches no skin within the needle's {reach:.0f} mm (or leaves the image first)")
                if vessel_violation[c, p] > 0:
                    reasons[c].append(f"{label}: path passes {approach_vessel[c, p]:.1f} mm from a large vessel "
                                      f"(clearance {rules.vessel_clearance_mm:g} mm)")
                if obstacle_violation[c, p] > 0 or np.any(metal_obstacle[c, p] < rules.obstacle_clearance_mm):
                    reasons[c].append(f"{label}: comes within {rules.obstacle_clearance_mm:g} mm of a forbidden structure or another tumor")
                if np.any(metal_vessel[c, p] < limit):
                    reasons[c].append(f"{label}: active metal enters a large vessel")
                if extra_crossings[c, p] > 0:
                    reasons[c].append(f"{label}: crosses the liver capsule {int(capsule_crossings[c, p])} times")
                if bad_tip[c, p]:
                    reasons[c].append(f"{label}: tip outside liver and tumor")
    return TrajectoryBatch(penalty, entry, length, approach_vessel, reasons)


def _segment_points(tips: np.ndarray, directions: np.ndarray, length_mm: float, count: int) -> np.ndarray:
    steps = np.linspace(0.0, length_mm, count)
    return tips[..., None, :] - steps[:, None] * directions[..., None, :]


def spacing_penalty(model: ProbeModel, tips_mm: np.ndarray, directions: np.ndarray, rule: SpacingRule,
                    shaft_lengths_mm: np.ndarray | None = None) -> np.ndarray:
    """Violation (mm) of the spacing rule and of shaft contact, shape (candidates,)."""
    tips = np.asarray(tips_mm, dtype=float)
    direction = np.asarray(directions, dtype=float)
    direction = direction / np.linalg.norm(direction, axis=-1, keepdims=True)
    candidates, probes = tips.shape[:2]
    if probes < 2:
        return np.zeros(candidates)
    active = max(model.active_length_mm, 0.5 * model.max_deployment_diameter_mm, 5.0)
    centre = tips - 0.5 * active * direction if model.kind != "multitine" else tips
    separation = np.linalg.norm(centre[:, :, None, :] - centre[:, None, :, :], axis=-1)
    separation = separation + np.eye(probes)[None] * 1e9
    too_close = np.maximum(rule.min_spacing_mm - separation, 0.0).sum(axis=(1, 2)) / 2.0
    nearest = separation.min(axis=2)
    too_far = np.maximum(nearest - rule.max_spacing_mm, 0.0).sum(axis=1)
    # Shafts: sampled every ~5 mm over 100 mm behind the active part, at least 3 mm apart.
    path = _segment_points(tips, direction, active + 100.0, 24)  # (c, p, k, 3)
    first, second = np.triu_indices(probes, 1)  # pairs (0, 1), (0, 2), ... (1, 2), ...
    gaps = _closest_gaps(path[:, first], path[:, second])
    contact = np.zeros(candidates)
    for pair in range(first.size):  # summed pair after pair
        contact += np.maximum(3.0 - gaps[:, pair], 0.0)
    return too_close + too_far + contact


def _closest_gaps(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Smallest distance (mm) between the sample points of two shafts, shape (c, pairs, k, 3) -> (c, pairs).

    The squared distances are summed in :func:`numpy.linalg.norm`'s order (x, then y, then z) and
    the root is taken of the smallest only: the same values as the smallest of the norms.
    """
    difference = first[:, :, :, None, 0] - second[:, :, None, :, 0]
    squared = difference * difference
    for axis in (1, 2):
        difference = first[:, :, :, None, axis] - second[:, :, None, :, axis]
        squared += difference * difference
    return np.sqrt(squared.min(axis=(2, 3)))


__all__ = [
    "SpacingRule",
    "TrajectoryBatch",
    "TrajectoryRules",
    "check_trajectories_batch",
    "spacing_penalty",
    "spacing_rule",
]
