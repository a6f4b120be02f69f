"""Trackers: observers of a running simulation (py-pde style).

The solver calls ``start`` once, ``update`` after every heat step and ``finish`` at the end; it
never imports plotting or file I/O itself.  Progress bars, snapshots for animations and custom
logging are trackers.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any

import numpy as np


class Tracker:
    """Base tracker: override what you need."""

    def start(self, duration_s: float, grid: Any) -> None:
        """Called once before the first step."""

    def update(self, time_s: float, temperature_c: np.ndarray, **context: Any) -> None:
        """Called after every step with the simulated time (s) and the temperature field (degC)."""

    def finish(self) -> None:
        """Called once after the last step."""


class ProgressTracker(Tracker):
    """A tqdm progress bar over simulated time, showing the generator state.

    Parameters
    ----------
    description : str
        Text in front of the bar.
    file : text stream
        Where the bar goes (stderr by default, so stdout stays clean for summaries).
    """

    def __init__(self, description: str = "ablation", file: Any = None, disable: bool | None = None) -> None:
        self.description = description
        self.file = file if file is not None else sys.stderr
        self.disable = disable
        self._bar: Any = None
        self._shown = 0.0

    def start(self, duration_s: float, grid: Any) -> None:
        from tqdm import tqdm

        self._bar = tqdm(
            total=round(duration_s), unit="s", desc=self.description, file=self.file,
            disable=self.disable, bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.0f}/{total:.0f} s simulated {postfix}",
        )
        self._shown = 0.0

    def update(self, time_s: float, temperature_c: np.ndarray, **context: Any) -> None:
        if self._bar is None:
            return
        advance = round(time_s) - self._shown
        if advance >= 1:
            power = context.get("power_w", float("nan"))
            impedance = context.get("impedance_ohm", float("nan"))
            self._bar.set_postfix_str(
                f"{context.get('generator_state', '')} {power:5.1f} W {impedance:6.1f} Ohm "
                f"Tmax {float(temperature_c.max()):5.1f} C",
                refresh=False,
            )
            self._bar.update(advance)
            self._shown += advance

    def finish(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


@dataclass
class SnapshotTracker(Tracker):
    """Keep temperature snapshots every ``interval_s`` for animations, within a memory bound.

    Snapshots are stored as float32; when more than ``maximum_snapshots`` would be kept, every
    other one is dropped and the interval doubles, so memory stays bounded for any duration.

    Parameters
    ----------
    interval_s : float
        Simulated time between snapshots (s).
    maximum_snapshots : int
        Upper bound on the number kept.
    """

    interval_s: float = 10.0
    maximum_snapshots: int = 64
    times_s: list[float] = field(default_factory=list)
    temperatures_c: list[np.ndarray] = field(default_factory=list)
    _next: float = field(default=0.0, repr=False)

    def start(self, duration_s: float, grid: Any) -> None:
        self.times_s.clear()
        self.temperatures_c.clear()
        self._next = 0.0

    def update(self, time_s: float, temperature_c: np.ndarray, **context: Any) -> None:
        if time_s + 1e-9 < self._next:
            return
        self.times_s.append(time_s)
        self.temperatures_c.append(temperature_c.astype(np.float32))
        self._next = time_s + self.interval_s
        if len(self.times_s) > self.maximum_snapshots:
            self.times_s = self.times_s[::2]
            self.temperatures_c = self.temperatures_c[::2]
            self.interval_s *= 2.0
