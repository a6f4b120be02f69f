"""One generator switched between electrode groups (a wrapper around any mode, not a mode)."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from rfasim.generators.base import Generator, GeneratorCommand, GeneratorReading, _check_positive
from rfasim.generators.impedance import ImpedanceControlled


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
