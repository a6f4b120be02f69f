"""The named phantoms: deterministic definitions, generated on demand.

| name | what |
|---|---|
| ``liver-25mm`` | default: a 25 mm tumor more than 15 mm from any vessel |
| ``vessel-30mm`` | a 30 mm tumor 4 mm (wall to wall) from a 6 mm vessel |
| ``large-45mm`` | a 45 mm tumor, larger than the 40 mm RFA limit |
| ``two-tumors`` | 20 mm and 15 mm tumors 40 mm apart |
| ``ct-like-dome`` | real-CT-like: body tissue unlabelled, a tumor under the dome near the image's edge, a body-wall vessel across the needle path |
| ``large-vessel-20mm`` | a 20 mm tumor 3 mm (wall to wall) from a 12 mm vessel (added for the planner) |
| ``dome-20mm`` | a 20 mm tumor under the liver dome, lung (forbidden) above the diaphragm (planner) |
| ``liver-20mm`` | as ``liver-25mm`` with a 20 mm tumor: ``rfasim demo``'s phantom (docs/planner.md) |
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np

from rfasim.errors import InputError
from rfasim.phantoms.generator import Phantom, PhantomSpec, TumorSpec, generate_phantom
from rfasim.phantoms.geometry import Ellipsoid, VesselSegment

DEFAULT_PHANTOM = "liver-25mm"
#: Centre (world RAS+ mm) of every named phantom's image: right upper abdomen.
CENTRE_MM = (60.0, -20.0, 30.0)
#: Designed wall-to-wall gap (mm) between the tumor and the 6 mm vessel of ``vessel-30mm``.
VESSEL_GAP_MM = 4.0


def _offset(offset: tuple[float, float, float]) -> tuple[float, float, float]:
    return tuple(float(c + o) for c, o in zip(CENTRE_MM, offset, strict=True))  # type: ignore[return-value]


def _liver_25mm() -> PhantomSpec:
    return PhantomSpec(
        name="liver-25mm",
        description="a 25 mm tumor deep in the liver, more than 15 mm from any vessel (the default)",
        tumors=(TumorSpec(_offset((0.0, 0.0, 0.0)), (25.0, 25.0, 25.0), vessel_clearance_mm=18.0),),
        centre_mm=CENTRE_MM,
        seed=25,
    )


def _vessel_30mm() -> PhantomSpec:
    radius_tumor, radius_vessel = 15.0, 3.0
    # A 6 mm vein running head to foot (tilted) beside the tumor, on its posterior side.
    distance = radius_tumor + VESSEL_GAP_MM + radius_vessel
    direction = np.array([0.3, 0.0, 1.0]) / np.linalg.norm([0.3, 0.0, 1.0])
    passing = np.asarray(_offset((0.0, -distance, 0.0)))
    vessel = VesselSegment(
        tuple(passing - 70.0 * direction),
        tuple(passing + 70.0 * direction),
        radius_vessel,
        "hepatic",
        0,
    )
    return PhantomSpec(
        name="vessel-30mm",
        description=f"a 30 mm tumor {VESSEL_GAP_MM:g} mm (wall to wall) from a 6 mm vessel: heat-sink effect",
        tumors=(TumorSpec(_offset((0.0, 0.0, 0.0)), (30.0, 30.0, 30.0), vessel_clearance_mm=10.0),),
        centre_mm=CENTRE_MM,
        seed=30,
        extra_vessels=(vessel,),
    )


def _large_45mm() -> PhantomSpec:
    return PhantomSpec(
        name="large-45mm",
        description="a 45 mm tumor, larger than the 40 mm limit for RFA (not eligible)",
        tumors=(TumorSpec(_offset((0.0, 0.0, 0.0)), (45.0, 40.0, 38.0), vessel_clearance_mm=8.0),),
        centre_mm=CENTRE_MM,
        seed=45,
    )


def _two_tumors() -> PhantomSpec:
    return PhantomSpec(
        name="two-tumors",
        description="two tumors, 20 mm and 15 mm, 40 mm apart (the case targets tumor 1, the larger)",
        tumors=(
            TumorSpec(_offset((0.0, 0.0, 12.0)), (20.0, 20.0, 20.0), vessel_clearance_mm=10.0),
            TumorSpec(_offset((-5.0, 8.0, -27.2)), (15.0, 15.0, 15.0), vessel_clearance_mm=10.0),
        ),
        centre_mm=CENTRE_MM,
        seed=2,
    )


def _ct_like_dome() -> PhantomSpec:
    """Like a real CT with expert labels (issue 15): what rfasim must not get wrong on real images.

    - Only the liver, the tumor and the vessels are labelled; the body wall and everything around
      the liver are label 0 (the CT shows them as fat and soft tissue).
    - The tumor lies under the dome, 3 mm below the capsule, and the image ends 9 mm above it, so
      the simulation box is cut by the image's edge above the tumor.
    - A 6 mm vessel in the body wall crosses the needle path 60 mm from the tip, far outside the
      simulation box.
    """
    tumor = TumorSpec(_offset((0.0, -15.0, 40.0)), (22.0, 22.0, 22.0), vessel_clearance_mm=10.0)
    direction = np.array([-1.0, 0.12, -0.2]) / np.linalg.norm([-1.0, 0.12, -0.2])
    tip = np.asarray(tumor.centre_mm) + 15.0 * direction  # as the generator places the probe
    crossing = tip - 60.0 * direction
    wall_vessel = VesselSegment(
        (float(crossing[0]), float(crossing[1]) - 40.0, float(crossing[2])),
        (float(crossing[0]), float(crossing[1]) + 40.0, float(crossing[2])), 3.0, "body-wall", 0,
    )
    return PhantomSpec(
        name="ct-like-dome",
        description="real-CT-like: body tissue unlabelled (label 0), a 22 mm tumor under the dome near the "
                    "image's edge, a 6 mm body-wall vessel across the needle path outside the simulation box",
        tumors=(tumor,),
        centre_mm=CENTRE_MM,
        seed=15,
        extra_vessels=(wall_vessel,),
        unlabelled_body=True,
    )


def _large_vessel_20mm() -> PhantomSpec:
    radius_tumor, radius_vessel, gap = 10.0, 6.0, 3.0
    direction = np.array([0.2, 0.1, 1.0]) / np.linalg.norm([0.2, 0.1, 1.0])
    passing = np.asarray(_offset((0.0, -(radius_tumor + gap + radius_vessel), 0.0)))
    vessel = VesselSegment(tuple(passing - 70.0 * direction), tuple(passing + 70.0 * direction), radius_vessel,
                           "portal", 0)
    return PhantomSpec(
        name="large-vessel-20mm",
        description=f"a 20 mm tumor {gap:g} mm (wall to wall) from a 12 mm vessel: margin cut by the vessel",
        tumors=(TumorSpec(_offset((0.0, 0.0, 0.0)), (20.0, 20.0, 20.0), vessel_clearance_mm=10.0),),
        centre_mm=CENTRE_MM,
        seed=12,
        extra_vessels=(vessel,),
    )


def _dome_20mm() -> PhantomSpec:
    # The main liver ellipsoid reaches z = centre + 50 mm at its top; the tumor sits 6 mm under it
    # and the lung (forbidden) fills the chest above the diaphragm, 5 mm over the liver.
    lung = Ellipsoid(_offset((-10.0, 0.0, 100.0)), (70.0, 70.0, 45.0))
    return PhantomSpec(
        name="dome-20mm",
        description="a 20 mm tumor under the liver dome, the lung (forbidden) above the diaphragm",
        tumors=(TumorSpec(_offset((-10.0, 0.0, 34.0)), (20.0, 20.0, 20.0), vessel_clearance_mm=10.0),),
        centre_mm=CENTRE_MM,
        seed=7,
        forbidden=(lung,),
    )


def _liver_20mm() -> PhantomSpec:
    return PhantomSpec(
        name="liver-20mm",
        description="a 20 mm tumor deep in the liver, more than 15 mm from any vessel (rfasim demo)",
        tumors=(TumorSpec(_offset((0.0, 0.0, 0.0)), (20.0, 20.0, 20.0), vessel_clearance_mm=18.0),),
        centre_mm=CENTRE_MM,
        seed=20,
    )


_CATALOG: dict[str, Callable[..., PhantomSpec]] = {
    "liver-25mm": _liver_25mm,
    "vessel-30mm": _vessel_30mm,
    "large-45mm": _large_45mm,
    "two-tumors": _two_tumors,
    "ct-like-dome": _ct_like_dome,
    "large-vessel-20mm": _large_vessel_20mm,
    "dome-20mm": _dome_20mm,
    "liver-20mm": _liver_20mm,
}


def list_phantoms() -> list[tuple[str, str]]:
    """Names and one-line descriptions of the named phantoms, the default first."""
    return [(name, make_spec(name).description) for name in _CATALOG]


def make_spec(
    name: str,
    spacing_mm: tuple[float, float, float] | None = None,
    orientation: Any = None,
    seed: int | None = None,
) -> PhantomSpec:
    """The definition of a named phantom, optionally with another spacing, orientation or seed.

    Raises
    ------
    InputError
        Unknown name (the message lists the known ones).
    """
    if name not in _CATALOG:
        raise InputError(f"unknown phantom {name!r}; known: {', '.join(_CATALOG)}")
    overrides: dict[str, Any] = {}
    if spacing_mm is not None:
        overrides["spacing_mm"] = tuple(
            float(s) for s in np.broadcast_to(np.asarray(spacing_mm, dtype=float), (3,))
        )
    if orientation is not None:
        overrides["orientation"] = orientation
    if seed is not None:
        overrides["seed"] = int(seed)
    return replace(_CATALOG[name](), **overrides)


def make_phantom(
    name: str = DEFAULT_PHANTOM,
    spacing_mm: tuple[float, float, float] | None = None,
    orientation: Any = None,
    seed: int | None = None,
) -> Phantom:
    """Generate a named phantom in memory (labels, CT, affine, metadata), writing no file.

    Parameters
    ----------
    name : str
        See :func:`list_phantoms`.
    spacing_mm : tuple of float, optional
        Voxel edges (mm) along the image axes; default 1 mm isotropic.
    orientation : {"RAS", "LPS", "oblique"} or 3x3 array, optional
        Image orientation; default RAS.
    seed : int, optional
        Seed of the vessel trees and CT noise; default: the phantom's own.

    Examples
    --------
    >>> phantom = make_phantom("liver-25mm")
    >>> phantom.metadata["tumors"][0]["max_diameter_mm"]
    25.0
    """
    return generate_phantom(make_spec(name, spacing_mm, orientation, seed))
