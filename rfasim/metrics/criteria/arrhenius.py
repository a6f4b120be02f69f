"""Arrhenius damage: the zone is where the damage integral Omega reached 1 (63 % denatured).

The coagulation criterion of ``docs/parameters.md`` (rate constants there too).
"""

from __future__ import annotations

import numpy as np

from rfasim.metrics.criteria._registry import ZoneFields, zone_criterion


@zone_criterion("arrhenius", description="Arrhenius damage Omega >= {threshold:g}", threshold=1.0, unit="",
                damage_models=("arrhenius",))
def arrhenius(fields: ZoneFields) -> np.ndarray:
    """The Arrhenius damage integral Omega (dimensionless).

    Parameters
    ----------
    fields : ZoneFields
        The simulation's fields on its grid.

    Returns
    -------
    numpy.ndarray
        Omega per voxel (dimensionless).
    """
    return fields.dose("arrhenius")
