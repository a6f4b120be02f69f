"""The zone-criterion type, the fields it reads and the registry (see the package docstring)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

#: Unit of temperature thresholds: only these can be set from the case file (``threshold_c``).
TEMPERATURE_UNIT = "degC"


@dataclass(frozen=True)
class ZoneFields:
    """The fields a zone criterion may read, all on the simulation grid.

    Attributes
    ----------
    peak_temperature_c : ndarray of float
        Highest temperature each voxel reached (degC).
    damage : mapping of str to ndarray of float
        Accumulated dose of each damage model the run selected, by model name
        (:mod:`rfasim.physics.damage`): ``"arrhenius"`` (damage integral Omega, dimensionless),
        ``"cem43"`` (cumulative equivalent minutes at 43 degC), and any other registered model.
    """

    peak_temperature_c: np.ndarray
    damage: Mapping[str, np.ndarray]

    def dose(self, model: str) -> np.ndarray:
        """The dose field of one damage model.

        Raises
        ------
        KeyError
            If the simulation did not accumulate that model.
        """
        try:
            return self.damage[model]
        except KeyError:
            raise KeyError(
                f"no {model!r} damage field (the run accumulated: {', '.join(self.damage) or 'none'})"
            ) from None


@dataclass(frozen=True)
class ZoneCriterion:
    """A necrosis-zone criterion: a dose field and the threshold it must reach.

    Attributes
    ----------
    name : str
        The name in the case file (``[zone] criterion``).
    description : str
        Human-readable rule, a format string with ``{threshold}`` (shown in ``metrics.json``'s
        ``zone.criterion`` and the pictures), e.g. ``"peak temperature >= {threshold:g} degC"``.
    threshold : float
        Default threshold, in ``unit``.
    unit : str
        Unit of the dose field and the threshold (``"degC"``, ``"min"``, ``""`` for Omega).
    dose : callable
        ``dose(fields: ZoneFields) -> ndarray``: the field that is thresholded.
    adjustable : bool
        Whether the case file may set the threshold (``[zone] threshold_c``; temperature only).
    threshold_range : tuple of float or None
        Accepted ``(lowest, highest)`` thresholds of an adjustable criterion, in ``unit``.
    damage_models : tuple of str
        The damage models whose doses ``dose`` reads: the run must accumulate them
        (``[options] damage_models``; the plan checks this before simulating).
    """

    name: str
    description: str
    threshold: float
    unit: str
    dose: Callable[[ZoneFields], np.ndarray]
    adjustable: bool = False
    threshold_range: tuple[float, float] | None = None
    damage_models: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.adjustable and self.unit != TEMPERATURE_UNIT:
            raise ValueError(f"zone criterion {self.name!r}: only temperature thresholds can be adjustable")
        if self.adjustable and self.threshold_range is None:
            raise ValueError(f"zone criterion {self.name!r}: an adjustable threshold needs threshold_range")

    def resolve_threshold(self, threshold: float | None = None) -> float:
        """The threshold in use: ``threshold`` for an adjustable criterion when given, else the default."""
        if threshold is not None and self.adjustable:
            return float(threshold)
        return float(self.threshold)

    def describe(self, threshold: float | None = None) -> str:
        """The rule in words, e.g. ``"CEM43 >= 240 min"``."""
        return self.description.format(threshold=self.resolve_threshold(threshold))

    def temperature_threshold_c(self, threshold: float | None = None) -> float | None:
        """The threshold (degC) when the criterion is a temperature, else None."""
        return self.resolve_threshold(threshold) if self.unit == TEMPERATURE_UNIT else None

    def dose_field(self, fields: ZoneFields) -> np.ndarray:
        """The field the criterion thresholds (in ``unit``)."""
        return self.dose(fields)

    def zone(self, fields: ZoneFields, threshold: float | None = None) -> np.ndarray:
        """The zone: voxels whose dose field reaches the threshold (boolean mask)."""
        return self.dose_field(fields) >= self.resolve_threshold(threshold)


_REGISTRY: dict[str, ZoneCriterion] = {}


def register_zone_criterion(criterion: ZoneCriterion) -> ZoneCriterion:
    """Add a criterion to the registry; returns it.

    Raises
    ------
    ValueError
        If a criterion of that name is already registered.
    """
    if criterion.name in _REGISTRY:
        raise ValueError(f"zone criterion {criterion.name!r} is already registered")
    _REGISTRY[criterion.name] = criterion
    return criterion


def zone_criterion(
    name: str,
    *,
    description: str,
    threshold: float,
    unit: str,
    adjustable: bool = False,
    threshold_range: tuple[float, float] | None = None,
    damage_models: tuple[str, ...] = (),
) -> Callable[[Callable[[ZoneFields], np.ndarray]], ZoneCriterion]:
    """Decorator: register the decorated dose function as a :class:`ZoneCriterion`.

    The decorated name becomes the registered :class:`ZoneCriterion` (see the package docstring).
    """

    def register(dose: Callable[[ZoneFields], np.ndarray]) -> ZoneCriterion:
        return register_zone_criterion(
            ZoneCriterion(name, description, float(threshold), unit, dose, adjustable, threshold_range,
                          tuple(damage_models))
        )

    return register


def _load_plugins() -> None:
    """Criteria from plugins (``RFASIM_PLUGINS``, entry points: :mod:`rfasim.plugins`) register too."""
    from rfasim.plugins import load_plugins

    load_plugins()


def get_zone_criterion(name: str) -> ZoneCriterion:
    """The registered criterion of that name (plugins included).

    Raises
    ------
    KeyError
        If there is none; the message lists the valid names.
    """
    if name not in _REGISTRY:
        _load_plugins()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown zone criterion {name!r} (valid: {', '.join(_REGISTRY)})") from None


def zone_criterion_names() -> tuple[str, ...]:
    """Names of the registered criteria (plugins included), in registration order."""
    _load_plugins()
    return tuple(_REGISTRY)
