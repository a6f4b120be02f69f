"""Thermal dose: the zone is where the cumulative equivalent minutes at 43 degC reached 240.

240 min is the usual lethal thermal dose: for instance, after MR-guided HIFU ablation of mouse
tumors the non-enhancing region on contrast T1 images matched the region that received
CEM43 >= 240 min (https://pmc.ncbi.nlm.nih.gov/articles/PMC4365027).  The dose model itself (Sapareto & Dewey 1984)
is in ``docs/parameters.md``.
"""

from __future__ import annotations

import numpy as np

from rfasim.metrics.criteria._registry import ZoneFields, zone_criterion


@zone_criterion("cem43", description="CEM43 >= {threshold:g} min", threshold=240.0, unit="min")
def cem43(fields: ZoneFields) -> np.ndarray:
    """Cumulative equivalent minutes at 43 degC."""
    return fields.dose("cem43")
