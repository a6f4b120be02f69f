"""The fast zone model the search uses, behind the :class:`ZoneModel` protocol.

:class:`LibraryZoneModel` predicts the peak temperature of a multi-probe plan at given world
points from single-probe library runs (:mod:`rfasim.planner.library`):

``rise(x) = [a_p * max_i P_i(x) + b_p * (sum_i E_i(x) - max_i E_i(x))] * (1 - exp(-d_v(x) / lambda))``

- ``P_i`` / ``E_i``: the peak / end-of-heating temperature rise of probe ``i`` alone (its library
  field moved and turned into place);
- ``a_p, b_p``: the protocol's weights (simultaneous, switched, sequential), fitted once to a
  two-probe full-solver run (:mod:`rfasim.planner.calibration`): how much of a probe's own peak
  survives the shared generator, and how much its neighbours' heat adds;
- ``d_v``: distance (mm) from the point to the nearest large-vessel voxel; ``lambda``: the
  heat-sink length fitted once to a full-solver run with a 6 mm vessel beside the probe (the
  heat-sink correction).

The zone of the isotherm criterion is ``37 + rise >= threshold``; the Arrhenius zone is
``37 + rise >= level_p``, the peak temperature whose zone matched the Arrhenius zone's volume in
the calibration run.  These are modelling assumptions: the planner verifies its best candidates
with the full solver and reports how far the two differ.

A calibrated physics model (issue: fidelity) plugs in by implementing :class:`ZoneModel`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

from rfasim.planner.library import ZoneLibraryEntry

PROTOCOLS = ("switched", "sequential", "simultaneous")

#: Smallest calibration overlap (intersection over union with the full solver's zone) for the
#: planner to trust a protocol's fast prediction under a criterion.
MINIMUM_AGREEMENT = 0.7


@dataclass(frozen=True)
class ProtocolWeights:
    """Combination weights of one multi-probe protocol (see the module docstring).

    Attributes
    ----------
    own_peak : float
        ``a_p``: factor on the largest single-probe peak rise.
    neighbour_heat : float
        ``b_p``: factor on the other probes' end-of-heating rise.
    arrhenius_level_c : float
        Peak temperature (degC) whose zone matches the Arrhenius zone under this protocol.
    agreement : dict
        Intersection over union of the model's zones with the full solver's in the calibration
        run, per criterion (``"isotherm"``, ``"arrhenius"``).
    probe_count : int
        Number of probes of the calibration run.
    """

    own_peak: float = 1.0
    neighbour_heat: float = 0.0
    arrhenius_level_c: float = 60.0
    agreement: dict[str, float] = field(default_factory=dict)
    probe_count: int = 2


@dataclass
class DeviceZones:
    """Everything the fast model knows about one device: its library entry and calibrations.

    Attributes
    ----------
    entry : ZoneLibraryEntry
    heat_sink_length_mm : float
        ``lambda`` of the heat-sink correction (mm).
    heat_sink_agreement : dict
        Intersection over union of the corrected model's zones with the full solver's in the
        vessel calibration run, per criterion.
    protocols : dict of str to ProtocolWeights
        Multi-probe protocols that were calibrated (two probes).
    protocols_more_probes : dict of str to ProtocolWeights
        The same calibrated with more probes (four), where the number of probes matters.
    protocols_by_count : dict of str to dict of int to ProtocolWeights
        Weights calibrated with exactly that number of probes (the switched generator shares its
        time among them): used as they are for that count, instead of interpolating.
    """

    entry: ZoneLibraryEntry
    heat_sink_length_mm: float = 3.0
    heat_sink_agreement: dict[str, float] = field(default_factory=dict)
    protocols: dict[str, ProtocolWeights] = field(default_factory=dict)
    protocols_more_probes: dict[str, ProtocolWeights] = field(default_factory=dict)
    protocols_by_count: dict[str, dict[int, ProtocolWeights]] = field(default_factory=dict)

    def weights(self, protocol: str, probe_count: int) -> ProtocolWeights:
        """The combination weights (one probe alone: its own library zone).

        Weights calibrated with this number of probes are used as they are; otherwise, with two
        calibrations (2 and 4 probes), they are interpolated linearly in ``1 / probe_count``
        (extrapolated beyond, weights kept non-negative); the agreement is the worse of the two.
        """
        if probe_count == 1 or protocol == "single":
            return ProtocolWeights(1.0, 0.0, self.entry.arrhenius_level_c)
        exact = self.protocols_by_count.get(protocol, {}).get(probe_count)
        if exact is not None:
            return exact
        few = self.protocols[protocol]
        many = self.protocols_more_probes.get(protocol)
        if many is None or many.probe_count == few.probe_count:
            return few
        t = (1.0 / probe_count - 1.0 / few.probe_count) / (1.0 / many.probe_count - 1.0 / few.probe_count)

        def mix(a: float, b: float) -> float:
            return max(0.0, a + t * (b - a))

        agreement = {k: min(v, many.agreement.get(k, v)) for k, v in few.agreement.items()}
        return ProtocolWeights(mix(few.own_peak, many.own_peak), mix(few.neighbour_heat, many.neighbour_heat),
                               mix(few.arrhenius_level_c, many.arrhenius_level_c), agreement, probe_count)

    def treatment_time_s(self, protocol: str, probe_count: int, reposition_s: float = 60.0) -> float:
        """Treatment time (s): one ablation, or one per probe plus repositioning when sequential."""
        duration = self.entry.duration_s
        if protocol == "sequential" and probe_count > 1:
            return probe_count * duration + (probe_count - 1) * reposition_s
        return duration


@dataclass
class ProbePoses:
    """Probe tips and directions, for a batch of candidate plans.

    Attributes
    ----------
    tips_mm : ndarray, shape (candidates, probes, 3)
        World tips (mm).
    directions : ndarray, shape (candidates, probes, 3)
        Unit vectors from entry towards tip.
    """

    tips_mm: np.ndarray
    directions: np.ndarray


@runtime_checkable
class ZoneModel(Protocol):
    """What the search needs from a zone model (a calibrated physics model implements the same)."""

    def peak_temperatures_c(self, device: str, protocols: Sequence[str], poses: ProbePoses, points_mm: np.ndarray,
                            vessel_distance_mm: np.ndarray, criterion: str | None) -> dict[str, np.ndarray]:
        """Predicted peak temperature (degC) per protocol, each of shape (candidates, points).

        ``criterion`` (``isotherm`` or ``arrhenius``): the zone criterion the prediction is read
        under; a model corrected per criterion applies that criterion's correction only.  None:
        no correction (the library's own prediction).
        """
        ...

    def arrhenius_level_c(self, device: str, protocol: str, probe_count: int) -> float:
        """Peak temperature (degC) above which the model predicts Arrhenius coagulation."""
        ...

    def treatment_time_s(self, device: str, protocol: str, probe_count: int) -> float:
        """Treatment time (s) of a plan."""
        ...

    def protocols(self, device: str, criterion: str | None = None,
                  probe_count: int | None = None) -> tuple[str, ...]:
        """Multi-probe protocols the model predicts well enough for the device (criterion, count)."""
        ...


def probe_frames(directions: np.ndarray) -> np.ndarray:
    """Probe-frame axes (..., 3, 3): rows first lateral, second lateral, shaft direction.

    The same convention as :func:`rfasim.probes.placement.lateral_axes` at rotation 0, so that a
    library field computed with the shaft along +z lands where the solver puts the probe.
    """
    direction = np.asarray(directions, dtype=float)
    direction = direction / np.linalg.norm(direction, axis=-1, keepdims=True)
    reference = np.zeros_like(direction)
    near_x = np.abs(direction[..., 0]) > np.cos(np.radians(25.0))
    reference[..., 0] = np.where(near_x, 0.0, 1.0)
    reference[..., 1] = np.where(near_x, 1.0, 0.0)
    first = reference - np.sum(reference * direction, axis=-1, keepdims=True) * direction
    first /= np.linalg.norm(first, axis=-1, keepdims=True)
    second = np.cross(direction, first)
    return np.stack([first, second, direction], axis=-2)


def heat_sink_factor(vessel_distance_mm: np.ndarray, length_mm: float) -> np.ndarray:
    """``1 - exp(-d / lambda)``: 0 in a vessel, towards 1 far from it."""
    distance = np.maximum(np.asarray(vessel_distance_mm, dtype=float), 0.0)
    return 1.0 - np.exp(-distance / max(length_mm, 1e-6))


def combine_rises(peak_rises: np.ndarray, end_rises: np.ndarray, weights: ProtocolWeights) -> np.ndarray:
    """Combined peak rise from per-probe rises of shape (probes, ...) (see the module docstring)."""
    own = weights.own_peak * peak_rises.max(axis=0)
    if peak_rises.shape[0] == 1:
        return own
    neighbours = end_rises.sum(axis=0) - end_rises.max(axis=0)
    return own + weights.neighbour_heat * neighbours


#: Protocols whose probes share one generator at the same time: their weights are not
#: extrapolated to more probes than a calibration run had (see :meth:`LibraryZoneModel.protocols`).
SHARED_GENERATOR_PROTOCOLS = ("simultaneous",)


def _calibrated_for(zones: DeviceZones, protocol: str, probe_count: int | None) -> bool:
    """Whether some calibration run of ``protocol`` had at least ``probe_count`` probes."""
    counts = [zones.protocols[protocol].probe_count] if protocol in zones.protocols else []
    more = zones.protocols_more_probes.get(protocol)
    if more is not None:
        counts.append(more.probe_count)
    counts.extend(zones.protocols_by_count.get(protocol, {}))
    return bool(counts) and (probe_count or 0) <= max(counts)


class LibraryZoneModel:
    """The fast zone model from single-probe library runs (see the module docstring).

    Parameters
    ----------
    devices : dict of str to DeviceZones
        Per catalog name.
    body_temperature_c : float
        Body temperature of the tissue model (degC).
    reposition_s : float
        Time (s) between sequential ablations.
    """

    def __init__(self, devices: dict[str, DeviceZones], body_temperature_c: float = 37.0,
                 reposition_s: float = 60.0) -> None:
        self.devices = dict(devices)
        self.body_temperature_c = float(body_temperature_c)
        self.reposition_s = float(reposition_s)
        #: Per device, per criterion (``isotherm``, ``arrhenius``): factor on the predicted rise,
        #: fitted to a verifying full simulation (:meth:`correct_from`).  A criterion without a
        #: fitted factor is not corrected (factor 1): another criterion's factor is never used.
        self.rise_scale: dict[str, dict[str, float]] = {}

    def rise_factor(self, device: str, criterion: str | None) -> float:
        """The factor on the device's predicted rise under a criterion (1 where none is fitted)."""
        if criterion is None:
            return 1.0
        return self.rise_scale.get(device, {}).get(criterion, 1.0)

    def protocols(self, device: str, criterion: str | None = None,
                  probe_count: int | None = None) -> tuple[str, ...]:
        zones = self.devices[device]
        calibrated = zones.protocols

        def trusted(protocol: str) -> bool:
            if criterion is None:
                return True
            exact = zones.protocols_by_count.get(protocol, {}).get(probe_count or 0)
            if exact is not None:  # calibrated with this number of probes: its own agreement decides
                runs = [exact]
            elif protocol in SHARED_GENERATOR_PROTOCOLS and not _calibrated_for(zones, protocol, probe_count):
                # One generator feeds every probe at once: its power and current limit are shared,
                # so weights fitted with fewer probes over-predict (four simultaneous Cool-tips:
                # fast 100 %, verified 0 % coverage, 65 W delivered against the 2 A limit).
                return False
            else:
                runs = [calibrated[protocol], zones.protocols_more_probes.get(protocol, calibrated[protocol])]
            return all(run.agreement.get(criterion, 1.0) >= MINIMUM_AGREEMENT for run in runs)

        return tuple(p for p in PROTOCOLS if p in calibrated and trusted(p))

    def arrhenius_level_c(self, device: str, protocol: str, probe_count: int) -> float:
        return self.devices[device].weights(protocol, probe_count).arrhenius_level_c

    def treatment_time_s(self, device: str, protocol: str, probe_count: int) -> float:
        return self.devices[device].treatment_time_s(protocol, probe_count, self.reposition_s)

    def single_rises(self, device: str, poses: ProbePoses, points_mm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-probe peak and end rises, shape (probes, candidates, points)."""
        from rfasim.planner._sampling import sample_probe_fields

        entry = self.devices[device].entry
        tips = np.ascontiguousarray(poses.tips_mm, dtype=np.float64)
        frames = np.ascontiguousarray(probe_frames(poses.directions), dtype=np.float64)
        points = np.ascontiguousarray(points_mm, dtype=np.float64)
        candidates, probes = tips.shape[:2]
        peak = np.empty((probes, candidates, points.shape[0]), dtype=np.float32)
        end = np.empty_like(peak)
        sample_probe_fields(np.ascontiguousarray(entry.peak_rise_c, dtype=np.float32),
                            np.ascontiguousarray(entry.end_rise_c, dtype=np.float32),
                            np.asarray(entry.origin_mm, dtype=np.float64), float(entry.spacing_mm),
                            points, tips, frames, peak, end)
        return peak, end

    def peak_temperatures_c(self, device: str, protocols: Sequence[str], poses: ProbePoses, points_mm: np.ndarray,
                            vessel_distance_mm: np.ndarray, criterion: str | None) -> dict[str, np.ndarray]:
        zones = self.devices[device]
        peak, end = self.single_rises(device, poses, points_mm)
        sink = heat_sink_factor(vessel_distance_mm, zones.heat_sink_length_mm)[None, :].astype(np.float32)
        factor = self.rise_factor(device, criterion)
        results = {}
        for protocol in protocols:
            rise = combine_rises(peak, end, zones.weights(protocol, peak.shape[0]))
            results[protocol] = self.body_temperature_c + rise * sink * factor
        return results

    def zone_reach_mm(self, device: str) -> float:
        """How far (mm) the device's largest zone (Arrhenius level or 100 degC) reaches beyond its
        active part in the library run: the simulation box of a verification needs that much
        margin, plus the domain-growth clearance, to be right the first time."""
        entry = self.devices[device].entry
        level = min(entry.arrhenius_level_c, 100.0) - self.body_temperature_c
        zone = entry.peak_rise_c >= level
        if not zone.any():
            return 0.0
        from rfasim.planner.library import active_points_probe_frame
        from rfasim.probes import get_probe_model

        index = np.argwhere(zone)
        points = entry.origin_mm[None, :] + entry.spacing_mm * index
        active = active_points_probe_frame(get_probe_model(device))
        low, high = active.min(axis=0), active.max(axis=0)
        beyond = np.maximum(np.maximum(low[None] - points, points - high[None]), 0.0)
        return float(beyond.max())

    def correct_for_spacing(self, device: str, fine: ZoneLibraryEntry, criterion: str, threshold_c: float) -> float:
        """Fit the device's rise factor under a criterion to its library run at the verification's spacing.

        Zones depend on the grid spacing (a Cool-tip 3 cm Arrhenius zone: 46.5 mL at 2 mm, about
        37 mL at 1 mm): the search runs on the coarse library, the verification on a finer grid.
        The coarse entry is sampled on the fine entry's voxels and its factor fitted
        (:meth:`correct_from`) so that its zone under the criterion overlaps the fine one best.
        The factor is the criterion's own; the other criterion's is left as it is.
        """
        coarse = self.devices[device].entry
        index = np.indices(fine.peak_rise_c.shape).reshape(3, -1).T
        points = fine.origin_mm[None, :] + fine.spacing_mm * index
        fast = self.body_temperature_c + coarse.sample("peak_rise_c", points)
        if criterion == "isotherm":
            truth, level = fine.peak_rise_c.ravel() >= threshold_c - self.body_temperature_c, threshold_c
        else:
            truth = fine.peak_rise_c.ravel() >= fine.arrhenius_level_c - self.body_temperature_c
            level = coarse.arrhenius_level_c
        return self.correct_from(device, fast, truth, level, criterion)

    def correct_from(self, device: str, fast_peak_c: np.ndarray, verified_zone: np.ndarray,
                     threshold_c: float, criterion: str) -> float:
        """Fit the device's rise factor under a criterion so that the fast zone overlaps a verified zone best.

        ``fast_peak_c`` is this model's prediction under ``criterion`` (with its current factor)
        on a grid, ``verified_zone`` the full simulation's zone (mask) on the same grid under that
        criterion, whose model level is ``threshold_c`` (degC).  The factor found (0.5-1.5 times
        the current one, a grid search) multiplies every later prediction for the device under
        that criterion only; it returns the factor.  An empty verified zone leaves the factor
        as it is (nothing to fit to).
        """
        if criterion not in ("isotherm", "arrhenius"):
            raise ValueError(f"unknown zone criterion {criterion!r}: expected 'isotherm' or 'arrhenius'")
        current = self.rise_factor(device, criterion)
        truth = np.asarray(verified_zone, dtype=bool)
        if not truth.any():  # no verified zone to fit to: every small enough factor would "agree"
            return current
        rise = fast_peak_c - self.body_temperature_c
        best, best_overlap = 1.0, -1.0
        for factor in np.linspace(0.5, 1.5, 41):
            zone = self.body_temperature_c + factor * rise >= threshold_c
            union = np.count_nonzero(zone | truth)
            overlap = 1.0 if union == 0 else np.count_nonzero(zone & truth) / union
            if overlap > best_overlap + 1e-9:
                best, best_overlap = factor, overlap
        self.rise_scale.setdefault(device, {})[criterion] = current * float(best)
        return self.rise_scale[device][criterion]

    def describe(self) -> dict[str, object]:
        """Plain-data description (for planner.json): per device, its calibration figures."""
        description: dict[str, object] = {}
        for name, zones in self.devices.items():
            entry = zones.entry
            description[name] = {
                "library_spacing_mm": entry.spacing_mm,
                "single_probe_zone_ml_100c": round(entry.zone_volume_ml(100.0, self.body_temperature_c), 3),
                "arrhenius_level_c": round(entry.arrhenius_level_c, 2),
                "arrhenius_agreement_iou": round(entry.arrhenius_agreement, 3),
                "duration_s": entry.duration_s,
                "library_run_wall_s": round(entry.wall_s, 1),
                "heat_sink_length_mm": round(zones.heat_sink_length_mm, 2),
                "heat_sink_agreement_iou": {k: round(v, 3) for k, v in zones.heat_sink_agreement.items()},
                "protocols": {
                    p: {"own_peak": round(w.own_peak, 3), "neighbour_heat": round(w.neighbour_heat, 3),
                        "arrhenius_level_c": round(w.arrhenius_level_c, 2),
                        "agreement_iou": {k: round(v, 3) for k, v in w.agreement.items()}}
                    for p, w in zones.protocols.items()
                },
                "protocols_four_probes": {
                    p: {"own_peak": round(w.own_peak, 3), "neighbour_heat": round(w.neighbour_heat, 3),
                        "arrhenius_level_c": round(w.arrhenius_level_c, 2),
                        "agreement_iou": {k: round(v, 3) for k, v in w.agreement.items()}}
                    for p, w in zones.protocols_more_probes.items()
                },
                "protocols_by_count": {
                    p: {str(n): {"own_peak": round(w.own_peak, 3), "neighbour_heat": round(w.neighbour_heat, 3),
                                 "agreement_iou": {k: round(v, 3) for k, v in w.agreement.items()}}
                        for n, w in sorted(counts.items())}
                    for p, counts in zones.protocols_by_count.items()
                },
            }
        return description


def sample_single(entry: ZoneLibraryEntry, tips_mm: Sequence[np.ndarray], directions: Sequence[np.ndarray],
                  points_mm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-probe peak and end rises of one plan at points, shape (probes, points)."""
    model = LibraryZoneModel({entry.device: DeviceZones(entry)})
    poses = ProbePoses(np.asarray(tips_mm, dtype=float)[None], np.asarray(directions, dtype=float)[None])
    peak, end = model.single_rises(entry.device, poses, points_mm)
    return peak[:, 0], end[:, 0]


__all__ = [
    "MINIMUM_AGREEMENT",
    "PROTOCOLS",
    "DeviceZones",
    "LibraryZoneModel",
    "ProbePoses",
    "ProtocolWeights",
    "ZoneModel",
    "combine_rises",
    "heat_sink_factor",
    "probe_frames",
    "sample_single",
]
