"""First run only: compile the heat step in a second process while this one compiles the rest.

On a machine whose Numba cache is empty, the first simulation compiles its kernels one after the
other (``rfasim demo``: ~47 s of a 61 s run on a 2-core machine), the heat step alone ~23 s of it.
Numba compiles one function at a time per process (a global lock), but a second process can
compile the heat step into the shared on-disk cache (``cache=True``) while this process compiles
the set-up and electric kernels; this process then waits for it before its first heat step and
loads the heat step from the cache instead of compiling it.  Nothing changes when the cache
already holds the heat step (the usual case), or when the second process fails: this process
then compiles the heat step itself, as before.

The second process runs one step of a tiny source-driven :class:`~rfasim.simulation.Simulation`
(:func:`tiny_heat_step`), whose heat step gets the same array types and constants as every run;
``tests/test_precompile.py`` checks that it compiles no signature a coupled run has not.
"""

from __future__ import annotations

import atexit
import os
import subprocess
import sys
import time
from typing import Any

#: Longest wait (s) for the second process before the first heat step compiles here anyway.
WAIT_LIMIT_S = 180.0

_pending: subprocess.Popen[bytes] | None = None

#: The names the wrapping below replaces in ``rfasim.physics.bioheat`` (the module's own imports
#: of the kernels, through which :class:`~rfasim.physics.bioheat.PennesBioheat` calls them).
_HEAT_STEP, _CRITICAL_TIME_STEP = "heat_step", "critical_time_step"


def heat_step_cached() -> bool:
    """Whether Numba's on-disk cache holds an index for the heat step (it then loads, not compiles)."""
    from rfasim.physics import bioheat_kernel

    cache = getattr(bioheat_kernel.heat_step, "_cache", None)
    index = getattr(getattr(cache, "_cache_file", None), "_index_path", None)
    return index is None or os.path.exists(index)


def start_heat_step_compile() -> bool:
    """Start compiling the heat step in a second process if the cache lacks it.

    Returns whether a process was started.  The first heat step of this process then waits for
    it (at most :data:`WAIT_LIMIT_S`).  Set ``RFASIM_NO_PRECOMPILE=1`` to never start one.
    """
    global _pending
    if _pending is not None or os.environ.get("RFASIM_NO_PRECOMPILE") or heat_step_cached():
        return False
    _pending = subprocess.Popen([sys.executable, "-m", "rfasim.precompile"], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
    atexit.register(_stop)
    _wrap_heat_step()
    return True


def _stop() -> None:
    """At exit: end a second process nobody waited for (a command that failed before its first step)."""
    global _pending
    process, _pending = _pending, None
    if process is not None and process.poll() is None:
        process.terminate()


def wait() -> None:
    """Wait for the second process, if one runs (at most :data:`WAIT_LIMIT_S`)."""
    global _pending
    process, _pending = _pending, None
    if process is None:
        return
    try:
        process.wait(timeout=WAIT_LIMIT_S)
    except subprocess.TimeoutExpired:
        process.kill()


def _wrap_heat_step() -> None:
    """Make the first heat step of this process wait for the second process (then unwrap)."""
    from rfasim.physics import bioheat

    original = getattr(bioheat, _HEAT_STEP)

    def first_heat_step(*arguments: Any) -> Any:
        setattr(bioheat, _HEAT_STEP, original)
        wait()
        return original(*arguments)

    setattr(bioheat, _HEAT_STEP, first_heat_step)


def tiny_heat_step() -> Any:
    """One step of a tiny source-driven :class:`~rfasim.simulation.Simulation` (its heat step is
    called as in every run, so it compiles the heat step's one signature); returns the simulation.

    Its stable step comes from the NumPy reference: besides the heat step only the small
    row-classification kernel compiles.
    """
    import numpy as np

    from rfasim.grid import Grid
    from rfasim.physics import bioheat
    from rfasim.simulation import Simulation
    from rfasim.sources import PowerDensitySource
    from rfasim.tissue import TissueClass

    grid = Grid.centered(6.0, 1.0)
    material = np.full(grid.shape, TissueClass.LIVER, np.uint8)
    simulation = Simulation(grid, material, source=PowerDensitySource(np.zeros(grid.shape)), duration_s=1.0)
    original = getattr(bioheat, _CRITICAL_TIME_STEP)
    setattr(bioheat, _CRITICAL_TIME_STEP, bioheat.critical_time_step_reference)
    try:
        simulation.step()
    finally:
        setattr(bioheat, _CRITICAL_TIME_STEP, original)
    return simulation


def _compile_here() -> None:
    start = time.perf_counter()
    tiny_heat_step()
    print(f"heat step compiled in {time.perf_counter() - start:.1f} s", file=sys.stderr)


if __name__ == "__main__":
    _compile_here()
