"""The automatic planner: kernels against their references, cache, constraints, refusal, plan.toml."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from rfasim.case import load_case
from rfasim.phantoms import write_phantom
from rfasim.planner import PlannerOptions, SearchSettings, plan_automatically, write_automatic_plan
from rfasim.planner.library import ZoneLibraryEntry, library_entry
from rfasim.planner.zone_model import probe_frames
from rfasim.probes.placement import lateral_axes


def test_sampling_kernel_matches_map_coordinates() -> None:
    from rfasim.planner._sampling import sample_probe_fields

    rng = np.random.default_rng(3)
    peak = rng.random((9, 8, 12)).astype(np.float32)
    end = rng.random((9, 8, 12)).astype(np.float32)
    origin = np.array([-8.0, -7.0, -20.0])
    points = rng.uniform(-15, 15, (200, 3))
    tips = rng.uniform(-2, 2, (3, 2, 3))
    directions = rng.normal(size=(3, 2, 3))
    frames = probe_frames(directions)
    peak_out = np.empty((2, 3, 200), np.float32)
    end_out = np.empty_like(peak_out)
    sample_probe_fields(peak, end, origin, 2.0, points, tips, frames, peak_out, end_out)
    for c in range(3):
        for p in range(2):
            local = (points - tips[c, p]) @ frames[c, p].T
            index = ((local - origin) / 2.0).T
            expected = ndimage.map_coordinates(peak, index, order=1, mode="constant", cval=0.0)
            inside = np.all((index >= 0) & (index <= np.array(peak.shape)[:, None] - 1), axis=0)
            np.testing.assert_allclose(peak_out[p, c][inside], expected[inside], rtol=1e-5, atol=1e-6)
            assert np.all(peak_out[p, c][~inside] == 0)


def test_anatomy_locate_matches_the_rounded_indices() -> None:
    from rfasim.grid import Grid
    from rfasim.planner.context import AnatomyGrid

    grid = Grid((7, 9, 5), 1.5, (-3.25, 2.0, 10.75))
    volume = np.zeros(grid.shape, np.float32)
    anatomy = AnatomyGrid(grid, volume.astype(np.uint8), volume, volume, volume.astype(bool))
    rng = np.random.default_rng(4)
    points = rng.uniform(-8.0, 25.0, (6, 40, 3))
    points[0, :4] = np.asarray(grid.origin_mm) + 1.5 * np.array([[0.5, 0.5, 0.5], [1.5, 2.5, 3.5],
                                                                   [-0.5, 0.0, 0.0], [6.5, 8.0, 4.0]])
    points[1, 0] = np.nan
    index = np.rint((points - np.asarray(grid.origin_mm)) / grid.spacing_mm)
    inside = np.all((index >= 0) & (index < np.asarray(grid.shape)), axis=-1)
    safe = np.where(inside[..., None], index, 0).astype(np.int64)
    expected = np.where(inside, np.ravel_multi_index(tuple(np.moveaxis(safe, -1, 0)), grid.shape), -1)
    located = anatomy.locate(points)
    assert located.shape == points.shape[:-1] and located.dtype == np.int64
    np.testing.assert_array_equal(located, expected)
    assert located[1, 0] == -1 and anatomy.locate(points[0, 0]).shape == ()


def test_anatomy_grid_is_built_once_per_inputs() -> None:
    from rfasim.planner.context import anatomy_grid
    from rfasim.tissue import TissueClass

    classes = np.full((12, 10, 8), TissueClass.LIVER, np.uint8)
    classes[2:4, 2:4, 2:4] = TissueClass.VESSEL
    others = np.zeros(classes.shape, bool)
    affine = np.diag([2.0, 2.0, 2.0, 1.0])
    first = anatomy_grid(classes, affine, others, 2.0)
    assert anatomy_grid(classes.copy(), affine.copy(), others.copy(), 2.0) is first
    assert not first.vessel_distance_mm.flags.writeable  # shared between callers: read-only
    others[8:10, 6:8, 4:6] = True
    second = anatomy_grid(classes, affine, others, 2.0)
    assert second is not first and second.other_tumors.any() and not first.other_tumors.any()
    assert anatomy_grid(classes, affine, others, 3.0).grid.spacing_mm == 3.0


def test_shaft_contact_penalty_is_the_pairwise_smallest_distance() -> None:
    from rfasim.planner.trajectories import _segment_points, spacing_penalty, spacing_rule
    from rfasim.probes import get_probe_model

    model = get_probe_model("cooltip-17g-3cm")
    rng = np.random.default_rng(6)
    tips = rng.normal(scale=4.0, size=(9, 4, 3))
    directions = np.array([0.0, 0.0, 1.0]) + rng.normal(scale=0.2, size=(9, 4, 3))
    directions /= np.linalg.norm(directions, axis=-1, keepdims=True)
    rule = spacing_rule(model)
    # The per-pair reference: every sample of one shaft against every sample of the other.
    active = max(model.active_length_mm, 0.5 * model.max_deployment_diameter_mm, 5.0)
    path = _segment_points(tips, directions, active + 100.0, 24)
    centre = tips - 0.5 * active * directions
    expected = np.zeros(9)
    for i in range(4):
        for j in range(4):
            if i == j:
                continue
            separation = np.linalg.norm(centre[:, i] - centre[:, j], axis=-1)
            expected += np.maximum(rule.min_spacing_mm - separation, 0.0) / 2.0
    nearest = np.min([[np.linalg.norm(centre[:, i] - centre[:, j], axis=-1) for j in range(4) if j != i]
                      for i in range(4)], axis=1)
    expected += np.maximum(nearest - rule.max_spacing_mm, 0.0).sum(axis=0)
    for i in range(4):
        for j in range(i + 1, 4):
            gap = np.linalg.norm(path[:, i, :, None, :] - path[:, j, None, :, :], axis=-1).min(axis=(1, 2))
            expected += np.maximum(3.0 - gap, 0.0)
    penalty = spacing_penalty(model, tips, directions, rule)
    np.testing.assert_allclose(penalty, expected, rtol=1e-12, atol=1e-12)
    assert penalty.max() > 0.0


def test_probe_frames_follow_the_placement_convention() -> None:
    for direction in ([0.3, -0.2, 0.9], [-0.99, 0.05, 0.1], [0.0, 1.0, 0.0]):
        unit = np.asarray(direction) / np.linalg.norm(direction)
        first, second = lateral_axes(unit, 0.0)
        frame = probe_frames(unit[None])[0]
        np.testing.assert_allclose(frame, np.stack([first, second, unit]), atol=1e-12)


def test_library_entry_is_cached_and_reloaded(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("RFASIM_CACHE_DIR", str(tmp_path / "cache"))
    table = {"mode": "constant-power", "power_w": 20.0, "duration_s": 60.0}
    first = library_entry("cooltip-17g-2cm", 3.0, table)
    files = list((tmp_path / "cache").glob("zone-*.npz"))
    assert len(files) == 1
    second = library_entry("cooltip-17g-2cm", 3.0, table)
    assert isinstance(second, ZoneLibraryEntry)
    np.testing.assert_array_equal(first.peak_rise_c, second.peak_rise_c)
    assert first.peak_rise_c.max() > 20.0  # the probe heated the liver
    # Another input (power) is another key: a second file, never a stale hit.
    library_entry("cooltip-17g-2cm", 3.0, {**table, "power_w": 25.0})
    assert len(list((tmp_path / "cache").glob("zone-*.npz"))) == 2


def _quick_options(**changes) -> PlannerOptions:
    settings = SearchSettings(max_probes=changes.pop("max_probes", 2), population=5, max_generations=6)
    return PlannerOptions(devices=("cooltip-17g-2cm",), spacing_mm=3.0, search=settings, attempts=1,
                          progress=False, calibrate=False, **changes)


def _path_labels(labels: np.ndarray, affine: np.ndarray, entry: np.ndarray, tip: np.ndarray) -> np.ndarray:
    steps = np.linspace(0.0, 1.0, int(np.linalg.norm(tip - entry) / 0.25) + 2)
    points = entry[None] + steps[:, None] * (tip - entry)[None]
    index = np.rint((np.linalg.inv(affine) @ np.c_[points, np.ones(len(points))].T)[:3].T).astype(int)
    index = np.clip(index, 0, np.array(labels.shape) - 1)
    return labels[tuple(index.T)]


PLANNED_PHANTOMS = ["liver-25mm", "vessel-30mm", "two-tumors", "large-vessel-20mm", "dome-20mm"]


@pytest.mark.parametrize("phantom", PLANNED_PHANTOMS)
def test_returned_trajectories_never_cross_vessels_forbidden_or_other_tumors(phantom, tmp_path, monkeypatch) -> None:
    """Every plan the planner returns, on every named phantom it can plan, checked on the label map.

    The planner itself checks its returned plans on the label map (rfasim.planner.guard); this
    test checks them again with its own sampling, and the demo's plan is checked the same way
    (tests/planner/test_demo.py).
    """
    import nibabel

    from rfasim.imaging import find_tumors

    monkeypatch.setenv("RFASIM_CACHE_DIR", str(tmp_path / "cache"))
    paths = write_phantom(phantom, tmp_path / "case")
    case = load_case(paths["case"])
    # The coagulation zone: with two small probes the >= 100 degC search is hopeless on the larger
    # tumors (no plan returned); the trajectory rules do not depend on the criterion.
    case.zone_criterion, case.zone_threshold_c = "arrhenius", None
    plan = plan_automatically(case, _quick_options())
    assert plan.chosen is not None, plan.notes
    assert not plan.chosen.label_map_problems
    write_automatic_plan(plan, tmp_path / "auto")
    proposed = load_case(tmp_path / "auto" / "plan.toml")  # runnable as is: it parses as a case
    assert len(proposed.probes) == plan.chosen.candidate.probe_count
    image = nibabel.load(paths["labels"])
    labels = np.asarray(image.dataobj)
    tumors = find_tumors(labels == 2, image.affine)
    target = min(tumors, key=lambda t: np.linalg.norm(t.centroid_mm - plan.context.target.centroid_mm))
    others = np.zeros(labels.shape, bool)
    for tumor in tumors:
        if tumor.id != target.id:
            others |= tumor.mask(labels.shape)
    marked = labels.copy()
    marked[others] = 99
    for spec in proposed.probes:
        crossed = _path_labels(marked, image.affine, np.asarray(spec.entry_mm), np.asarray(spec.tip_mm))
        assert not np.isin(crossed, (3, 5, 99)).any(), f"{spec}: crosses {sorted(set(crossed.tolist()))}"
        assert crossed[0] in (0, 4), "the entry lies on the skin (body wall next to air)"


def test_tumor_over_the_limit_is_refused_unless_forced(tmp_path) -> None:
    paths = write_phantom("large-45mm", tmp_path / "case")
    plan = plan_automatically(load_case(paths["case"]), _quick_options())
    assert plan.refused and plan.chosen is None
    assert "40 mm limit" in plan.notes[0]


def test_cli_refuses_and_rejects_bad_input(tmp_path, capsys) -> None:
    from rfasim.cli import EXIT_BAD_INPUT, EXIT_REFUSED, main

    paths = write_phantom("large-45mm", tmp_path / "case")
    assert main(["plan", str(paths["case"]), "--auto", "--quiet", "--out", str(tmp_path / "out")]) == EXIT_REFUSED
    assert "REFUSED" in capsys.readouterr().out
    code = main(["plan", str(paths["case"]), "--auto", "--devices", "no-such-probe", "--out", str(tmp_path / "o2")])
    assert code == EXIT_BAD_INPUT
    assert not (tmp_path / "o2").exists()


def test_auto_case_without_probes_is_accepted(tmp_path, capsys) -> None:
    from rfasim.cli import EXIT_REFUSED, main

    paths = write_phantom("large-45mm", tmp_path / "case")
    text = paths["case"].read_text()
    start = text.index("[[probes]]")
    end = text.index("[generator]")
    paths["case"].write_text(text[:start] + text[end:])
    assert main(["plan", str(paths["case"]), "--auto", "--quiet", "--out", str(tmp_path / "out")]) == EXIT_REFUSED
    assert "REFUSED" in capsys.readouterr().out


def test_the_label_map_guard_catches_a_path_through_a_vessel(tmp_path) -> None:
    from rfasim.planner.guard import label_map_violations

    paths = write_phantom("vessel-30mm", tmp_path / "case")
    case = load_case(paths["case"])
    centre = np.array([60.0, -20.0, 30.0])  # the tumor; the 6 mm vessel runs 22 mm posterior (-y)
    tip = centre + np.array([0.0, -5.0, 0.0])
    entry = centre + np.array([0.0, -80.0, 0.0])
    problems = label_map_violations(case, "cooltip-17g-3cm", tip[None], entry[None], centre)
    assert any("large vessel" in p for p in problems), problems
    safe = label_map_violations(case, "cooltip-17g-3cm", tip[None], (centre + [80.0, 0.0, 0.0])[None], centre)
    assert not any("large vessel" in p for p in safe), safe


def test_a_best_plan_without_a_safe_trajectory_is_reported_not_simulated(tmp_path, monkeypatch) -> None:
    """A search whose best candidate has no skin entry for some probe (NaN entry) is not handed
    to the full simulation (which would refuse NaN coordinates): the planner says so instead."""
    import dataclasses

    import rfasim.planner.automatic as automatic

    monkeypatch.setenv("RFASIM_CACHE_DIR", str(tmp_path / "cache"))
    real_search = automatic.search_plans

    def search_without_entries(*arguments, **keywords):
        report = real_search(*arguments, **keywords)
        entries = np.array(report.best.entries_mm, dtype=float)
        entries[-1] = np.nan
        return dataclasses.replace(report, best=dataclasses.replace(report.best, entries_mm=entries))

    monkeypatch.setattr(automatic, "search_plans", search_without_entries)
    case = load_case(write_phantom("liver-25mm", tmp_path / "case")["case"])
    case.zone_criterion, case.zone_threshold_c = "arrhenius", None
    plan = plan_automatically(case, _quick_options())
    assert plan.verifications == [] and plan.chosen is None
    assert plan.unverified_best is not None
    assert any("no safe trajectory" in note and "not simulated" in note for note in plan.notes), plan.notes
