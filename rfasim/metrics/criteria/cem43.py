"""Thermal dose: the zone is where the cumulative equivalent minutes at 43 degC reached 240.

240 min is the usual lethal thermal dose: for instance, after MR-guided HIFU ablation of mouse
tumors the non-enhancing region on contrast T1 images matched the region that received
CEM43 >= 240 min (https://pmc.ncbi.nlm.nih.gov/articles/PMC4365027).  The threshold is the dose
model's own (:class:`rfasim.physics.damage.CEM43Dose`; Sapareto & Dewey 1984,
``docs/parameters.md``).
"""

from __future__ import annotations

import numpy as np

from rfasim.metrics.criteria._registry import ZoneFields, zone_criterion
from rfasim.physics.damage import CEM43Dose


@zone_criterion("cem43", description="CEM43 >= {threshold:g} min", threshold=CEM43Dose().threshold_min, unit="min",
                damage_models=("cem43",))
def cem43(fields: ZoneFields) -> np.ndarray:
    """Cumulative equivalent minutes at 43 degC.

    Parameters
    ----------
    fields : ZoneFields
        The simulation's fields on its grid.

    Returns
    -------
    numpy.ndarray
        CEM43 per voxel (min).
    """
    return fields.dose("cem43")
