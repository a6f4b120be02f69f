"""Generator records over time: power, impedance and tip temperature, with roll-offs marked."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from rfasim.atomic import atomic_path

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from rfasim.viz.thermocouple import ThermocoupleTrace

#: Generator states shaded on the plots, with their colour.
STATE_COLORS = {"roll-off": "#e41a1c", "paused": "#7f7f7f", "switching": "#377eb8"}


def state_spans(time_s: npt.ArrayLike, states: Sequence[str]) -> list[tuple[str, float, float]]:
    """Contiguous runs of marked generator states as ``(state, start_s, end_s)``.

    A run lasts from its first record to the next record of another state (or the last record).
    Only the states of :data:`STATE_COLORS` are marked.

    Parameters
    ----------
    time_s : array_like, shape (n,)
        Time of each record (s).
    states : sequence of str
        Generator state of each record.

    Returns
    -------
    list of tuple of (str, float, float)
        State, start (s) and end (s) of each run.

    Examples
    --------
    >>> state_spans([0, 1, 2, 3, 4], ["on", "roll-off", "roll-off", "on", "paused"])
    [('roll-off', 1.0, 3.0), ('paused', 4.0, 4.0)]
    """
    times = np.asarray(time_s, dtype=float)
    spans: list[tuple[str, float, float]] = []
    start = 0
    for index in range(1, len(states) + 1):
        if index < len(states) and states[index] == states[start]:
            continue
        state = states[start]
        if state in STATE_COLORS:
            end_time = times[index] if index < len(states) else times[index - 1]
            spans.append((state, float(times[start]), float(end_time)))
        start = index
    return spans


def _columns(timeseries: Any) -> tuple[dict[str, np.ndarray], list[str]]:
    if isinstance(timeseries, Mapping):
        arrays = {
            name: np.asarray(values) for name, values in timeseries.items() if name != "state"
        }
        states = list(timeseries.get("state", []))
    else:
        arrays = timeseries.as_arrays()
        states = list(getattr(timeseries, "state", []))
    if len(states) != len(arrays["t_s"]):
        states = []
    return arrays, states


def plot_generator(
    timeseries: Any, path: str | os.PathLike[str] | None = None, *, dpi: float = 110.0,
    thermocouple: ThermocoupleTrace | None = None,
) -> Figure:
    """Power (W), impedance (ohm) and tip temperature (degC) against time (s), on shared axes.

    With ``thermocouple`` (:func:`rfasim.viz.thermocouple.device_thermocouple`) the temperature
    panel shows what the device's own thermocouple would read, named, and for a cooled tip the
    tissue temperature beside it, dashed.

    Roll-offs are shaded red (with a line at each onset), pauses grey, switching between probe
    groups blue, read from the ``state`` column.

    Parameters
    ----------
    timeseries : TimeSeries or mapping
        :class:`rfasim.solver.TimeSeries`, or columns keyed by the ``timeseries.csv`` names
        (``t_s``, ``power_w``, ``impedance_ohm``, ``tip_temperature_c``), with an optional
        ``state`` sequence.
    path : str or PathLike, optional
        PNG to write (atomically).
    dpi : float
        Resolution of the PNG.

    Returns
    -------
    matplotlib.figure.Figure
        Three axes: power, impedance, tip temperature.

    Examples
    --------
    >>> figure = plot_generator(result.timeseries, "generator.png")  # doctest: +SKIP
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    arrays, states = _columns(timeseries)
    time = arrays["t_s"]
    figure = Figure(figsize=(9.0, 7.0))
    FigureCanvasAgg(figure)
    axes = figure.subplots(3, 1, sharex=True)
    panels = (
        ("power_w", "power (W)", "#d95f02"),
        ("impedance_ohm", "impedance (Ω)", "#1b9e77"),
        ("tip_temperature_c", "tip temperature (°C)", "#7570b3"),
    )
    for panel, (column, label, color) in zip(axes, panels, strict=True):
        values = arrays.get(column)
        if values is not None and len(values) == len(time):
            panel.plot(
                time,
                values,
                color=color,
                linewidth=1.3,
                drawstyle="steps-post" if column == "power_w" else "default",
            )
        panel.set_ylabel(label)
        panel.grid(True, alpha=0.3)
    spans = state_spans(time, states) if states else []
    if thermocouple is not None:
        _draw_thermocouple(axes[2], time, arrays.get("tip_temperature_c"), thermocouple)
    for state, start, end in spans:
        for panel in axes:
            if end > start:
                panel.axvspan(
                    start, end, color=STATE_COLORS[state], alpha=0.18, linewidth=0, label=state
                )
            if state == "roll-off":
                panel.axvline(start, color=STATE_COLORS[state], linewidth=0.9, alpha=0.8)
    axes[-1].set_xlabel("time (s)")
    rolloffs = sum(1 for state, _, _ in spans if state == "roll-off")
    title = "generator"
    if len(time):
        energy = arrays.get("energy_j")
        energy_text = f", {energy[-1] / 1000:.1f} kJ" if energy is not None and len(energy) else ""
        title = f"generator: {time[-1]:.0f} s{energy_text}, {rolloffs} roll-off{'s' if rolloffs != 1 else ''}"
    axes[0].set_title(title)
    present = [state for state in STATE_COLORS if any(span[0] == state for span in spans)]
    if present:
        axes[0].legend(
            handles=[Patch(color=STATE_COLORS[s], alpha=0.35, label=s) for s in present],
            loc="upper right",
            fontsize=8,
        )
    figure.tight_layout()
    if path is not None:
        with atomic_path(path) as temporary:
            figure.savefig(temporary, dpi=dpi, format="png")
    return figure


def _draw_thermocouple(
    panel: Axes, time: np.ndarray, tissue: np.ndarray | None, trace: ThermocoupleTrace
) -> None:
    """Redraw the temperature panel as the device's thermocouple reading (see the thermocouple module)."""
    for line in list(panel.get_lines()):
        line.remove()
    if trace.device_constant_c is not None:
        panel.plot(time, np.full(len(time), trace.device_constant_c), color="#7570b3", linewidth=1.6,
                   label=trace.device_label)
        if tissue is not None and len(tissue) == len(time):
            panel.plot(time, tissue, color="#7570b3", linewidth=1.0, linestyle="--", alpha=0.7,
                       label=trace.tissue_label)
    elif tissue is not None and len(tissue) == len(time):
        panel.plot(time, tissue, color="#7570b3", linewidth=1.3, label=trace.device_label)
    panel.set_ylabel(trace.axis_label)
    panel.legend(loc="lower right", fontsize=7)
