"""Feasibility verdicts: when the margin target is provably out of reach, per criterion.

The planner searches with a fast model and verifies with the full solver; neither proves that
*no* plan exists.  The rules here do, under stated hypotheses, from the case's anatomy and the
zone library, before the search (so that a caller may skip a hopeless search) and again after it
(the verified plan then checks the hypotheses the bound used).

**Large vessel (both criteria).**  The margin is the distance from the tumor surface to the
nearest non-ablated tissue (:func:`rfasim.metrics.margin_metrics`).  A large vessel's lumen
(local calibre at or above the tissue model's thrombosis threshold, 3 mm by default, measured as
the solver measures it, :func:`rfasim.physics.vessels.vessel_calibre_mm`) is held at blood
temperature (``VesselModel``: lumen voxels fixed at 37 degC) and never ablated, and the liver
touching its wall stays viable too: Lu et al. 2002 (AJR 178:47-51) found viable perivascular
tissue next to vessels of 3 mm and more, and rfasim's own heat-sink validation
(docs/validation.md, "Heat sink": an 8 mm vessel 5 mm from the needle, 1 mm grid) coagulates 25 %
of that one-voxel cuff.  So where a large vessel's wall lies at or closer than the margin target
from the tumor surface (wall-to-wall gap <= target), the target is unreachable there, whatever
the probes.  The gap is measured on the planner's 1 mm anatomy grid as the distance between
voxel centres of tumor and large lumen, less one voxel (half a voxel on each side).

**>= 100 degC (the design criterion).**  From the device's single-probe core in the library at
the verification spacing (volume ``V_c``, largest inscribed ball ``r_c``) and the target (tumor
dilated by the margin, without large-vessel lumen and air: volume ``V``, largest ball ``R``):

- *one probe*: ``V_c < V`` or ``r_c < R`` (the core must contain the target);
- *two to N probes* (N the probe limit): ``N k V_c < V``, with ``k`` =
  :data:`MULTI_PROBE_CORE_FACTOR`, the largest ratio of a verified multi-probe >= 100 degC zone to
  the sum of its single cores (the zone of several probes is *not* a union of single cores: heat
  from the neighbours lifts the tissue between needles to 100 degC).  Hypothesis H: no plan
  exceeds ``k``; checked on every verified plan (:func:`check_isotherm_hypothesis`), which
  withdraws the proof when it fails.
- reported but used only when ``k <= 1``: the *disc covering* bound for parallel trajectories
  (each core within ``rho`` of its shaft; N discs of radius ``rho`` cover a disc of radius ``R``
  only if ``rho >= r(N) R``, ``r(N)`` the minimal covering radius: 1, 1, 0.866025, 0.707107,
  0.609382, 0.555905, 0.5 for N = 1..7, proven: Neville 1915, Bezdek 1983/1984; table on Erich
  Friedman's "Circles Covering Circles" page, https://erich-friedman.github.io/packing/circovcir/;
  for N >= 8 the lower bound ``sin(pi / N)``), and the *one core* bound for arrays whose spacing
  rule keeps their cores apart (a connected target is not a union of disjoint closed sets).

Any one of them proves the device unreachable; the criterion is unreachable when every allowed
device is.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import ndimage

from rfasim.planner.library import ZoneLibraryEntry
from rfasim.tissue import TissueClass

#: Minimal radius r(n) of n equal discs covering the unit disc, proven for n <= 7 (Friedman's
#: "Circles Covering Circles"; n = 5 Neville 1915, n = 6 and 7 Bezdek 1983/1984).
PROVEN_COVERING_RATIO = {1: 1.0, 2: 1.0, 3: 0.866025, 4: 0.707107, 5: 0.609382, 6: 0.555905, 7: 0.5}

#: Largest ratio, among the verified multi-probe plans the planner measured, of the >= 100 degC
#: zone's volume to the sum of its probes' single-probe cores at the same spacing: 4 switched
#: Cool-tip 3 cm needles on dome-20mm at 2 mm, 25.20 mL against 4 x 3.16 mL = 1.99 (11 verified
#: plans on 6 phantoms, ratios 1.09-1.99; docs/planner.md "Feasibility"), rounded up.  Heat from
#: the neighbours raises the tissue between needles to 100 degC: a plan's zone is not a union of
#: single cores.
MULTI_PROBE_CORE_FACTOR = 2.0

#: Source of the large-vessel rule, in words (the verdict quotes it).
VESSEL_RULE = ("a large vessel's lumen is never ablated (held at blood temperature) and the liver at its wall stays "
               "viable (Lu et al. 2002: viable perivascular tissue next to vessels >= 3 mm; docs/validation.md: "
               "25 % of the cuff coagulated next to an 8 mm vessel)")


def disc_covering_ratio(count: int) -> float:
    """Smallest radius (in units of the covered disc's) with which ``count`` equal discs can cover a disc.

    Proven values for ``count <= 7`` (:data:`PROVEN_COVERING_RATIO`); beyond, the lower bound
    ``sin(pi / count)`` (each disc of radius ``r < 1`` covers at most an arc of ``2 asin(r)`` of
    the circumference), which keeps the bound valid.

    Parameters
    ----------
    count : int
        Number of covering discs (>= 1).

    Returns
    -------
    float
    """
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    return PROVEN_COVERING_RATIO.get(count, math.sin(math.pi / count))


@dataclass(frozen=True)
class DeviceCore:
    """A device's single-probe >= threshold core from its library entry.

    Attributes
    ----------
    device : str
    spacing_mm : float
        Spacing of the library run (mm).
    threshold_c : float
        Peak temperature of the zone (degC).
    volume_ml : float
    inscribed_radius_mm : float
        Radius of the largest ball inside the core (distance transform maximum, mm).
    axis_radius_mm : float
        Largest distance of the core from the shaft axis (voxel centres plus half a voxel
        diagonal, mm): every cross-section normal to the shaft lies in a disc of this radius.
    diameter_mm : float
        Largest distance between two points of the core (voxel centres plus one voxel diagonal, mm).
    """

    device: str
    spacing_mm: float
    threshold_c: float
    volume_ml: float
    inscribed_radius_mm: float
    axis_radius_mm: float
    diameter_mm: float

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {k: (round(v, 3) if isinstance(v, float) else v) for k, v in self.__dict__.items()}


def device_core(entry: ZoneLibraryEntry, threshold_c: float = 100.0, body_temperature_c: float = 37.0) -> DeviceCore:
    """Measure a library entry's core ``peak >= threshold_c`` (see :class:`DeviceCore`)."""
    core = entry.peak_rise_c >= threshold_c - body_temperature_c
    spacing = float(entry.spacing_mm)
    if not core.any():
        return DeviceCore(entry.device, spacing, threshold_c, 0.0, 0.0, 0.0, 0.0)
    inscribed = float(ndimage.distance_transform_edt(np.pad(core, 1), sampling=spacing).max())
    points = entry.origin_mm[None, :] + spacing * np.argwhere(core)
    axis = float(np.linalg.norm(points[:, :2], axis=1).max()) + 0.5 * spacing * math.sqrt(2.0)
    hull = points
    try:
        from scipy.spatial import ConvexHull

        hull = points[ConvexHull(points).vertices]
    except Exception:  # degenerate (flat) cores: all points
        pass
    difference = hull[:, None, :] - hull[None, :, :]
    diameter = float(np.sqrt((difference**2).sum(-1)).max()) + spacing * math.sqrt(3.0)
    return DeviceCore(entry.device, spacing, float(threshold_c), float(core.sum()) * spacing**3 * 1e-3,
                      inscribed, axis, diameter)


@dataclass(frozen=True)
class TargetShape:
    """What the zone must cover: the tumor dilated by the margin target.

    Attributes
    ----------
    volume_ml : float
        Volume of the tumor and its margin shell, large-vessel lumen and air excluded (mL).
    inscribed_radius_mm : float
        Radius of the largest ball inside it (mm).
    spacing_mm : float
        Spacing of the grid it was measured on (mm).
    """

    volume_ml: float
    inscribed_radius_mm: float
    spacing_mm: float


@dataclass(frozen=True)
class VesselGap:
    """The large vessel nearest the tumor.

    Attributes
    ----------
    wall_gap_mm : float or None
        Tumor surface to large-vessel wall (mm); None: no large vessel.
    calibre_mm : float or None
        Local calibre of that vessel (mm).
    surface_fraction : float
        Fraction of the tumor's surface voxels whose wall gap is at most the margin target.
    thrombosis_threshold_mm : float
        Calibre below which vessels thrombose (not a permanent sink; mm).
    """

    wall_gap_mm: float | None
    calibre_mm: float | None
    surface_fraction: float
    thrombosis_threshold_mm: float


def _crop(mask: np.ndarray, pad: int) -> tuple[slice, ...]:
    index = np.argwhere(mask)
    low = np.maximum(index.min(axis=0) - pad, 0)
    high = np.minimum(index.max(axis=0) + pad + 1, mask.shape)
    return tuple(slice(int(a), int(b)) for a, b in zip(low, high, strict=True))


def large_vessel_gap(classes: np.ndarray, tumor: np.ndarray, spacing_mm: float, margin_mm: float,
                     thrombosis_threshold_mm: float, reach_mm: float = 25.0) -> VesselGap:
    """The nearest large vessel's wall gap to a tumor, on an isotropic label grid.

    Parameters
    ----------
    classes : ndarray of uint8
        :class:`~rfasim.tissue.TissueClass` per voxel.
    tumor : ndarray of bool
        The target tumor on the same grid.
    spacing_mm : float
        Isotropic voxel edge (mm).
    margin_mm : float
        Margin target (mm).
    thrombosis_threshold_mm : float
        Vessels whose calibre less one voxel is below this thrombose (the solver's rule,
        :class:`rfasim.physics.vessels.VesselThrombosis`); 0: every vessel is large.
    reach_mm : float
        The labels are cropped this far (mm) around the tumor: the nearby vessels' cross-sections
        (for their calibre) must lie inside.  A gap above the margin target is reported as no
        large vessel (it cannot cut the margin).
    """
    from rfasim.physics.vessels import vessel_calibre_mm

    if not tumor.any():
        raise ValueError("the tumor mask is empty")
    box = _crop(tumor, math.ceil(reach_mm / spacing_mm))
    lumen = classes[box] == TissueClass.VESSEL
    local_tumor = tumor[box]
    if not lumen.any():
        return VesselGap(None, None, 0.0, float(thrombosis_threshold_mm))
    near = ndimage.distance_transform_edt(~local_tumor, sampling=spacing_mm) <= margin_mm + 2.0 * spacing_mm
    if not (lumen & near).any():  # no vessel within the margin: nothing can cut it
        return VesselGap(None, None, 0.0, float(thrombosis_threshold_mm))
    calibre = vessel_calibre_mm(lumen, spacing_mm)
    large = lumen & (calibre - spacing_mm >= thrombosis_threshold_mm)
    if not large.any():
        return VesselGap(None, None, 0.0, float(thrombosis_threshold_mm))
    distance, nearest = ndimage.distance_transform_edt(~large, sampling=spacing_mm, return_indices=True)
    surface = local_tumor & ~ndimage.binary_erosion(local_tumor)
    gaps = distance[surface] - spacing_mm  # centre to centre, less half a voxel on each side
    where = np.argwhere(surface)[int(np.argmin(gaps))]
    vessel_voxel = tuple(int(nearest[axis][tuple(where)]) for axis in range(3))
    gap = float(max(gaps.min(), 0.0))
    return VesselGap(gap, float(calibre[vessel_voxel]), float(np.mean(gaps <= margin_mm + 1e-9)),
                     float(thrombosis_threshold_mm))


def target_shape(classes: np.ndarray, tumor: np.ndarray, spacing_mm: float, margin_mm: float,
                 large_lumen: np.ndarray | None = None) -> TargetShape:
    """Volume and inscribed radius of the tumor dilated by the margin (lumen and air excluded)."""
    pad = math.ceil(margin_mm / spacing_mm) + 2
    box = _crop(tumor, pad)
    local = tumor[box]
    dilated = ndimage.distance_transform_edt(~local, sampling=spacing_mm) <= margin_mm + 1e-9
    never = classes[box] == TissueClass.BACKGROUND
    if large_lumen is not None:
        never |= large_lumen[box]
    target = dilated & (~never | local)
    inscribed = float(ndimage.distance_transform_edt(np.pad(target, 1), sampling=spacing_mm).max())
    return TargetShape(float(target.sum()) * spacing_mm**3 * 1e-3, inscribed, float(spacing_mm))


@dataclass
class CriterionFeasibility:
    """Whether a criterion's margin target is provably unreachable, and by which bound.

    Attributes
    ----------
    criterion : str
        ``isotherm`` (>= 100 degC) or ``arrhenius``.
    unreachable : bool
    reason : str
        The proof, with its numbers (empty when none applies).
    bound : str
        ``large vessel``, ``volume``, ``disc covering``, ``one core``, a combination per device, or
        ``none``.
    figures : dict
        The numbers the bounds used (planner.json).
    hypothesis_held : bool or None
        After verification: whether the verified plan kept the hypothesis the bound used
        (None: not checked).
    """

    criterion: str
    unreachable: bool
    reason: str = ""
    bound: str = "none"
    figures: dict[str, Any] = field(default_factory=dict)
    hypothesis_held: bool | None = None

    def status(self, met: bool | None) -> str:
        """``met`` / ``not met`` / ``unreachable: <reason>`` for a verified outcome (None: not verified)."""
        if met:
            return "met"
        if self.unreachable:
            return f"unreachable: {self.reason}"
        return "not met" if met is not None else "not verified"

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {"criterion": self.criterion, "unreachable": self.unreachable, "reason": self.reason,
                "bound": self.bound, "figures": self.figures, "hypothesis_held": self.hypothesis_held}


def vessel_feasibility(gap: VesselGap, margin_mm: float, criterion: str, vessels_modelled: bool = True,
                       ) -> CriterionFeasibility:
    """The large-vessel rule (module docstring) for one criterion."""
    figures = {"wall_gap_mm": gap.wall_gap_mm, "vessel_calibre_mm": gap.calibre_mm,
               "thrombosis_threshold_mm": gap.thrombosis_threshold_mm, "margin_target_mm": margin_mm,
               "surface_fraction_cut": round(gap.surface_fraction, 3)}
    if not vessels_modelled or gap.wall_gap_mm is None or gap.wall_gap_mm > margin_mm:
        return CriterionFeasibility(criterion, False, figures=figures)
    reason = (f"a large vessel (calibre {gap.calibre_mm:.1f} mm >= the {gap.thrombosis_threshold_mm:g} mm thrombosis "
              f"threshold) has its wall {gap.wall_gap_mm:.1f} mm from the tumor, not beyond the {margin_mm:g} mm margin "
              f"target ({100 * gap.surface_fraction:.0f} % of the tumor surface): {VESSEL_RULE}, so the margin there "
              f"stays below {gap.wall_gap_mm:.1f} mm")
    return CriterionFeasibility(criterion, True, reason, "large vessel", figures)


def isotherm_device_bound(core: DeviceCore, target: TargetShape, max_probes: int, geometry: str,
                          min_spacing_mm: float, kind: str,
                          multi_probe_factor: float | None = None) -> tuple[bool, str, dict[str, Any]]:
    """Whether up to ``max_probes`` probes of one device provably cannot hold the target in their cores.

    One probe: the volume and the one-core bound.  Two or more: the volume bound with the
    multi-probe factor (the verified multi-probe zones exceed the single cores; the disc-covering
    and the one-core bounds need cores no larger than single ones and are reported, not used,
    unless ``multi_probe_factor <= 1``).  Returns (unreachable, the bounds and their numbers in
    words, figures).  See the module docstring.
    """
    n = int(max_probes)
    factor = MULTI_PROBE_CORE_FACTOR if multi_probe_factor is None else float(multi_probe_factor)
    figures: dict[str, Any] = {"core": core.as_dict(), "max_probes": n, "geometry": geometry,
                               "min_spacing_mm": min_spacing_mm, "multi_probe_factor": factor}
    single: list[str] = []
    if core.volume_ml < target.volume_ml:
        single.append(f"volume {core.volume_ml:.2f} < {target.volume_ml:.1f} mL")
    if core.inscribed_radius_mm < target.inscribed_radius_mm:
        single.append(f"largest ball {core.inscribed_radius_mm:.1f} < {target.inscribed_radius_mm:.1f} mm")
    figures["one_probe"] = {"proven": bool(single), "bounds": single}
    if n == 1:
        return bool(single), ("one probe: " + ", ".join(single)) if single else "", figures
    multi: list[str] = []
    total = n * factor * core.volume_ml
    figures["volume_bound"] = {"cores_ml": round(total, 3), "target_ml": round(target.volume_ml, 3)}
    if total < target.volume_ml:
        multi.append(f"volume: {n} x {factor:.2f} x {core.volume_ml:.2f} mL = {total:.1f} mL < {target.volume_ml:.1f} mL")
    # Bounds that hold only if multi-probe cores are no larger than single ones (factor <= 1).
    ratio = disc_covering_ratio(n)
    needed = ratio * target.inscribed_radius_mm
    covering = geometry == "parallel" and core.axis_radius_mm < needed
    figures["disc_covering_bound"] = {"core_axis_radius_mm": round(core.axis_radius_mm, 2), "covering_ratio": ratio,
                                      "needed_radius_mm": round(needed, 2), "would_prove": covering,
                                      "used": factor <= 1.0}
    if covering and factor <= 1.0:
        multi.append(f"disc covering: cores within {core.axis_radius_mm:.1f} mm of their shafts, {n} discs cover the "
                     f"{target.inscribed_radius_mm:.1f} mm cross-section only with radius >= {ratio:.4f} x "
                     f"{target.inscribed_radius_mm:.1f} = {needed:.1f} mm")
    disjoint = kind == "multitine" and min_spacing_mm > core.diameter_mm
    apart = disjoint and core.inscribed_radius_mm < target.inscribed_radius_mm
    figures["one_core_bound"] = {"cores_never_touch": disjoint, "core_diameter_mm": round(core.diameter_mm, 2),
                                 "would_prove": apart, "used": factor <= 1.0}
    if apart and factor <= 1.0:
        multi.append(f"one core: cores {core.diameter_mm:.1f} mm across never touch at {min_spacing_mm:g} mm, and one "
                     f"core's largest ball ({core.inscribed_radius_mm:.1f} mm) is smaller than the target's")
    proven = bool(single) and bool(multi)
    words = ""
    if proven:
        words = f"one probe: {', '.join(single)}; 2-{n} probes: {'; '.join(multi)}"
    return proven, words, figures


def isotherm_feasibility(cores: dict[str, DeviceCore], target: TargetShape, max_probes: int, geometry: str,
                         spacing_rules: dict[str, tuple[float, str]], threshold_c: float = 100.0,
                         ) -> CriterionFeasibility:
    """The >= 100 degC bounds over every allowed device (module docstring).

    ``spacing_rules``: per device, its minimal spacing (mm) and kind (``multitine`` or other).
    """
    figures: dict[str, Any] = {"target": {"volume_ml": round(target.volume_ml, 3),
                                          "inscribed_radius_mm": round(target.inscribed_radius_mm, 2),
                                          "spacing_mm": target.spacing_mm},
                               "threshold_c": threshold_c, "devices": {}}
    reasons, open_devices = [], []
    for name, core in cores.items():
        minimum, kind = spacing_rules[name]
        proven, why, device_figures = isotherm_device_bound(core, target, max_probes, geometry, minimum, kind)
        device_figures["unreachable"] = proven
        figures["devices"][name] = device_figures
        if proven:
            reasons.append(f"{name} (>= {threshold_c:g} degC core at {core.spacing_mm:g} mm): {why}")
        else:
            open_devices.append(name)
    if open_devices or not cores:
        figures["not_proven_for"] = open_devices
        return CriterionFeasibility("isotherm", False, figures=figures)
    reason = (f"with at most {max_probes} probes (a multi-probe zone counted as up to "
              f"{MULTI_PROBE_CORE_FACTOR:g} x its single cores, the most the verified plans showed): "
              + " | ".join(reasons))
    return CriterionFeasibility("isotherm", True, reason, "volume / one core", figures)


def check_isotherm_hypothesis(feasibility: CriterionFeasibility, device: str, probe_count: int,
                              zone_volume_ml: float) -> bool:
    """Check hypothesis H on a verified plan's >= threshold zone; record it and return whether it held.

    H: the zone is at most the probe's single core (one probe), or ``k`` times the probes' single
    cores together (several).  When it fails, an isotherm proof is withdrawn (no proof remains).
    """
    device_figures = feasibility.figures.get("devices", {}).get(device)
    if device_figures is None:
        return True
    core_ml = float(device_figures["core"]["volume_ml"])
    factor = 1.0 if probe_count == 1 else float(device_figures["multi_probe_factor"])
    allowed = probe_count * factor * core_ml
    held = zone_volume_ml <= allowed + 1e-9
    feasibility.figures.setdefault("verified_check", []).append({
        "device": device, "probes": probe_count, "zone_ml": round(zone_volume_ml, 3),
        "allowed_ml": round(allowed, 3), "ratio_to_single_cores": round(zone_volume_ml / max(probe_count * core_ml,
                                                                                             1e-12), 3),
        "held": bool(held)})
    feasibility.hypothesis_held = bool(held) and feasibility.hypothesis_held is not False
    if not held and feasibility.unreachable and feasibility.bound != "large vessel":
        feasibility.unreachable = False
        feasibility.reason = ""
        feasibility.figures["withdrawn"] = (f"a verified {probe_count}-probe plan made {zone_volume_ml:.2f} mL, more "
                                            f"than the {allowed:.2f} mL the bound allows: no proof remains")
    return bool(held)




def assess_feasibility(context: Any, cores: dict[str, DeviceCore], max_probes: int, geometry: str,
                       threshold_c: float = 100.0) -> dict[str, CriterionFeasibility]:
    """Both criteria's feasibility verdicts for a planning context (module docstring).

    Parameters
    ----------
    context : rfasim.planner.context.PlanningContext
        The case prepared for the search (its 1 mm anatomy grid holds the labels).
    cores : dict of str to DeviceCore
        Per allowed device, its single-probe >= ``threshold_c`` core at the verification spacing.
    max_probes : int
        The probe limit.
    geometry : str
        ``parallel``, ``converging`` or ``free``.
    threshold_c : float
        The design criterion's isotherm (degC).

    Returns
    -------
    dict of str to CriterionFeasibility
        Keys ``isotherm`` and ``arrhenius``.
    """
    from rfasim.case import build_tissue_model
    from rfasim.planner.trajectories import spacing_rule
    from rfasim.probes import get_probe_model

    anatomy = context.anatomy
    spacing = float(anatomy.grid.spacing_mm)
    tumor = (anatomy.classes == TissueClass.TUMOR) & ~anatomy.other_tumors
    if not tumor.any():  # a tumor below the anatomy grid's resolution: no proof
        return {name: CriterionFeasibility(name, False) for name in ("isotherm", "arrhenius")}
    vessels = build_tissue_model(context.case.tissue_table).vessels
    margin = float(context.margin_target_mm)
    gap = large_vessel_gap(anatomy.classes, tumor, spacing, margin, vessels.thrombosis_diameter_mm)
    modelled = vessels.kind != "none"
    verdicts = {name: vessel_feasibility(gap, margin, name, modelled) for name in ("isotherm", "arrhenius")}
    if verdicts["isotherm"].unreachable:
        return verdicts
    # Every vessel voxel (large or small) and air left out: a smaller target, a weaker (safe) bound.
    shape = target_shape(anatomy.classes, tumor, spacing, margin, anatomy.classes == TissueClass.VESSEL)
    rules = {}
    for name in cores:
        model = get_probe_model(name)
        rules[name] = (spacing_rule(model).min_spacing_mm, model.kind)
    bound = isotherm_feasibility(cores, shape, max_probes, geometry, rules, threshold_c)
    bound.figures["vessel"] = verdicts["isotherm"].figures
    verdicts["isotherm"] = bound
    return verdicts


__all__ = [
    "PROVEN_COVERING_RATIO",
    "VESSEL_RULE",
    "CriterionFeasibility",
    "DeviceCore",
    "TargetShape",
    "VesselGap",
    "assess_feasibility",
    "check_isotherm_hypothesis",
    "device_core",
    "disc_covering_ratio",
    "isotherm_device_bound",
    "isotherm_feasibility",
    "large_vessel_gap",
    "target_shape",
    "vessel_feasibility",
]
