"""The physics fingerprint: a tiny full-solver run whose result changes when the physics does.

The zone library (:mod:`rfasim.planner.library`) and its calibrations are results of the full
solver; they are only as good as the physics that computed them.  Their cache keys hash every
*input* (device, protocol, tissue table, spacing), but a change of the solver or of a default
tissue property is not an input: a library computed before it would be silently stale.

:func:`physics_fingerprint` runs a small canonical case with the planner's solver options (a
Cool-tip 2 cm needle at 2 mm in a 24 x 24 x 40 mm block of perfused liver, 30 W for 60 s then
impedance-controlled 60 W for 60 s, so that heating, vaporisation, the impedance controller, the
electric re-solves, perfusion shut-down and the Arrhenius dose all take part) and returns a few
figures of its outcome, rounded to 4 significant digits.  Every library and calibration key
includes the fingerprint's hash, so that a physics change makes the keys change: the shipped
library (``rfasim/data/zones``) is then not found, a stale user cache is not read, and the
entries are recomputed; ``tests/planner/test_shipped_library.py`` fails until the shipped library
is regenerated with ``python scripts/build_zone_library.py``.

The run takes about 1 s warm (it is computed once per process).
"""

from __future__ import annotations

import functools
import hashlib
import json
from typing import Any

import numpy as np

#: Significant digits kept of each figure (differences of rounding across machines stay below).
SIGNIFICANT_DIGITS = 4


def _rounded(value: float) -> float:
    return float(f"{value:.{SIGNIFICANT_DIGITS}g}")


def fingerprint_run() -> dict[str, float]:
    """The canonical run's figures (see the module docstring), unrounded."""
    from rfasim.grid import Grid
    from rfasim.planner.library import run_probes
    from rfasim.probes import ProbePlacement, get_probe_model
    from rfasim.tissue import TissueClass

    model = get_probe_model("cooltip-17g-2cm")
    grid = Grid.centered((24.0, 24.0, 40.0), 2.0, (0.0, 0.0, -8.0))
    material = np.full(grid.shape, TissueClass.LIVER, np.uint8)
    placement = ProbePlacement(model, tip_mm=[0.0, 0.0, 0.0], direction=[0.0, 0.0, 1.0])
    heating = run_probes(grid, material, [placement], {"mode": "constant-power", "power_w": 30.0, "duration_s": 60.0},
                         {})
    controlled = run_probes(grid, material, [placement],
                            {"mode": "impedance", "power_w": 60.0, "duration_s": 60.0, "impedance_rise_ohm": 10.0,
                             "pause_s": 5.0}, {})
    figures: dict[str, float] = {}
    for name, run in (("constant", heating), ("impedance", controlled)):
        figures[f"{name}_energy_j"] = run.energy_j
        figures[f"{name}_peak_max_c"] = float(run.peak_c.max())
        figures[f"{name}_peak_mean_c"] = float(run.peak_c.mean())
        figures[f"{name}_end_mean_c"] = float(run.end_c.mean())
        figures[f"{name}_voxels_50c"] = float(np.count_nonzero(run.peak_c >= 50.0))
        figures[f"{name}_damage_voxels"] = float(np.count_nonzero(run.damage >= 1.0))
    return figures


@functools.lru_cache(maxsize=1)
def physics_fingerprint() -> tuple[tuple[str, float], ...]:
    """The canonical run's figures rounded to :data:`SIGNIFICANT_DIGITS` (memoised per process)."""
    return tuple((k, _rounded(v)) for k, v in sorted(fingerprint_run().items()))


def fingerprint_hash(figures: Any = None) -> str:
    """SHA-256 (hex, 16 characters) of the fingerprint (the current one when not given)."""
    data = dict(figures if figures is not None else physics_fingerprint())
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode("utf-8")).hexdigest()[:16]


__all__ = ["SIGNIFICANT_DIGITS", "fingerprint_hash", "fingerprint_run", "physics_fingerprint"]
