"""Constant power for the whole duration."""

from __future__ import annotations

from dataclasses import dataclass

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
class ConstantPower(Generator):
    """Deliver a constant power for the whole duration (within the voltage/current limits).

    Examples
    --------
    >>> generator = ConstantPower(power_w=50.0, duration_s=60.0)
    >>> generator.control(GeneratorReading(0.0, 1.0, 80.0, float("nan"))).power_w
    50.0
    """

    power_w: float = 50.0
    mode = "constant-power"

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_positive("power_w", self.power_w, allow_zero=True)
        if self.power_w > self.limits.max_power_w:
            self.limits = GeneratorLimits(self.power_w, self.limits.max_voltage_v, self.limits.max_current_a)

    def control(self, reading: GeneratorReading) -> GeneratorCommand:
        return GeneratorCommand(power_w=self.power_w)

    def describe(self) -> dict[str, float | str]:
        return {**super().describe(), "power_w": self.power_w}
