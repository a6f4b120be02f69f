"""LeVeen-style power ramp with the two-roll-off rule."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from rfasim.generators.base import (
    Generator,
    GeneratorCommand,
    GeneratorLimits,
    GeneratorReading,
    _check_positive,
    register_generator,
)


@register_generator
@dataclass
class RampSchedule(Generator):
    """LeVeen-style ramp with the roll-off rule.

    Power starts at ``start_power_w`` and rises by ``step_w_per_min`` every minute up to
    ``power_w``.  A roll-off is the impedance exceeding ``rolloff_impedance_factor`` times its
    baseline.  After the first roll-off the generator pauses ``pause_s`` and resumes at
    ``resume_fraction`` of the roll-off power; the second roll-off ends the ablation.

    Parameters
    ----------
    start_power_w, step_w_per_min, power_w : float
        Ramp start (W), step (W/min) and cap (W).
    rolloff_impedance_factor : float
        Impedance / baseline ratio defining roll-off.
    pause_s : float
        Pause after the first roll-off (s).
    resume_fraction : float
        Fraction of the roll-off power at which the generator resumes.
    """

    start_power_w: float = 40.0
    step_w_per_min: float = 10.0
    power_w: float = 90.0
    rolloff_impedance_factor: float = 3.0
    pause_s: float = 30.0
    resume_fraction: float = 0.7
    mode = "ramp"
    rolloffs: int = field(default=0, init=False)
    _baseline: float = field(default=math.inf, init=False, repr=False)
    _paused_until: float = field(default=-math.inf, init=False, repr=False)
    _resume_power: float = field(default=math.nan, init=False, repr=False)
    _resumed_at: float = field(default=math.nan, init=False, repr=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_positive("start_power_w", self.start_power_w)
        _check_positive("step_w_per_min", self.step_w_per_min, allow_zero=True)
        _check_positive("power_w", self.power_w)
        if self.rolloff_impedance_factor <= 1.0:
            raise ValueError(f"rolloff_impedance_factor must exceed 1, got {self.rolloff_impedance_factor!r}")
        if not 0.0 < self.resume_fraction <= 1.0:
            raise ValueError(f"resume_fraction must lie in (0, 1], got {self.resume_fraction!r}")
        self.limits = GeneratorLimits(self.power_w, self.limits.max_voltage_v, self.limits.max_current_a)

    def reset(self) -> None:
        self.rolloffs, self._baseline, self._paused_until = 0, math.inf, -math.inf
        self._resume_power, self._resumed_at = math.nan, math.nan

    def _ramp_power(self, time_s: float) -> float:
        if self.rolloffs == 0:
            steps = math.floor(time_s / 60.0)
            return min(self.power_w, self.start_power_w + steps * self.step_w_per_min)
        return self._resume_power

    def control(self, reading: GeneratorReading) -> GeneratorCommand:
        if self.rolloffs >= 2:
            return GeneratorCommand(power_w=0.0, stop=True, state="stopped")
        if reading.time_s < self._paused_until:
            return GeneratorCommand(power_w=0.0, state="paused")
        power = self._ramp_power(reading.time_s)
        if reading.impedance_ohm > self.rolloff_impedance_factor * self._baseline:
            self.rolloffs += 1
            if self.rolloffs >= 2:
                return GeneratorCommand(power_w=0.0, stop=True, state="roll-off")
            self._paused_until = reading.time_s + self.pause_s
            self._resume_power = self.resume_fraction * power
            self._baseline = math.inf  # re-learnt after the pause
            return GeneratorCommand(power_w=0.0, state="roll-off")
        self._baseline = min(self._baseline, reading.impedance_ohm)
        return GeneratorCommand(power_w=power)

    def describe(self) -> dict[str, float | str]:
        return {
            **super().describe(),
            "start_power_w": self.start_power_w,
            "step_w_per_min": self.step_w_per_min,
        }
