"""Cool-tip style impedance control: pause when the impedance rises above its baseline."""

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
class ImpedanceControlled(Generator):
    """Cool-tip style impedance control.

    Power is delivered at the maximum the limits allow.  When the impedance rises
    ``impedance_rise_ohm`` above its baseline (the impedance measured when the ablation starts,
    as the Cool-tip generator does), the generator cuts the power for ``pause_s`` and then
    resumes; each such event is a roll-off.

    Parameters
    ----------
    power_w : float
        Maximum power (W).
    impedance_rise_ohm : float
        Rise above baseline that triggers a pause (Ohm).  Cool-tip: 10 Ohm (manual, impedance mode).
    pause_s : float
        Length of the pause (s).  Cool-tip: 15 s.
    ramp_w_per_s : float
        Rate at which power rises after the start or a pause (W/s); generators ramp rather than
        switch on at full power.
    """

    power_w: float = 200.0
    impedance_rise_ohm: float = 10.0
    pause_s: float = 15.0
    ramp_w_per_s: float = 10.0
    mode = "impedance"
    _baseline: float = field(default=math.inf, init=False, repr=False)
    _paused_until: float = field(default=-math.inf, init=False, repr=False)
    _power: float = field(default=0.0, init=False, repr=False)
    rolloffs: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_positive("power_w", self.power_w)
        _check_positive("impedance_rise_ohm", self.impedance_rise_ohm)
        _check_positive("pause_s", self.pause_s, allow_zero=True)
        _check_positive("ramp_w_per_s", self.ramp_w_per_s)
        self.limits = GeneratorLimits(self.power_w, self.limits.max_voltage_v, self.limits.max_current_a)

    def reset(self) -> None:
        self._baseline, self._paused_until, self._power, self.rolloffs = math.inf, -math.inf, 0.0, 0

    def control(self, reading: GeneratorReading) -> GeneratorCommand:
        if reading.time_s < self._paused_until:
            return GeneratorCommand(power_w=0.0, state="paused")
        if self._power > 0 and reading.impedance_ohm > self._baseline + self.impedance_rise_ohm:
            self.rolloffs += 1
            self._paused_until = reading.time_s + self.pause_s
            self._power = 0.0
            return GeneratorCommand(power_w=0.0, state="roll-off")
        if not math.isfinite(self._baseline):
            self._baseline = reading.impedance_ohm
        self._power = min(self.power_w, self._power + self.ramp_w_per_s * reading.time_step_s)
        return GeneratorCommand(power_w=self._power)

    def describe(self) -> dict[str, float | str]:
        return {**super().describe(), "impedance_rise_ohm": self.impedance_rise_ohm, "pause_s": self.pause_s}
