"""Published margin-outcome series, as context for a measured margin (never as a prognosis).

The table lives in ``rfasim/data/assess/margin_outcomes.toml`` with its sources; this module reads
it and says where a measured minimal margin falls among the published bands.
"""

from __future__ import annotations

import sys
from functools import lru_cache
from importlib import resources
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

#: Sentence that goes with every use of the table.
DISCLAIMER = (
    "published series of other patients, for context only: not a prognosis for this patient"
)


@lru_cache(maxsize=1)
def margin_outcomes() -> dict[str, Any]:
    """The parsed ``margin_outcomes.toml`` (sources, bands, thresholds).

    Returns
    -------
    dict
        The file's tables (parsed once and cached: do not modify).
    """
    text = resources.files("rfasim").joinpath("data/assess/margin_outcomes.toml").read_text("utf-8")
    return tomllib.loads(text)


def _source(source_id: str) -> dict[str, Any]:
    for source in margin_outcomes()["source"]:
        if source["id"] == source_id:
            return source
    raise KeyError(source_id)  # pragma: no cover - the table is part of the package


def margin_context(min_margin_mm: float | None) -> dict[str, Any]:
    """Where a minimal margin falls among the published bands, with the sources.

    Parameters
    ----------
    min_margin_mm : float or None
        Measured minimal ablative margin (mm); negative when part of the tumor is not covered.

    Returns
    -------
    dict
        ``note``, ``sources`` (citation, url, population, endpoint) and ``statements``: one line
        per source saying which published group the margin falls into.

    Examples
    --------
    >>> margin_context(3.2)["statements"][0].startswith("Wang et al. 2013")
    True
    """
    wang = _source("wang2013")
    laimer = _source("laimer2020")
    statements = []
    if min_margin_mm is None or min_margin_mm < 0:
        statements.append(
            "Wang et al. 2013 and Laimer et al. 2020 studied completely covered tumors only: "
            "a tumor not fully covered by the ablation zone is outside their series"
        )
    else:
        rounded = round(min_margin_mm)
        band = next(
            (b for b in wang["bands"] if b["low_mm"] <= rounded <= b["high_mm"]), None
        )
        if band is None:
            statements.append(
                f"Wang et al. 2013 (colorectal liver metastases): a {min_margin_mm:.1f} mm margin "
                "is beyond their largest group (11-15 mm, 80 % 2-year local-progression-free "
                "survival)"
            )
        else:
            statements.append(
                f"Wang et al. 2013 (colorectal liver metastases): the {band['label']} group had a "
                f"{band['two_year_ltp_free_survival_pct']:g} % 2-year local-progression-free "
                "survival"
            )
        threshold = float(laimer["threshold_mm"])
        side = "above" if min_margin_mm > threshold else "at or below"
        statements.append(
            f"Laimer et al. 2020 (hepatocellular carcinoma): {side} their {threshold:g} mm "
            "threshold; they saw no local progression with a margin above it"
        )
    return {
        "note": DISCLAIMER,
        "statements": statements,
        "sources": [
            {key: source[key] for key in ("id", "citation", "url", "population", "endpoint")}
            for source in margin_outcomes()["source"]
        ],
    }
