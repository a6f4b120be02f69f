"""The design's necrosis criterion: tissue that reached 100 degC (``../shared/spec.md``)."""

from __future__ import annotations

import numpy as np

from rfasim.metrics.criteria._registry import ZoneFields, zone_criterion


@zone_criterion("peak_temperature", description="peak temperature >= {threshold:g} degC", threshold=100.0,
                unit="degC")
def peak_temperature(fields: ZoneFields) -> np.ndarray:
    """Peak temperature (degC); the zone is where it reached 100 degC.

    Parameters
    ----------
    fields : ZoneFields
        The simulation's fields on its grid.

    Returns
    -------
    numpy.ndarray
        Peak temperature per voxel (degC).
    """
    return fields.peak_temperature_c
