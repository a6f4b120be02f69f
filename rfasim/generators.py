"""RF generator protocols: what power the generator asks for, moment by moment.

A generator sees a :class:`GeneratorReading` (impedance, tip temperature, time) at every heat
step and answers with a :class:`GeneratorCommand` (requested power, which electrodes are
connected, whether to stop).  The solver turns the request into a voltage within the
generator's voltage, current and power limits.  A new generator mode is one new class here.

Modes
-----
- :class:`ConstantPower`
- :class:`ImpedanceControlled` (Cool-tip style: pause when impedance rises above baseline)
- :class:`TemperatureControlled` (multi-tine style: PID on the tip thermocouples)
- :class:`RampSchedule` (LeVeen style: power ramp with the two-roll-off rule)
- :class:`Switched` (one generator switched between probes on a schedule)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field


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


def _check_positive(name: str, value: float, allow_zero: bool = False) -> None:
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


@dataclass
class Switched(Generator):
    """One generator switched between electrode groups (Cool-tip switching controller style).

    The wrapped generator's command is applied to one group at a time; the generator moves to
    the next group every ``dwell_s`` seconds, or at once when the wrapped generator pauses on a
    roll-off (impedance-based switching).

    Parameters
    ----------
    inner : Generator
        The protocol applied to the connected group.
    groups : list of list of int
        Electrode indices (into the simulation's electrode list) connected together per group.
    dwell_s : float
        Maximum time on one group (s).
    """

    inner: Generator = field(default_factory=ImpedanceControlled)
    groups: list[list[int]] = field(default_factory=lambda: [[0]])
    dwell_s: float = 30.0
    mode = "switched"
    _group: int = field(default=0, init=False, repr=False)
    _since: float = field(default=0.0, init=False, repr=False)
    _inners: list[Generator] = field(default_factory=list, init=False, repr=False)

    def __post_init__(self) -> None:
        self.duration_s = self.inner.duration_s
        self.limits = self.inner.limits
        super().__post_init__()
        if not self.groups or any(len(group) == 0 for group in self.groups):
            raise ValueError("switched generator needs non-empty electrode groups")
        _check_positive("dwell_s", self.dwell_s)
        self.reset()

    @property
    def group_count(self) -> int:
        return len(self.groups)

    def reset(self) -> None:
        import copy

        self._group, self._since = 0, 0.0
        self._inners = [copy.deepcopy(self.inner) for _ in self.groups]
        for inner in self._inners:
            inner.reset()

    @property
    def rolloffs(self) -> int:
        return sum(getattr(inner, "rolloffs", 0) for inner in self._inners)

    def control(self, reading: GeneratorReading) -> GeneratorCommand:
        if reading.time_s - self._since >= self.dwell_s:
            self._group = (self._group + 1) % len(self.groups)
            self._since = reading.time_s
            return GeneratorCommand(power_w=0.0, group=self._group, state="switching")
        command = self._inners[self._group].control(reading)
        if command.state in ("roll-off", "paused") and len(self.groups) > 1:
            self._group = (self._group + 1) % len(self.groups)
            self._since = reading.time_s
        return GeneratorCommand(power_w=command.power_w, group=self._group, stop=command.stop, state=command.state)

    def describe(self) -> dict[str, float | str]:
        return {**self.inner.describe(), "mode": f"switched {self.inner.mode}", "dwell_s": self.dwell_s}
