"""Temperature control on the tip thermocouples (multi-tine style): a PID on power."""

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
class TemperatureControlled(Generator):
    """Temperature control at the tip thermocouples (multi-tine style): a PID on power.

    Parameters
    ----------
    power_w : float
        Maximum power (W).
    target_temperature_c : float
        Target of the hottest thermocouple (degC).  StarBurst protocols: 105 degC.
    proportional_w_per_k, integral_w_per_k_s, derivative_w_s_per_k : float
        PID gains.
    """

    power_w: float = 150.0
    target_temperature_c: float = 105.0
    proportional_w_per_k: float = 4.0
    integral_w_per_k_s: float = 0.4
    derivative_w_s_per_k: float = 0.0
    mode = "temperature"
    _integral: float = field(default=0.0, init=False, repr=False)
    _previous_error: float = field(default=math.nan, init=False, repr=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_positive("power_w", self.power_w)
        if not math.isfinite(self.target_temperature_c) or self.target_temperature_c <= 37.0:
            raise ValueError(f"target_temperature_c must exceed 37 degC, got {self.target_temperature_c!r}")
        self.limits = GeneratorLimits(self.power_w, self.limits.max_voltage_v, self.limits.max_current_a)

    def reset(self) -> None:
        self._integral, self._previous_error = 0.0, math.nan

    def control(self, reading: GeneratorReading) -> GeneratorCommand:
        if math.isnan(reading.tip_temperature_c):
            raise ValueError("temperature control needs a probe with thermocouples")
        error = self.target_temperature_c - reading.tip_temperature_c
        derivative = 0.0 if math.isnan(self._previous_error) else (error - self._previous_error) / reading.time_step_s
        self._previous_error = error
        raw = self.proportional_w_per_k * error + self._integral + self.derivative_w_s_per_k * derivative
        # Anti-windup: integrate only while the output is not saturated.
        if 0.0 < raw < self.power_w:
            self._integral += self.integral_w_per_k_s * error * reading.time_step_s
        elif raw <= 0.0 and error > 0:
            self._integral += self.integral_w_per_k_s * error * reading.time_step_s
        power = min(max(raw, 0.0), self.power_w)
        return GeneratorCommand(power_w=power, state="on")

    def describe(self) -> dict[str, float | str]:
        return {**super().describe(), "target_temperature_c": self.target_temperature_c}
