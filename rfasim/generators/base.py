"""What every generator protocol shares: readings, commands, limits, the base class, the registry.

A generator sees a :class:`GeneratorReading` (impedance, tip temperature, time) at every heat
step and answers with a :class:`GeneratorCommand` (requested power, which electrodes are
connected, whether to stop).  The simulation turns the request into a voltage within the
generator's voltage, current and power limits.

A new mode is one new file: a dataclass subclass of :class:`Generator` with a ``mode`` name,
decorated with :func:`register_generator`; its fields are its case-file keys
(``docs/extending.md``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any, TypeVar


@dataclass(frozen=True)
class GeneratorReading:
    """What the generator measures at the start of a step.

    Attributes
    ----------
    time_s : float
        Elapsed time (s).
    time_step_s : float
        Length of the coming step (s).
    impedance_ohm : float
        Impedance between the terminals of the connected electrodes (Ohm).
    tip_temperature_c : float
        Highest thermocouple temperature (degC); NaN when the probe has no thermocouple.
    """

    time_s: float
    time_step_s: float
    impedance_ohm: float
    tip_temperature_c: float


@dataclass(frozen=True)
class GeneratorCommand:
    """The generator's answer: requested power (W), connected electrode group, stop flag."""

    power_w: float
    group: int = 0
    stop: bool = False
    state: str = "on"


def _check_positive(name: str, value: object, allow_zero: bool = False) -> None:
    if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        relation = "non-negative" if allow_zero else "positive"
        raise ValueError(f"generator {name} must be {relation} and finite, got {value!r}")


@dataclass
class GeneratorLimits:
    """Hardware limits of a generator.

    Parameters
    ----------
    max_power_w : float
        Maximum output power (W).
    max_voltage_v : float
        Maximum RMS voltage (V).
    max_current_a : float
        Maximum RMS current (A).
    """

    max_power_w: float = 200.0
    max_voltage_v: float = 200.0
    max_current_a: float = 2.0

    def __post_init__(self) -> None:
        _check_positive("max_power_w", self.max_power_w)
        _check_positive("max_voltage_v", self.max_voltage_v)
        _check_positive("max_current_a", self.max_current_a)

    def voltage_for(self, power_w: float, impedance_ohm: float) -> float:
        """RMS voltage (V) delivering ``power_w`` into ``impedance_ohm`` within the limits."""
        if power_w <= 0 or not math.isfinite(impedance_ohm) or impedance_ohm <= 0:
            return 0.0
        power = min(power_w, self.max_power_w)
        voltage = math.sqrt(power * impedance_ohm)
        return min(voltage, self.max_voltage_v, self.max_current_a * impedance_ohm)


@dataclass
class Generator:
    """Base class: a protocol of given duration within :class:`GeneratorLimits`."""

    duration_s: float = 720.0
    limits: GeneratorLimits = field(default_factory=GeneratorLimits)
    mode = "base"

    def __post_init__(self) -> None:
        _check_positive("duration_s", self.duration_s)

    def reset(self) -> None:
        """Forget all state before a new run."""

    def control(self, reading: GeneratorReading) -> GeneratorCommand:  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def group_count(self) -> int:
        """Number of electrode groups the generator switches between (1: all connected)."""
        return 1

    def describe(self) -> dict[str, float | str]:
        """Parameters for reports."""
        return {"mode": self.mode, "duration_s": self.duration_s, "max_power_w": self.limits.max_power_w}


_GeneratorClass = TypeVar("_GeneratorClass", bound=type[Generator])

#: mode name -> class of every registered generator mode (``[generator] mode = ...``).
GENERATOR_MODES: dict[str, type[Generator]] = {}

#: Keys of a ``[generator]`` table besides the mode's own fields: the mode, the protocol's
#: duration, the hardware limits and how several probes share the generator.
COMMON_GENERATOR_KEYS = (
    "mode", "duration_s", "max_voltage_v", "max_current_a", "probe_schedule", "switch_dwell_s", "reposition_s",
)
#: Base-class fields that are not TOML keys of a mode (they come from the common keys).
_NOT_MODE_KEYS = ("duration_s", "limits")


def register_generator(cls: _GeneratorClass) -> _GeneratorClass:
    """Class decorator: make a :class:`Generator` dataclass selectable by its ``mode``.

    The dataclass's init fields (besides ``duration_s`` and ``limits``) are the mode's TOML
    keys in case files and probe catalog files, and the paths a sweep may vary.
    """
    mode = getattr(cls, "mode", "")
    if not mode or mode == "base":
        raise ValueError(f"generator {cls.__name__} needs a class attribute 'mode'")
    existing = GENERATOR_MODES.get(mode)
    if existing is not None and existing.__qualname__ != cls.__qualname__:
        raise ValueError(f"generator mode {mode!r} is already registered by {existing.__qualname__}")
    GENERATOR_MODES[mode] = cls
    return cls


def generator_modes() -> dict[str, type[Generator]]:
    """Every registered mode, plugins included (see :mod:`rfasim.plugins`)."""
    from rfasim.plugins import load_plugins

    load_plugins()
    return dict(GENERATOR_MODES)


def generator_keys(mode: str) -> tuple[str, ...]:
    """The TOML keys of one mode (its dataclass init fields besides duration and limits).

    Raises
    ------
    ValueError
        For an unknown mode, listing the known ones.
    """
    modes = generator_modes()
    if mode not in modes:
        raise ValueError(f"unknown generator mode {mode!r} (valid: {', '.join(sorted(modes))})")
    return tuple(f.name for f in fields(modes[mode]) if f.init and f.name not in _NOT_MODE_KEYS)


def all_generator_keys() -> tuple[str, ...]:
    """Every key any ``[generator]`` table may hold (common keys and every mode's keys)."""
    keys = dict.fromkeys(COMMON_GENERATOR_KEYS)
    for mode in generator_modes():
        keys.update(dict.fromkeys(generator_keys(mode)))
    return tuple(keys)


def generator_from_table(table: dict[str, Any], where: str = "[generator]") -> Generator:
    """Build the generator a ``[generator]`` table describes (without multi-probe switching).

    Parameters
    ----------
    table : dict
        ``mode``, ``duration_s`` (default 720 s), the limits ``max_voltage_v`` /
        ``max_current_a`` and the mode's own keys; ``power_w`` also caps the hardware power.
    where : str
        Named in error messages.

    Raises
    ------
    ValueError
        For an unknown mode or key, or a value the mode rejects (the message names it).

    Examples
    --------
    >>> generator_from_table({"mode": "impedance", "power_w": 150.0}).limits.max_power_w
    150.0
    """
    mode = table.get("mode")
    keys = generator_keys(str(mode))
    unknown = sorted(set(table) - set(COMMON_GENERATOR_KEYS) - set(keys))
    if unknown:
        raise ValueError(f"{where}: unknown key {unknown[0]!r} for mode {mode!r} (valid: {', '.join(COMMON_GENERATOR_KEYS + keys)})")
    limits = GeneratorLimits(
        max_power_w=float(table.get("power_w", 200.0)),
        max_voltage_v=float(table.get("max_voltage_v", 200.0)),
        max_current_a=float(table.get("max_current_a", 2.0)),
    )
    parameters = {key: float(table[key]) for key in keys if key in table}
    try:
        return GENERATOR_MODES[str(mode)](duration_s=float(table.get("duration_s", 720.0)), limits=limits, **parameters)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{where}: {error}") from None
