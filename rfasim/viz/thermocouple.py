"""What the device's own thermocouple reads, for the generator plot.

The solver records ``tip_temperature_c``: the hottest tissue voxel at the probes' thermocouple
positions.  For an uncooled probe (tine-tip thermocouples, a bare needle) that is what the
generator displays.  For an internally cooled needle (Cool-tip) it is not: the device's
thermocouple sits inside the electrode tip, in the chilled saline's path, and reads 10-20 degC
during the ablation (rfasim/data/probes/cooltip-17g-3cm.toml), while the tissue beside the tip
reaches 100 degC.  rfasim holds a cooled electrode's metal at the coolant temperature, so the
model's reading of that thermocouple is the coolant temperature; the tissue temperature is
drawn beside it, dashed and named, so that the two are not confused.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rfasim.probes import ProbePlacement


@dataclass(frozen=True)
class ThermocoupleTrace:
    """How the generator plot's temperature panel is drawn.

    Attributes
    ----------
    axis_label : str
        The panel's y label.
    device_label : str
        Legend label of the device's reading.
    device_constant_c : float or None
        The device reading when it is a constant (a cooled tip: the coolant temperature); None:
        the recorded ``tip_temperature_c`` is the device reading.
    tissue_label : str or None
        Legend label of the recorded tissue temperature when it is drawn beside the device
        reading (cooled tips), None otherwise.
    """

    axis_label: str
    device_label: str
    device_constant_c: float | None = None
    tissue_label: str | None = None


def device_thermocouple(placements: Sequence[ProbePlacement]) -> ThermocoupleTrace:
    """The trace for the plan's probes (the first probe's model decides).

    Parameters
    ----------
    placements : sequence of ProbePlacement
        The plan's probes (none: a generic thermocouple trace).

    Returns
    -------
    ThermocoupleTrace
        Axis and legend labels, and the cooled tip's constant reading (°C) when there is one.

    Examples
    --------
    >>> from rfasim.probes import ProbePlacement
    >>> probe = ProbePlacement("cooltip-17g-3cm", tip_mm=[0, 0, 0], direction=[0, 0, -1])
    >>> device_thermocouple([probe]).device_constant_c
    10.0
    """
    if not placements:
        return ThermocoupleTrace("thermocouple (°C)", "thermocouple")
    model = placements[0].model
    if model.cooled:
        return ThermocoupleTrace(
            axis_label="thermocouple (°C)",
            device_label=f"device thermocouple, inside the cooled tip (model: coolant {model.coolant_temperature_c:g} °C)",
            device_constant_c=float(model.coolant_temperature_c),
            tissue_label="tissue beside the tip (model; the device does not read it while cooling)",
        )
    where = "tine-tip thermocouples (hottest)" if getattr(model, "tine_tip_thermocouples", 0) else "tip thermocouple"
    return ThermocoupleTrace("thermocouple (°C)", f"device {where}, in tissue")
