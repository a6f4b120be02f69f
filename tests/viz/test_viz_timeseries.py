"""Generator plot: three panels, roll-offs and pauses marked from the state column."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rfasim.solver import TimeSeries
from rfasim.viz.timeseries import plot_generator, state_spans


def _timeseries() -> TimeSeries:
    series = TimeSeries()
    for index in range(120):
        time = 5.0 * index
        state = (
            "roll-off"
            if 200 <= time < 230 or 400 <= time < 420
            else "paused"
            if 500 <= time < 510
            else "on"
        )
        on = state == "on"
        series.append(
            time_s=time,
            power_w=60.0 if on else 0.0,
            voltage_v=50.0,
            current_a=1.0,
            impedance_ohm=70.0 if on else 110.0,
            tip_temperature_c=20.0 + time / 60.0,
            energy_j=60.0 * time,
            state=state,
        )
    return series


def test_state_spans() -> None:
    spans = state_spans(
        [0, 1, 2, 3, 4, 5], ["on", "roll-off", "roll-off", "on", "paused", "paused"]
    )
    assert spans == [("roll-off", 1.0, 3.0), ("paused", 4.0, 5.0)]
    assert state_spans([0, 1], ["on", "on"]) == []


def test_generator_plot_marks_rolloffs(tmp_path: Path) -> None:
    from matplotlib.patches import Polygon, Rectangle

    path = tmp_path / "generator.png"
    figure = plot_generator(_timeseries(), path)
    assert len(figure.axes) == 3
    assert [axes.get_ylabel() for axes in figure.axes] == [
        "power (W)",
        "impedance (Ω)",
        "tip temperature (°C)",
    ]
    for axes in figure.axes:
        spans = [p for p in axes.patches if isinstance(p, Polygon | Rectangle)]
        assert len(spans) == 3  # two roll-offs, one pause
        starts = sorted({round(float(line.get_xdata()[0])) for line in axes.lines[1:]})
        assert starts == [200, 400]  # a line at each roll-off onset
    assert "2 roll-offs" in figure.axes[0].get_title()
    assert path.stat().st_size > 5000


def test_generator_plot_from_csv_columns_without_states() -> None:
    arrays = _timeseries().as_arrays()
    figure = plot_generator(arrays)
    assert all(len(axes.patches) == 0 for axes in figure.axes)
    np.testing.assert_allclose(figure.axes[0].lines[0].get_xdata(), arrays["t_s"])
