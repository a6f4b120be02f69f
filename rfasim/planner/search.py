"""The search: number of probes, device, geometry and protocol, by differential evolution.

For each number of probes (1, 2, ... up to the limit) and each allowed device, the probe poses are
described by a few numbers (a stereotactic pattern) and searched with
:func:`scipy.optimize.differential_evolution`, every candidate scored by the fast zone model:

- ``parallel`` (default): one insertion direction (tilt and azimuth about a safe reference axis),
  the pattern's centre (3 offsets), its radius and rotation, and a depth stagger: one probe
  (N = 1), a pair, a triangle, a square, or a ring of N - 1 around a central probe (N = 5, 6);
- ``converging``: the same plus a convergence angle (trajectories fanning out from nearby skin
  entries towards the tumor's periphery, or converging on it);
- ``free``: every probe its own tip (3 offsets) and tilt (2 angles) about the common direction.

Why differential evolution: the score is a step function of the poses (a voxel is in the zone or
not) with many local optima (where the probes go), and the search spaces are small (5 to 30
numbers) and bounded; a population method that needs no gradient and evaluates the whole
population in one vectorised call (``vectorized=True``) fits, and scipy's is well kept, seeded
and reproducible.  (optuna's TPE sampler would need a Python call per trial.)

The score (lower is better), evaluated for every protocol the model knows (the best one wins):
``100 (1 - soft coverage of tumor + margin) + 50 (1 - soft coverage of the tumor)
+ 10 (trajectory and spacing violations, mm) + 0.02 healthy liver destroyed (mL)
+ treatment time (h)``.  The number of probes comes first: the search stops at the smallest
number for which a candidate covers the tumor and its margin in the fast model.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import optimize

from rfasim.planner.context import PlanningContext
from rfasim.planner.trajectories import (
    TrajectoryRules,
    check_trajectories_batch,
    spacing_penalty,
    spacing_rule,
)
from rfasim.planner.zone_model import ProbePoses, ZoneModel
from rfasim.probes import ProbeModel, get_probe_model

GEOMETRIES = ("parallel", "converging", "free")
#: Largest tilt (deg) of the insertion direction from the reference axis.
MAXIMUM_TILT_DEG = 35.0
#: Fraction of the points to cover that must be covered for a candidate to "meet" the target.
MEETS_FRACTION = 0.995


@dataclass
class Candidate:
    """One proposed plan, as the fast model sees it.

    Attributes
    ----------
    device : str
    protocol : str
        ``single`` for one probe, else ``switched``, ``sequential`` or ``simultaneous``.
    tips_mm, directions : ndarray, shape (probes, 3)
    entries_mm : ndarray, shape (probes, 3)
        Skin entries (NaN where none).
    coverage_target : float
        Fraction of the tumor + margin points inside the predicted zone.
    coverage_tumor : float
        Fraction of the tumor points inside the predicted zone.
    healthy_liver_ml : float
        Healthy liver inside the predicted zone (mL).
    treatment_time_s : float
    violation_mm : float
        Trajectory and spacing violations (0: feasible).
    score : float
    meets : bool
        Feasible and covering the tumor and its margin in the fast model.
    reasons : list of str
        Trajectory violations, in words.
    geometry : str
    wall_s : float
        Search time of its (device, probe count) stage (s).
    """

    device: str
    protocol: str
    tips_mm: np.ndarray
    directions: np.ndarray
    entries_mm: np.ndarray
    coverage_target: float
    coverage_tumor: float
    healthy_liver_ml: float
    treatment_time_s: float
    violation_mm: float
    score: float
    meets: bool
    reasons: list[str] = field(default_factory=list)
    geometry: str = "parallel"
    wall_s: float = 0.0

    @property
    def probe_count(self) -> int:
        """Number of probes."""
        return int(self.tips_mm.shape[0])


@dataclass(frozen=True)
class SearchSettings:
    """Knobs of the search (defaults sized for 2 cores, a minute or so per plan).

    Attributes
    ----------
    max_probes : int
        Most probes in a plan (default 6, a clinical number for multi-probe stereotactic RFA).
    geometry : str
        ``parallel``, ``converging`` or ``free``.
    population : int
        Population size per parameter (scipy's ``popsize``).
    max_generations : int
        Generations per (device, probe count) search.
    seed : int
        Random seed (results are reproducible).
    protocols : tuple of str
        Multi-probe protocols allowed.
    """

    max_probes: int = 6
    geometry: str = "parallel"
    population: int = 8
    max_generations: int = 30
    seed: int = 0
    protocols: tuple[str, ...] = ("switched", "sequential", "simultaneous")


def _unit(vector: np.ndarray) -> np.ndarray:
    return vector / np.linalg.norm(vector, axis=-1, keepdims=True)


def _basis(axis: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    reference = np.array([0.0, 0.0, 1.0]) if abs(axis[2]) < 0.9 else np.array([0.0, 1.0, 0.0])
    first = _unit(reference - (reference @ axis) * axis)
    return first, np.cross(axis, first)


def reference_axis(context: PlanningContext, model: ProbeModel, rules: TrajectoryRules,
                   samples: int = 800) -> tuple[np.ndarray, float, list[str]]:
    """A safe insertion direction through the target's centre, its violation (mm) and reasons.

    Directions are sampled evenly on the sphere (a Fibonacci lattice); each is checked as a probe
    whose zone centre sits on the tumor's centre.  The feasible one with the shortest path wins
    (ties: the one farthest from the vessels); with none feasible, the least violating.
    """
    index = np.arange(samples) + 0.5
    polar = np.arccos(1.0 - 2.0 * index / samples)
    azimuth = np.pi * (1.0 + 5.0**0.5) * index
    directions = np.stack([np.cos(azimuth) * np.sin(polar), np.sin(azimuth) * np.sin(polar), np.cos(polar)], -1)
    if rules.direction is not None:
        allowed = _unit(np.asarray(rules.direction, dtype=float))
        directions = np.concatenate([allowed[None], directions])
    tips = context.target_centre_mm[None, :] + 0.5 * model.active_length_mm * directions
    batch = check_trajectories_batch(context.anatomy, model, tips[:, None, :], directions[:, None, :], rules)
    penalty = batch.penalty_mm[:, 0]
    length = batch.path_length_mm[:, 0]
    clearance = np.minimum(batch.approach_vessel_distance_mm[:, 0], 30.0)
    feasible = penalty <= 0
    if feasible.any():
        score = np.where(feasible, length - 0.5 * clearance, np.inf)
    else:
        score = penalty
    best = int(np.argmin(score))
    reasons = []
    if not feasible.any():
        explained = check_trajectories_batch(context.anatomy, model, tips[best][None, None], directions[best][None, None],
                                             rules, explain=True)
        reasons = explained.reasons[0]
    return directions[best], float(penalty[best]), reasons


def zone_centre_offset_mm(model_zone_offset: float) -> float:
    """Distance (mm) from a probe's tip back to its zone's centre along the shaft."""
    return float(model_zone_offset)


@dataclass
class _Problem:
    context: PlanningContext
    zone_model: ZoneModel
    model: ProbeModel
    probes: int
    geometry: str
    axis: np.ndarray
    zone_offset_mm: float
    criterion: str
    threshold_c: float
    protocols: tuple[str, ...]
    rules: TrajectoryRules
    bounds: list[tuple[float, float]] = field(default_factory=list)

    def __post_init__(self) -> None:
        radius = self.context.target_radius_mm
        rule = spacing_rule(self.model)
        ring = self.probes if self.probes <= 4 else self.probes - 1
        centre_probe = self.probes >= 5
        bounds = [(0.0, math.radians(MAXIMUM_TILT_DEG)), (0.0, 2 * math.pi)]
        if self.rules.direction is not None:
            bounds[0] = (0.0, math.radians(self.rules.direction_tolerance_deg))
        shift = 0.5 * radius
        bounds += [(-shift, shift)] * 3
        if self.probes >= 2:
            chord = 2.0 * math.sin(math.pi / ring) if ring >= 2 else 2.0
            low = rule.min_spacing_mm / chord
            if centre_probe:
                low = max(low, rule.min_spacing_mm)
            high = rule.max_spacing_mm / chord if not centre_probe else rule.max_spacing_mm
            high = max(low + 1.0, min(high, radius + self.context.margin_target_mm))
            bounds += [(low, high), (0.0, 2 * math.pi / max(ring, 1)), (-0.5 * radius, 0.5 * radius)]
            if self.geometry == "converging":
                bounds += [(-math.radians(15.0), math.radians(15.0))]
        if self.geometry == "free":
            bounds += [(-0.6 * radius, 0.6 * radius)] * (3 * self.probes)
            bounds += [(0.0, math.radians(12.0)), (0.0, 2 * math.pi)] * self.probes
        self.bounds = bounds
        self.ring = ring
        self.centre_probe = centre_probe
        self.first, self.second = _basis(self.axis)

    def poses(self, parameters: np.ndarray) -> ProbePoses:
        """Tips and directions (S, N, 3) from parameter columns (P, S)."""
        p = np.atleast_2d(parameters)
        if p.shape[0] != len(self.bounds):
            p = p.T
        count = p.shape[1]
        tilt, azimuth = p[0], p[1]
        first, second, axis = self.first, self.second, self.axis
        direction = _unit(np.cos(tilt)[:, None] * axis + np.sin(tilt)[:, None]
                          * (np.cos(azimuth)[:, None] * first + np.sin(azimuth)[:, None] * second))
        lateral_a = _unit(np.cross(direction, first + 1e-9 * second))
        lateral_b = np.cross(direction, lateral_a)
        centre = (self.context.target_centre_mm[None, :] + p[2][:, None] * lateral_a + p[3][:, None] * lateral_b
                  + p[4][:, None] * direction)
        offsets = np.zeros((count, self.probes, 3))
        depth = np.zeros((count, self.probes))
        directions = np.repeat(direction[:, None, :], self.probes, axis=1)
        if self.probes >= 2:
            radius, rotation, stagger = p[5], p[6], p[7]
            for k in range(self.ring):
                angle = rotation + 2 * math.pi * k / self.ring
                radial = np.cos(angle)[:, None] * lateral_a + np.sin(angle)[:, None] * lateral_b
                offsets[:, k] = radius[:, None] * radial
                depth[:, k] = stagger * (1.0 if k % 2 == 0 else -1.0)
                if self.geometry == "converging":
                    directions[:, k] = _unit(direction + np.tan(p[8])[:, None] * radial)
        if self.geometry == "free":
            start = len(self.bounds) - 5 * self.probes
            shifts = p[start:start + 3 * self.probes].T.reshape(count, self.probes, 3)
            offsets = offsets + (shifts[..., 0:1] * lateral_a[:, None] + shifts[..., 1:2] * lateral_b[:, None]
                                 + shifts[..., 2:3] * direction[:, None])
            angles = p[start + 3 * self.probes:].T.reshape(count, self.probes, 2)
            tilt_i, azimuth_i = angles[..., 0:1], angles[..., 1:2]
            directions = _unit(np.cos(tilt_i) * directions + np.sin(tilt_i)
                               * (np.cos(azimuth_i) * lateral_a[:, None] + np.sin(azimuth_i) * lateral_b[:, None]))
        zone_centres = centre[:, None, :] + offsets + depth[..., None] * direction[:, None, :]
        tips = zone_centres + self.zone_offset_mm * directions
        return ProbePoses(tips, directions)

    def evaluate(self, parameters: np.ndarray, explain: bool = False) -> dict[str, Any]:
        poses = self.poses(parameters)
        context = self.context
        trajectories = check_trajectories_batch(context.anatomy, self.model, poses.tips_mm, poses.directions,
                                                self.rules, explain=explain)
        violation = trajectories.penalty_mm.sum(axis=1) + spacing_penalty(
            self.model, poses.tips_mm, poses.directions, spacing_rule(self.model))
        protocols = self.protocols if self.probes > 1 else ("single",)
        model_protocols = protocols if self.probes > 1 else (self.zone_model.protocols(self.model.name) or ("switched",))[:1]
        target = self.zone_model.peak_temperatures_c(self.model.name, model_protocols, poses, context.target_points_mm,
                                                     context.target_vessel_distance_mm, self.criterion)
        liver = self.zone_model.peak_temperatures_c(self.model.name, model_protocols, poses, context.liver_points_mm,
                                                    context.liver_vessel_distance_mm, self.criterion)
        in_tumor = context.target_in_tumor
        best: dict[str, Any] = {}
        for protocol, model_protocol in zip(protocols, model_protocols, strict=True):
            threshold = self.threshold(model_protocol)
            width = 2.0 if self.criterion == "isotherm" else 1.0
            soft = 1.0 / (1.0 + np.exp(-(target[model_protocol] - threshold) / width))
            hard = target[model_protocol] >= threshold
            coverage_target = hard.mean(axis=1)
            coverage_tumor = hard[:, in_tumor].mean(axis=1) if in_tumor.any() else coverage_target
            healthy = (liver[model_protocol] >= threshold).sum(axis=1) * context.liver_point_volume_ml
            hours = self.zone_model.treatment_time_s(self.model.name, model_protocol, self.probes) / 3600.0
            score = (100.0 * (1.0 - soft.mean(axis=1)) + 50.0 * (1.0 - soft[:, in_tumor].mean(axis=1))
                     + 10.0 * violation + 0.02 * healthy + hours)
            values = {"score": score, "coverage_target": coverage_target, "coverage_tumor": coverage_tumor,
                      "healthy_ml": healthy, "time_s": np.full(score.shape, hours * 3600.0),
                      "protocol": np.full(score.shape, protocol, dtype=object)}
            if not best:
                best = values
            else:
                better = values["score"] < best["score"]
                for key in best:
                    best[key] = np.where(better, values[key], best[key])
        best["violation"] = violation
        best["poses"] = poses
        best["trajectories"] = trajectories
        return best

    def threshold(self, protocol: str) -> float:
        if self.criterion == "isotherm":
            return self.threshold_c
        return self.zone_model.arrhenius_level_c(self.model.name, protocol, self.probes)


def _zone_offset(zone_model: ZoneModel, device: str, criterion: str, threshold_c: float) -> float:
    """Distance from the tip back to the centre of the device's single zone, along the shaft (mm)."""
    devices = getattr(zone_model, "devices", None)
    model = get_probe_model(device)
    if devices is None or device not in devices:
        return 0.5 * model.active_length_mm if model.kind != "multitine" else -0.25 * model.max_deployment_diameter_mm
    entry = devices[device].entry
    level = threshold_c if criterion == "isotherm" else entry.arrhenius_level_c
    zone = entry.peak_rise_c >= level - 37.0
    if not zone.any():
        zone = entry.peak_rise_c >= 0.8 * float(entry.peak_rise_c.max())
    z = entry.origin_mm[2] + entry.spacing_mm * np.nonzero(zone)[2]
    return float(-z.mean())


def search_device(context: PlanningContext, zone_model: ZoneModel, device: str, probes: int,
                  criterion: str, threshold_c: float, rules: TrajectoryRules, settings: SearchSettings,
                  axis: np.ndarray) -> Candidate:
    """The best candidate for one device and number of probes."""
    model = get_probe_model(device)
    protocols = tuple(p for p in settings.protocols if p in zone_model.protocols(device, criterion, probes)) \
        or ("sequential",)
    problem = _Problem(context, zone_model, model, probes, settings.geometry, axis,
                       _zone_offset(zone_model, device, criterion, threshold_c), criterion, threshold_c,
                       protocols, rules)

    # Violation and coverage of every candidate scored, by its parameters' bytes: the callback
    # asks about the population's best, which the objective has scored already (each candidate
    # is scored on its own, so its figures do not depend on the batch it came in).
    scored: dict[bytes, tuple[float, float]] = {}

    def objective(parameters: np.ndarray) -> np.ndarray:
        values = problem.evaluate(parameters)
        columns = np.atleast_2d(parameters)
        columns = columns if columns.shape[0] == len(problem.bounds) else columns.T
        for column, violation, coverage in zip(columns.T, values["violation"], values["coverage_target"], strict=True):
            scored[np.ascontiguousarray(column, dtype=float).tobytes()] = (float(violation), float(coverage))
        return values["score"]

    found: dict[str, Any] = {}

    def stop(intermediate_result: Any) -> bool:
        best = np.asarray(intermediate_result.x, dtype=float)
        figures = scored.get(np.ascontiguousarray(best).tobytes())
        if figures is None:
            values = problem.evaluate(best[:, None])
            figures = (float(values["violation"][0]), float(values["coverage_target"][0]))
        violation, coverage = figures
        found["meets"] = bool(violation <= 0 and coverage >= MEETS_FRACTION)
        return found["meets"]

    result = optimize.differential_evolution(
        objective, problem.bounds, popsize=settings.population, maxiter=settings.max_generations,
        seed=settings.seed, polish=False, vectorized=True, updating="deferred", init="sobol",
        tol=1e-3, callback=stop, mutation=(0.5, 1.0), recombination=0.7,
    )
    values = problem.evaluate(np.asarray(result.x)[:, None], explain=True)
    poses = values["poses"]
    violation = float(values["violation"][0])
    coverage = float(values["coverage_target"][0])
    return Candidate(
        device=model.name, protocol=str(values["protocol"][0]), tips_mm=poses.tips_mm[0], directions=poses.directions[0],
        entries_mm=values["trajectories"].entry_mm[0], coverage_target=coverage,
        coverage_tumor=float(values["coverage_tumor"][0]), healthy_liver_ml=float(values["healthy_ml"][0]),
        treatment_time_s=float(values["time_s"][0]), violation_mm=violation, score=float(values["score"][0]),
        meets=violation <= 0 and coverage >= MEETS_FRACTION, reasons=list(values["trajectories"].reasons[0]),
        geometry=settings.geometry,
    )


#: Largest ratio, seen in full-solver runs, of a multi-probe zone to the sum of its single-probe
#: zones (three switched Cool-tip needles 15.6 mm apart: 15.7 mL against 3 x 2.3 mL at 2 mm,
#: x 2.3), rounded up: fewer probes than this bound allows are not searched.
INTERACTION_BOUND = 3.0


def _hopeless(context: PlanningContext, zone_model: ZoneModel, device: str, probes: int, criterion: str,
              threshold_c: float) -> bool:
    """Whether ``probes`` probes of a device cannot cover the target's volume even with interaction."""
    devices = getattr(zone_model, "devices", None)
    if devices is None or device not in devices:
        return False
    entry = devices[device].entry
    level = threshold_c if criterion == "isotherm" else entry.arrhenius_level_c
    single = entry.zone_volume_ml(level)
    target = len(context.target_points_mm) * context.evaluation_grid.spacing_mm**3 * 1e-3
    return probes * single * (INTERACTION_BOUND if probes > 1 else 1.0) < target


def _better(first: Candidate, second: Candidate | None) -> bool:
    """Objective order: feasible and meeting, coverage, fewest probes, shortest time, least liver."""
    if second is None:
        return True
    key_first = (not first.meets, first.violation_mm > 0, -round(first.coverage_target, 3), first.probe_count,
                 first.treatment_time_s, first.healthy_liver_ml)
    key_second = (not second.meets, second.violation_mm > 0, -round(second.coverage_target, 3), second.probe_count,
                  second.treatment_time_s, second.healthy_liver_ml)
    return key_first < key_second


#: Smallest gain of fast coverage (fraction of tumor + margin) that one probe more must bring for
#: the search to try one more again with that device (fewest probes first: a probe that buys less
#: than 2 % of coverage is not worth its risk; measured on liver-25mm, 5 -> 6 Cool-tip needles
#: gained 0.1 %, 3 -> 4 LeVeen arrays lost 6 %).
STALL_GAIN = 0.02


@dataclass
class SearchReport:
    """Outcome of :func:`search_plans`.

    Attributes
    ----------
    best : Candidate or None
    tried : list of Candidate
        Best candidate of every (device, probe count) searched, in order.
    reference_axes : dict
        Per device: the reference insertion direction and its violation (mm).
    no_safe_trajectory : bool
        No sampled direction through the tumor's centre was feasible for any device.
    trajectory_reasons : list of str
    wall_s : float
    """

    best: Candidate | None
    tried: list[Candidate]
    reference_axes: dict[str, Any]
    no_safe_trajectory: bool
    trajectory_reasons: list[str]
    wall_s: float


def search_plans(context: PlanningContext, zone_model: ZoneModel, devices: Sequence[str], criterion: str,
                 threshold_c: float, rules: TrajectoryRules, settings: SearchSettings,
                 start_probes: int = 1, progress: bool = True,
                 excluded: set[tuple[str, int]] | None = None) -> SearchReport:
    """Search probe counts from ``start_probes`` up, every device, until one meets the target.

    A device whose best fast coverage grows by less than :data:`STALL_GAIN` with one probe more
    is not searched with more probes (early stopping).

    ``excluded`` lists (device, probe count) pairs not to search (a verification rejected them).
    """
    excluded = excluded or set()
    from tqdm import tqdm

    start = time.perf_counter()
    axes: dict[str, Any] = {}
    reasons: list[str] = []
    for device in devices:
        axis, violation, why = reference_axis(context, get_probe_model(device), rules)
        axes[device] = {"direction": axis, "violation_mm": violation}
        if violation > 0:
            reasons = reasons or why
    no_safe = all(a["violation_mm"] > 0 for a in axes.values())
    tried: list[Candidate] = []
    best: Candidate | None = None
    stages = [(n, d) for n in range(start_probes, settings.max_probes + 1) for d in devices
              if not _hopeless(context, zone_model, d, n, criterion, threshold_c) and (d, n) not in excluded]
    bar = tqdm(total=len(stages), desc="planner search", unit="stage", disable=not progress, leave=False)
    previous: dict[str, float] = {}
    stalled: set[str] = set()
    try:
        for probes in range(start_probes, settings.max_probes + 1):
            for device in devices:
                if _hopeless(context, zone_model, device, probes, criterion, threshold_c) or (device, probes) in excluded:
                    continue
                if device in stalled:
                    bar.update(1)
                    continue
                bar.set_postfix_str(f"{device}, {probes} probe{'s' if probes > 1 else ''}")
                step = time.perf_counter()
                candidate = search_device(context, zone_model, device, probes, criterion, threshold_c, rules,
                                          settings, axes[device]["direction"])
                candidate.wall_s = time.perf_counter() - step
                tried.append(candidate)
                if _better(candidate, best):
                    best = candidate
                if probes >= 2 and device in previous and candidate.coverage_target < previous[device] + STALL_GAIN:
                    stalled.add(device)  # one probe more bought (almost) nothing: no more for this device
                previous[device] = max(previous.get(device, 0.0), candidate.coverage_target)
                bar.update(1)
            if best is not None and best.meets:
                break
    finally:
        bar.close()
    return SearchReport(best, tried, axes, no_safe, reasons, time.perf_counter() - start)


__all__ = ["GEOMETRIES", "Candidate", "SearchReport", "SearchSettings", "reference_axis", "search_device",
           "search_plans"]
