"""The simulation box must not decide the answer (issue 15, point 2)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from rfasim.case import load_case
from rfasim.grid import Grid
from rfasim.phantoms import write_phantom
from rfasim.plan.domain import face_clearances_mm, image_limited_faces, run_with_domain_growth
from rfasim.plan.pipeline import run_case
from rfasim.plan.result import PlanResult


@pytest.fixture(scope="module")
def case_text(tmp_path_factory) -> tuple[Path, str]:
    paths = write_phantom("liver-25mm", tmp_path_factory.mktemp("domain") / "case")
    text = paths["case"].read_text().replace("spacing_mm = 1.0", "spacing_mm = 2.0").replace(
        "duration_s = 720.0", "duration_s = 60.0")
    return paths["case"], text


def plan_with(case_text, margin_mm: float, grow: bool):
    path, text = case_text
    path.write_text(text.replace("margin_mm = 20.0", f"margin_mm = {margin_mm:g}\ngrow_domain = {str(grow).lower()}"))
    return run_case(load_case(path), progress=False)


def test_a_box_too_small_is_grown_until_the_zones_settle(case_text):
    reference = plan_with(case_text, 30.0, grow=False)  # far from every zone
    small = plan_with(case_text, 4.0, grow=False)
    grown = plan_with(case_text, 4.0, grow=True)
    volume = {name: plan.metrics["zone_arrhenius"]["volume_ml"] for name, plan in
              (("reference", reference), ("small", small), ("grown", grown))}
    # the 4 mm box changes the answer, and says so ...
    assert abs(volume["small"] - volume["reference"]) > 0.03 * volume["reference"]
    assert any("reaches the" in w and "face of the simulated region" in w for w in small.metrics["warnings"])
    assert small.metrics["domain"]["converged"] is None
    # ... the grown box does not, and says how it got there
    domain = grown.metrics["domain"]
    assert domain["grown"] and domain["converged"] is True and domain["margin_mm"] >= 14.0
    assert domain["last_change_pct"] < 2.0 and len(domain["boxes"]) >= 2
    assert domain["boxes"][0]["margin_mm"] == 4.0
    assert volume["grown"] == pytest.approx(volume["reference"], rel=0.02)
    assert grown.metrics["zone"]["volume_ml"] == pytest.approx(reference.metrics["zone"]["volume_ml"], rel=0.03)
    assert grown.metrics["run"]["grid_shape"] == domain["boxes"][-1]["grid_shape"]
    assert not any("face of the simulated region" in w for w in grown.metrics["warnings"])


def fake_plan(grid: Grid, zone: np.ndarray, input_affine: np.ndarray, input_shape) -> PlanResult:
    from rfasim.metrics.criteria import get_zone_criterion
    from rfasim.plan.result import ZoneSummary

    def summary(name: str) -> ZoneSummary:
        criterion = get_zone_criterion(name)
        return ZoneSummary(criterion=criterion, threshold=criterion.threshold, volume_ml=float(zone.sum()),
                           axes_mm=(1.0, 1.0, 1.0))

    return PlanResult(grid=grid, tissue_classes=np.ones(grid.shape, np.uint8), target_mask=zone,
                      input_shape=input_shape, input_affine=input_affine, zone_mask=zone, arrhenius_zone_mask=zone,
                      zone=summary("isotherm"), arrhenius_zone=summary("arrhenius"))


def test_a_zone_at_the_edge_of_the_image_is_reported_not_grown():
    grid = Grid(shape=(20, 20, 20), spacing_mm=1.0, origin_mm=(0.0, 0.0, 0.0))
    zone = np.zeros(grid.shape, bool)
    zone[8:12, 8:12, 15:19] = True  # one voxel from the superior face
    affine = np.eye(4)  # the image is exactly the box: every face is an image edge
    assert image_limited_faces(grid, affine, grid.shape) == {"left", "right", "posterior", "anterior", "inferior",
                                                             "superior"}
    assert face_clearances_mm(zone, grid)["superior"] == 1.0
    calls = []

    @dataclass
    class Case:
        roi_margin_mm: float = 20.0
        grow_domain: bool = True

    def run_once(case):
        calls.append(case.roi_margin_mm)
        return fake_plan(grid, zone, affine, grid.shape)

    plan = run_with_domain_growth(Case(), run_once)
    assert calls == [20.0]  # nothing to gain: the box cannot grow beyond the image
    assert any("superior face" in w and "image's edge" in w for w in plan.warnings)
    assert plan.domain["image_edge_faces"] and plan.domain["grown"] is False


def test_zones_that_keep_changing_are_reported():
    grid = Grid(shape=(20, 20, 20), spacing_mm=1.0, origin_mm=(0.0, 0.0, 0.0))
    affine = np.eye(4)
    affine[:3, 3] = -100.0  # a large image: every face can move
    shape = (300, 300, 300)
    sizes = iter([2, 3, 4, 5])

    @dataclass
    class Case:
        roi_margin_mm: float = 5.0
        grow_domain: bool = True

    def run_once(case):
        zone = np.zeros(grid.shape, bool)
        zone[1 : 1 + next(sizes), 5:10, 5:10] = True  # grows with every box, near the left face
        return fake_plan(grid, zone, affine, shape)

    plan = run_with_domain_growth(Case(), run_once)
    domain = plan.domain
    assert domain["converged"] is False and [b["margin_mm"] for b in domain["boxes"]] == [5.0, 15.0, 25.0]
    assert any("still changed by" in w for w in plan.warnings)
