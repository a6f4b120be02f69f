"""Necrosis-zone criteria: one registry from which the case file and the plan take their names.

A criterion turns the fields a simulation accumulates (:class:`ZoneFields`: peak temperature and
the damage models' doses) into one *dose field*; the zone is where that field reaches the
criterion's threshold.  Every module of this package registers its criterion when the package is
imported, so adding a criterion is one new file here::

    # rfasim/metrics/criteria/isotherm_60.py
    from rfasim.metrics.criteria import ZoneFields, zone_criterion

    @zone_criterion("isotherm-60", description="peak temperature >= {threshold:g} degC",
                    threshold=60.0, unit="degC")
    def isotherm_60(fields: ZoneFields):
        return fields.peak_temperature_c

after which ``[zone] criterion = "isotherm-60"`` is a valid case file entry and the plan measures
it.  Code outside the package may register criteria with the same decorator (before the case
file is read).

Examples
--------
>>> import numpy as np
>>> fields = ZoneFields(peak_temperature_c=np.array([37.0, 101.0]),
...                     damage={"arrhenius": np.array([0.1, 4.0]), "cem43": np.array([0.0, 500.0])})
>>> criterion = get_zone_criterion("arrhenius")
>>> criterion.zone(fields).tolist(), criterion.describe()
([False, True], 'Arrhenius damage Omega >= 1')
"""

from __future__ import annotations

import importlib
import pkgutil

from rfasim.metrics.criteria._registry import (
    ZoneCriterion,
    ZoneFields,
    get_zone_criterion,
    register_zone_criterion,
    zone_criterion,
    zone_criterion_names,
)


def discover_zone_criteria() -> list[str]:
    """Import every module of this package (each registers its criterion when imported).

    Runs when the package is first imported; modules already imported are not run again.

    Returns
    -------
    list of str
        The modules found (``rfasim.metrics.criteria.<name>``).
    """
    found = []
    for module in pkgutil.iter_modules(__path__):
        if not module.name.startswith("_"):
            found.append(f"{__name__}.{module.name}")
            importlib.import_module(found[-1])
    return found


discover_zone_criteria()

__all__ = [
    "ZoneCriterion",
    "ZoneFields",
    "discover_zone_criteria",
    "get_zone_criterion",
    "register_zone_criterion",
    "zone_criterion",
    "zone_criterion_names",
]
