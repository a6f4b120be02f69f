"""Placing a probe model in world space (RAS+ mm) and building its geometry.

A :class:`ProbePlacement` is a model plus where it goes: the tip, the entry point (or a
direction), the deployment diameter of multi-tine probes and a rotation about the shaft.
:meth:`ProbePlacement.geometry` returns a :class:`ProbeGeometry`: world-space active segments
(each with its electrode and polarity), insulated segments, tine paths and thermocouple points.
This is what :mod:`rfasim.probes.rasterize` turns into voxels and what a 3D scene draws.

Conventions
-----------
- ``tip_mm`` is the distal end of the needle (straight, cluster, bipolar probes), or the end of
  the cannula from which the tines deploy (multi-tine probes).  For clusters and bipolar pairs it
  is the centre between the needle tips, on the cluster's axis.
- ``direction`` points from the entry towards the tip (the way the needle advances).
- ``rotation_deg`` turns the probe about its shaft.  At 0 deg the first lateral axis is the
  world +x (R) axis projected onto the plane perpendicular to the shaft (+y (A) when the shaft is
  within 25 deg of the x axis); positive angles turn it towards ``direction x lateral``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike

from rfasim.errors import ProbeError
from rfasim.probes.catalog import ProbeModel, get_probe_model

#: Longest straight piece (mm) used to sample a curved tine.
TINE_SEGMENT_LENGTH_MM = 0.5


@dataclass(frozen=True)
class ActiveSegment:
    """A piece of exposed electrode metal: a cylinder (needles) or a capsule (tine pieces).

    Attributes
    ----------
    start_mm, end_mm : ndarray, shape (3,)
        World RAS coordinates (mm) of the axis end points.
    radius_mm : float
        Metal radius (mm).
    electrode : int
        Index of the electrode (0, or 0/1 for bipolar probes) within the probe.
    polarity : float
        Potential relative to the applied voltage (1 monopolar, +0.5/-0.5 bipolar).
    rounded_ends : bool
        Capsule (hemispherical ends, so chained tine pieces join without gaps) instead of a
        flat-ended cylinder.
    """

    start_mm: np.ndarray
    end_mm: np.ndarray
    radius_mm: float
    electrode: int = 0
    polarity: float = 1.0
    rounded_ends: bool = False

    @property
    def length_mm(self) -> float:
        """Axis length (mm)."""
        return float(np.linalg.norm(self.end_mm - self.start_mm))


@dataclass(frozen=True)
class InsulatedSegment:
    """A flat-ended cylinder of insulated shaft (or the insulator between bipolar electrodes)."""

    start_mm: np.ndarray
    end_mm: np.ndarray
    radius_mm: float

    @property
    def length_mm(self) -> float:
        """Axis length (mm)."""
        return float(np.linalg.norm(self.end_mm - self.start_mm))


@dataclass(frozen=True)
class Thermocouple:
    """A temperature sensor of the probe.

    Attributes
    ----------
    position_mm : ndarray, shape (3,)
        World RAS position (mm).
    electrode : int
        Electrode whose generator channel reads it.
    outward_direction : ndarray, shape (3,)
        Unit vector along which the sensor's tissue voxel is sought when the voxel at
        ``position_mm`` is electrode metal (distal to a cooled needle's tip).
    """

    position_mm: np.ndarray
    electrode: int
    outward_direction: np.ndarray


@dataclass(frozen=True)
class ProbeGeometry:
    """World-space geometry of one placed probe.

    Attributes
    ----------
    model : ProbeModel
    tip_mm : ndarray, shape (3,)
        World RAS tip (mm), as placed.
    direction : ndarray, shape (3,)
        Unit vector from the entry towards the tip.
    active_segments : tuple of ActiveSegment
    insulated_segments : tuple of InsulatedSegment
    tine_paths_mm : tuple of ndarray, each shape (k, 3)
        Sampled world path (mm) of every tine, from the cannula tip outwards.
    thermocouples : tuple of Thermocouple
    electrode_polarities : tuple of float
        Polarity of electrode 0 (and 1 for bipolar probes).
    """

    model: ProbeModel
    tip_mm: np.ndarray
    direction: np.ndarray
    active_segments: tuple[ActiveSegment, ...]
    insulated_segments: tuple[InsulatedSegment, ...]
    tine_paths_mm: tuple[np.ndarray, ...] = ()
    thermocouples: tuple[Thermocouple, ...] = ()
    electrode_polarities: tuple[float, ...] = (1.0,)

    @property
    def active_length_mm(self) -> float:
        """Total axis length (mm) of the active metal, all electrodes, needles and tines."""
        return float(sum(segment.length_mm for segment in self.active_segments))

    @property
    def active_points_mm(self) -> np.ndarray:
        """End points of all active segments (n, 3), for bounding boxes and checks."""
        return np.array([p for s in self.active_segments for p in (s.start_mm, s.end_mm)])


def _vector(name: str, value: object) -> np.ndarray:
    try:
        array = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise ProbeError(f"{name} must be three numbers (world mm), got {value!r}") from None
    if array.shape != (3,):
        raise ProbeError(f"{name} must be three numbers (world mm), got {value!r}")
    if not np.all(np.isfinite(array)):
        raise ProbeError(f"{name} holds NaN or infinite coordinates: {array.tolist()}")
    return array


def lateral_axes(direction: np.ndarray, rotation_deg: float) -> tuple[np.ndarray, np.ndarray]:
    """Two unit vectors perpendicular to ``direction`` (and each other), turned by ``rotation_deg``.

    Examples
    --------
    >>> first, second = lateral_axes(np.array([0.0, 0.0, 1.0]), 0.0)
    >>> first.round(6).tolist(), second.round(6).tolist()
    ([1.0, 0.0, 0.0], [0.0, 1.0, 0.0])
    """
    reference = np.array([1.0, 0.0, 0.0])
    if abs(float(direction @ reference)) > math.cos(math.radians(25.0)):
        reference = np.array([0.0, 1.0, 0.0])
    first = reference - (reference @ direction) * direction
    first /= np.linalg.norm(first)
    second = np.cross(direction, first)
    angle = math.radians(rotation_deg)
    return (
        math.cos(angle) * first + math.sin(angle) * second,
        -math.sin(angle) * first + math.cos(angle) * second,
    )


@dataclass
class ProbePlacement:
    """A probe model placed in world space.

    Parameters
    ----------
    model : str, Path or ProbeModel
        Catalog name, path to a probe TOML file, or a model.
    tip_mm : array_like, shape (3,)
        World RAS tip (mm); see the module docstring for what "tip" means per kind.
    entry_mm : array_like, optional
        World RAS entry point (mm) on the skin or the organ; the shaft runs from it to the tip.
    direction : array_like, optional
        Direction from entry towards tip (any length > 0), instead of ``entry_mm``.
    deployment_diameter_mm : float, optional
        Diameter (mm) the tines are opened to (multi-tine probes); default the model's maximum.
    rotation_deg : float
        Rotation (deg) about the shaft, for non-symmetric probes (clusters, tines, bipolar pairs).
    label : str, optional
        Name used in warnings; default ``"probe (model name)"``.

    Raises
    ------
    ProbeError
        NaN coordinates, zero-length direction, entry equal to tip, both or neither of
        ``entry_mm`` and ``direction``, tines deployed beyond their maximum.

    Examples
    --------
    >>> placement = ProbePlacement("cooltip-17g-3cm", tip_mm=[0, 0, 10], entry_mm=[0, 0, 100])
    >>> geometry = placement.geometry()
    >>> geometry.direction.tolist(), round(geometry.active_length_mm, 6)
    ([0.0, 0.0, -1.0], 30.0)
    """

    model: ProbeModel
    tip_mm: np.ndarray
    entry_mm: np.ndarray | None = None
    direction: np.ndarray | None = None
    deployment_diameter_mm: float | None = None
    rotation_deg: float = 0.0
    label: str = ""
    unit_direction: np.ndarray = field(init=False, repr=False)

    if TYPE_CHECKING:  # what the constructor accepts; __post_init__ converts to the types above

        def __init__(
            self,
            model: str | Path | ProbeModel,
            tip_mm: ArrayLike,
            entry_mm: ArrayLike | None = None,
            direction: ArrayLike | None = None,
            deployment_diameter_mm: float | None = None,
            rotation_deg: float = 0.0,
            label: str = "",
        ) -> None: ...

    def __post_init__(self) -> None:
        self.model = get_probe_model(self.model)
        self.tip_mm = _vector("tip_mm", self.tip_mm)
        if not self.label:
            self.label = f"probe ({self.model.name})"
        if (self.entry_mm is None) == (self.direction is None):
            raise ProbeError(f"{self.label}: give exactly one of entry_mm and direction")
        if self.entry_mm is not None:
            self.entry_mm = _vector("entry_mm", self.entry_mm)
            offset = self.tip_mm - self.entry_mm
            if float(np.linalg.norm(offset)) < 1e-6:
                raise ProbeError(f"{self.label}: entry_mm equals tip_mm {self.tip_mm.tolist()}; the direction is undefined")
        else:
            offset = _vector("direction", self.direction)
            if float(np.linalg.norm(offset)) < 1e-12:
                raise ProbeError(f"{self.label}: direction has zero length")
        self.unit_direction = offset / np.linalg.norm(offset)
        if isinstance(self.rotation_deg, bool) or not math.isfinite(float(self.rotation_deg)):
            raise ProbeError(f"{self.label}: rotation_deg must be a finite number, got {self.rotation_deg!r}")
        self.rotation_deg = float(self.rotation_deg)
        if self.model.kind == "multitine":
            maximum = self.model.max_deployment_diameter_mm
            if self.deployment_diameter_mm is None:
                self.deployment_diameter_mm = maximum
            diameter = float(self.deployment_diameter_mm)
            if not math.isfinite(diameter) or diameter <= 0:
                raise ProbeError(f"{self.label}: deployment_diameter_mm must be positive, got {self.deployment_diameter_mm!r}")
            if diameter > maximum + 1e-9:
                raise ProbeError(
                    f"{self.label}: tines deployed to {diameter:g} mm, beyond the maximum "
                    f"{maximum:g} mm of {self.model.name}"
                )
            self.deployment_diameter_mm = diameter
        elif self.deployment_diameter_mm is not None:
            raise ProbeError(f"{self.label}: deployment_diameter_mm is only for multi-tine probes ({self.model.name} is {self.model.kind})")

    def geometry(self) -> ProbeGeometry:
        """World-space pieces of the placed probe (see :class:`ProbeGeometry`)."""
        model = self.model
        builders = {
            "straight": self._needles,
            "cluster": self._needles,
            "multitine": self._multitine,
            "bipolar": self._bipolar,
        }
        return builders[model.kind]()

    # -- builders -------------------------------------------------------------------------------
    def _needle_offsets_mm(self) -> list[np.ndarray]:
        model = self.model
        first, second = lateral_axes(self.unit_direction, self.rotation_deg)
        if model.needle_count == 1:
            return [np.zeros(3)]
        count = model.needle_count
        circumradius = model.needle_spacing_mm / (2.0 * math.sin(math.pi / count))
        angles = [2.0 * math.pi * k / count for k in range(count)]
        return [circumradius * (math.cos(a) * first + math.sin(a) * second) for a in angles]

    def _shaft(self, start_mm: np.ndarray) -> InsulatedSegment | None:
        length = self.model.shaft_length_mm
        if length <= 0:
            return None
        return InsulatedSegment(start_mm, start_mm - length * self.unit_direction, self.model.shaft_radius_mm)

    def _needles(self) -> ProbeGeometry:
        model, direction = self.model, self.unit_direction
        active, insulated, sensors = [], [], []
        for offset in self._needle_offsets_mm():
            tip = self.tip_mm + offset
            back = tip - model.active_length_mm * direction
            active.append(ActiveSegment(back, tip, model.shaft_radius_mm))
            shaft = self._shaft(back)
            if shaft is not None:
                insulated.append(shaft)
            sensors.append(Thermocouple(tip, 0, direction))
        return ProbeGeometry(model, self.tip_mm, direction, tuple(active), tuple(insulated), (), tuple(sensors))

    def _bipolar(self) -> ProbeGeometry:
        model, direction = self.model, self.unit_direction
        radius = model.shaft_radius_mm
        polarities = (0.5, -0.5)
        active, insulated, sensors = [], [], []
        if model.bipolar_layout == "two-needles":
            first, _ = lateral_axes(direction, self.rotation_deg)
            half = 0.5 * model.needle_spacing_mm
            for electrode, sign in enumerate((1.0, -1.0)):
                tip = self.tip_mm + sign * half * first
                back = tip - model.active_length_mm * direction
                active.append(ActiveSegment(back, tip, radius, electrode, polarities[electrode]))
                shaft = self._shaft(back)
                if shaft is not None:
                    insulated.append(shaft)
                sensors.append(Thermocouple(tip, electrode, direction))
        else:
            electrode_length = 0.5 * (model.active_length_mm - model.insulator_gap_mm)
            tip = self.tip_mm
            distal_back = tip - electrode_length * direction
            proximal_front = distal_back - model.insulator_gap_mm * direction
            proximal_back = proximal_front - electrode_length * direction
            active.append(ActiveSegment(distal_back, tip, radius, 0, polarities[0]))
            active.append(ActiveSegment(proximal_back, proximal_front, radius, 1, polarities[1]))
            insulated.append(InsulatedSegment(proximal_front, distal_back, radius))
            shaft = self._shaft(proximal_back)
            if shaft is not None:
                insulated.append(shaft)
            sensors.append(Thermocouple(tip, 0, direction))
        return ProbeGeometry(
            model, self.tip_mm, direction, tuple(active), tuple(insulated), (), tuple(sensors), polarities
        )

    def _multitine(self) -> ProbeGeometry:
        model, direction, tip = self.model, self.unit_direction, self.tip_mm
        active: list[ActiveSegment] = []
        insulated: list[InsulatedSegment] = []
        back = tip - model.active_length_mm * direction
        if model.active_length_mm > 0:
            active.append(ActiveSegment(back, tip, model.shaft_radius_mm))
        shaft = self._shaft(back)
        if shaft is not None:
            insulated.append(shaft)
        # Preformed tines of fixed curvature: a partly deployed tine is a shorter arc of the same circle.
        full_arc = math.radians(model.tine_arc_deg)
        curvature_radius = 0.5 * model.max_deployment_diameter_mm / (1.0 - math.cos(full_arc))
        assert self.deployment_diameter_mm is not None
        arc = math.acos(float(np.clip(1.0 - 0.5 * self.deployment_diameter_mm / curvature_radius, -1.0, 1.0)))
        first, second = lateral_axes(direction, self.rotation_deg)
        pieces = max(2, math.ceil(curvature_radius * arc / TINE_SEGMENT_LENGTH_MM))
        angles = np.linspace(0.0, arc, pieces + 1)
        paths: list[np.ndarray] = []
        if model.central_tine:
            reach = curvature_radius * math.sin(min(arc, math.pi / 2))
            steps = max(2, math.ceil(reach / TINE_SEGMENT_LENGTH_MM))
            paths.append(tip + np.linspace(0.0, reach, steps + 1)[:, None] * direction)
        for k in range(model.tine_count):
            azimuth = 2.0 * math.pi * k / model.tine_count
            radial = math.cos(azimuth) * first + math.sin(azimuth) * second
            paths.append(
                tip
                + (curvature_radius * (1.0 - np.cos(angles)))[:, None] * radial
                + (curvature_radius * np.sin(angles))[:, None] * direction
            )
        tine_radius = 0.5 * model.tine_diameter_mm
        for path in paths:
            active.extend(ActiveSegment(a, b, tine_radius, rounded_ends=True) for a, b in zip(path[:-1], path[1:], strict=True))
        sensors: list[Thermocouple] = []
        if model.tine_tip_thermocouples:
            chosen = np.unique(np.round(np.linspace(0, len(paths) - 1, model.tine_tip_thermocouples)).astype(int))
            for index in chosen:
                path = paths[index]
                outward = path[-1] - path[-2]
                sensors.append(Thermocouple(path[-1], 0, outward / np.linalg.norm(outward)))
        else:
            sensors.append(Thermocouple(tip, 0, direction))
        return ProbeGeometry(model, tip, direction, tuple(active), tuple(insulated), tuple(paths), tuple(sensors))
