"""The background heat-step compile: its tiny step compiles the signature a coupled run uses."""

from __future__ import annotations

import numpy as np

from rfasim import precompile
from rfasim.generators import ImpedanceControlled
from rfasim.grid import Grid
from rfasim.physics import bioheat_kernel
from rfasim.probes import ProbePlacement, rasterize_probes
from rfasim.solver import simulate
from rfasim.tissue import TissueClass


def test_the_precompiled_signature_is_the_one_a_coupled_run_uses() -> None:
    grid = Grid.centered(40.0, 2.0)
    material = np.full(grid.shape, TissueClass.LIVER, np.uint8)
    electrodes = rasterize_probes([ProbePlacement("cooltip-17g-2cm", tip_mm=[0.0, 0.0, -8.0], entry_mm=[0.0, 0.0, 40.0])],
                                  grid, material)
    simulate(grid, material, ImpedanceControlled(power_w=5.0, duration_s=4.0), electrodes)
    signatures = list(bioheat_kernel.heat_step.signatures)
    precompile.tiny_heat_step()
    assert bioheat_kernel.heat_step.signatures == signatures  # nothing new compiled: the same types


def test_the_first_heat_step_waits_for_the_second_process_then_unwraps(monkeypatch) -> None:
    from rfasim.physics import bioheat

    waited = []
    monkeypatch.setattr(precompile, "wait", lambda: waited.append(True))
    original = bioheat.heat_step
    precompile._wrap_heat_step()
    assert bioheat.heat_step is not original
    wrapped = precompile.tiny_heat_step()
    assert waited == [True] and bioheat.heat_step is original
    plain = precompile.tiny_heat_step()
    np.testing.assert_array_equal(wrapped.state.temperature_c, plain.state.temperature_c)


def test_nothing_starts_when_the_cache_holds_the_heat_step(monkeypatch) -> None:
    monkeypatch.setattr(precompile, "heat_step_cached", lambda: True)
    assert precompile.start_heat_step_compile() is False
    assert precompile._pending is None
