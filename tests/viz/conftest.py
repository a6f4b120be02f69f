"""A small hand-made plan for the visualisation tests (40 mm grid at 1 mm, runs in milliseconds).

Tumor: sphere of radius 8 mm at the centre.  Zone: T >= 100 degC of a Gaussian peak temperature
centred 5 mm to the right (+x), radius 12 mm, so the local margin runs from -1 mm (left side,
uncovered) to +9 mm (right side).  Arrhenius zone: radius 13 mm.  A vessel (radius 3 mm) runs
along z.  One Cool-tip 17G 3 cm needle enters from anterior-superior-right.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from rfasim.grid import Grid
from rfasim.metrics import MarginSurface, get_zone_criterion
from rfasim.plan.result import Eligibility, MarginSummary, PlanResult, TumorSummary, ZoneSummary
from rfasim.probes import ProbePlacement
from rfasim.tissue import TissueClass

TUMOR_RADIUS_MM = 8.0
ZONE_RADIUS_MM = 12.0
ZONE_OFFSET_MM = np.array([5.0, 0.0, 0.0])
MARGIN_TARGET_MM = 5.0


def uv_sphere(
    radius_mm: float, center_mm: np.ndarray, rings: int = 24, sectors: int = 48
) -> tuple[np.ndarray, np.ndarray]:
    """Vertices and triangles of a latitude-longitude sphere."""
    vertices = [center_mm + np.array([0.0, 0.0, radius_mm])]
    for ring in range(1, rings):
        polar = math.pi * ring / rings
        for sector in range(sectors):
            azimuth = 2 * math.pi * sector / sectors
            vertices.append(
                center_mm
                + radius_mm
                * np.array(
                    [
                        math.sin(polar) * math.cos(azimuth),
                        math.sin(polar) * math.sin(azimuth),
                        math.cos(polar),
                    ]
                )
            )
    vertices.append(center_mm + np.array([0.0, 0.0, -radius_mm]))
    faces = []
    bottom = len(vertices) - 1

    def index(ring: int, sector: int) -> int:
        return 1 + (ring - 1) * sectors + sector % sectors

    for sector in range(sectors):
        faces.append([0, index(1, sector), index(1, sector + 1)])
        faces.append([bottom, index(rings - 1, sector + 1), index(rings - 1, sector)])
    for ring in range(1, rings - 1):
        for sector in range(sectors):
            a, b = index(ring, sector), index(ring, sector + 1)
            c, d = index(ring + 1, sector), index(ring + 1, sector + 1)
            faces += [[a, c, b], [b, c, d]]
    return np.asarray(vertices), np.asarray(faces, dtype=np.int64)


def make_plan(with_ct: bool = True) -> PlanResult:
    """The synthetic plan described in the module docstring."""
    grid = Grid.centered(extent_mm=40.0, spacing_mm=1.0, center_mm=(10.0, -20.0, 30.0))
    center = np.array([10.0, -20.0, 30.0])
    x, y, z = grid.voxel_centers_mm()
    dx, dy, dz = x - center[0], y - center[1], z - center[2]
    radius = np.sqrt(dx**2 + dy**2 + dz**2)
    zone_radius = np.sqrt((dx - ZONE_OFFSET_MM[0]) ** 2 + dy**2 + dz**2)

    classes = np.zeros(grid.shape, dtype=np.uint8)
    classes[2:-2, 2:-2, 2:-2] = TissueClass.LIVER
    classes[:, :, :4] = TissueClass.OTHER
    vessel = ((dx + 12.0) ** 2 + (dy - 8.0) ** 2 <= 9.0) & (classes == TissueClass.LIVER)
    classes[vessel] = TissueClass.VESSEL
    target = radius <= TUMOR_RADIUS_MM
    classes[target] = TissueClass.TUMOR

    width = ZONE_RADIUS_MM / math.sqrt(math.log(113.0 / 63.0))
    peak = (37.0 + 113.0 * np.exp(-((zone_radius / width) ** 2))).astype(np.float32)
    zone = peak >= 100.0
    arrhenius = zone_radius <= ZONE_RADIUS_MM + 1.0

    ct = None
    if with_ct:
        hu = {0: -1000.0, 1: 60.0, 2: 30.0, 3: 170.0, 4: 20.0}
        ct = np.vectorize(hu.get)(classes).astype(np.float32)
        ct += np.random.default_rng(3).normal(0.0, 8.0, grid.shape).astype(np.float32)

    vertices, faces = uv_sphere(TUMOR_RADIUS_MM, center)
    # Exact distance from a tumor surface point to the zone sphere, signed (inside zone positive).
    margin = ZONE_RADIUS_MM - np.linalg.norm(vertices - (center + ZONE_OFFSET_MM), axis=1)
    probe = ProbePlacement(
        "cooltip-17g-3cm", tip_mm=center + np.array([5.0, -3.0, -12.0]), entry_mm=center + np.array([40.0, 60.0, 70.0])
    )
    covered = float((zone & target).sum() / target.sum() * 100.0)
    eligibility = Eligibility(eligible=True, tumor_max_diameter_mm=16.0, limit_mm=40.0, reason="")
    tumor = TumorSummary(
        tumor_id=1,
        volume_ml=float(target.sum()) * grid.voxel_volume_ml,
        centroid_mm=tuple(center.tolist()),
        max_diameter_mm=16.0,
    )
    margin_summary = MarginSummary(
        min_mm=float(margin.min()),
        target_mm=MARGIN_TARGET_MM,
        surface_pct_at_target=40.0,
        surface_pct_at_10mm=0.0,
        ok=False,
        thinnest_at_mm=tuple(vertices[np.argmin(margin)].tolist()),
        percentiles_mm=None,
    )
    criterion = replace(get_zone_criterion("isotherm"), description="T >= {threshold:g} degC")
    zone_summary = ZoneSummary(
        criterion=criterion,
        threshold=100.0,
        volume_ml=float(zone.sum()) * grid.voxel_volume_ml,
        axes_mm=(24.0, 24.0, 24.0),
        coverage_pct=covered,
        margin=margin_summary,
    )
    return PlanResult(
        grid=grid,
        tissue_classes=classes,
        target_mask=target,
        ct_hu=ct,
        zone_mask=zone,
        arrhenius_zone_mask=arrhenius,
        peak_temperature_c=peak,
        damage=None,
        placements=[probe],
        margin_surface=MarginSurface(vertices, faces, margin),
        eligibility=eligibility,
        tumor=tumor,
        zone=zone_summary,
    )


@pytest.fixture(scope="session")
def plan() -> PlanResult:
    return make_plan()


@pytest.fixture(scope="session")
def plan_without_ct() -> PlanResult:
    return make_plan(with_ct=False)


@pytest.fixture
def compare_image() -> Callable[[Path, str], float]:
    """``compare(image_path, name)``: assert the image matches ``image_cache/name.png``."""
    from image_regression import compare_with_cache

    return compare_with_cache
