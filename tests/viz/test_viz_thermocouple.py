"""The generator plot shows what the device's thermocouple reads, named (issue 15, point 6)."""

from __future__ import annotations

import numpy as np

from rfasim.probes import ProbePlacement
from rfasim.solver import TimeSeries
from rfasim.viz.thermocouple import device_thermocouple
from rfasim.viz.timeseries import plot_generator


def _series() -> TimeSeries:
    series = TimeSeries()
    for index in range(60):
        series.append(time_s=10.0 * index, power_w=100.0, voltage_v=60.0, current_a=1.6, impedance_ohm=60.0,
                      tip_temperature_c=min(100.0, 37.0 + index * 3.0), energy_j=1000.0 * index, state="on")
    return series


def test_a_cooled_needle_reads_its_coolant_and_the_tissue_is_drawn_beside_it():
    probe = ProbePlacement("cooltip-17g-3cm", tip_mm=[0, 0, 0], direction=[0, 0, -1])
    figure = plot_generator(_series(), thermocouple=device_thermocouple([probe]))
    panel = figure.axes[2]
    assert panel.get_ylabel() == "thermocouple (°C)"
    device, tissue = panel.get_lines()[:2]
    assert np.allclose(device.get_ydata(), 10.0)  # the coolant, as the Cool-tip thermocouple reads it
    assert "device thermocouple" in device.get_label()
    assert "cooled tip" in device.get_label()
    assert tissue.get_linestyle() == "--"
    assert "tissue beside the tip" in tissue.get_label()
    assert max(tissue.get_ydata()) == 100.0
    assert [t.get_text() for t in panel.get_legend().get_texts()] == [device.get_label(), tissue.get_label()]


def test_an_uncooled_array_reads_the_tissue_at_its_tine_tips():
    probe = ProbePlacement("starburst-xl", tip_mm=[0, 0, 0], direction=[0, 0, -1])
    trace = device_thermocouple([probe])
    assert trace.device_constant_c is None
    assert "tine-tip" in trace.device_label
    figure = plot_generator(_series(), thermocouple=trace)
    (line,) = figure.axes[2].get_lines()
    assert max(line.get_ydata()) == 100.0
    assert "tine-tip" in line.get_label()
