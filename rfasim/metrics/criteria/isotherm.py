"""An isotherm of the peak temperature at the user's threshold (case file ``threshold_c``).

The default, 100 degC, is the design's criterion; the accepted range, 40-150 degC, is the case
file's (``rfasim.case``).
"""

from __future__ import annotations

import numpy as np

from rfasim.metrics.criteria._registry import ZoneFields, zone_criterion


@zone_criterion("isotherm", description="peak temperature >= {threshold:g} degC", threshold=100.0, unit="degC",
                adjustable=True, threshold_range=(40.0, 150.0))
def isotherm(fields: ZoneFields) -> np.ndarray:
    """Peak temperature (degC), thresholded at the case's ``threshold_c``.

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
