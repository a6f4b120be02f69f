"""Sweep file parsing, designs, substitutions and every bad input (no simulation)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rfasim.errors import CaseFileError
from rfasim.sweep import (
    apply_inputs,
    load_sweep,
    morris_unit_trajectories,
    run_id_of,
    valid_parameter_paths,
)
from rfasim.sweep.spec import get_case_value, oat_points

POWER = '[[parameter]]\npath = "generator.power_w"\nvalues = [100.0, 150.0, 200.0]\n'
DURATION = '[[parameter]]\npath = "generator.duration_s"\nvalues = [10.0, 20.0]\n'
PERFUSION = '[[parameter]]\npath = "tissue.liver.perfusion_rate_per_s"\nrange = [0.0, 0.02]\n'
SIGMA = '[[parameter]]\npath = "tissue.liver.electrical_conductivity_s_per_m"\nrange = [0.1, 0.4]\nscale = "log"\n'


def test_grid_is_the_cartesian_product(make_sweep):
    spec = load_sweep(make_sweep(POWER + DURATION))
    assert len(spec.runs) == 6
    pairs = {(r.inputs["generator.power_w"], r.inputs["generator.duration_s"]) for r in spec.runs}
    assert pairs == {(p, d) for p in (100.0, 150.0, 200.0) for d in (10.0, 20.0)}
    run = spec.runs[0]
    assert run.case_data["generator"]["power_w"] == run.inputs["generator.power_w"]
    assert spec.case_data["generator"]["power_w"] == 200.0  # base case untouched


def test_list_design_pairs_values_and_needs_equal_lengths(make_sweep):
    body = POWER + '[[parameter]]\npath = "generator.duration_s"\nvalues = [10.0, 15.0, 20.0]\n'
    spec = load_sweep(make_sweep(body, 'design = "list"'))
    assert [(r.inputs["generator.power_w"], r.inputs["generator.duration_s"]) for r in spec.runs] == [
        (100.0, 10.0), (150.0, 15.0), (200.0, 20.0)]
    with pytest.raises(CaseFileError, match="differ in length"):
        load_sweep(make_sweep(POWER + DURATION, 'design = "list"'))


def test_grid_range_with_steps_and_log_scale(make_sweep):
    body = SIGMA.replace('scale = "log"', 'scale = "log"\nsteps = 3')
    spec = load_sweep(make_sweep(body))
    values = [r.inputs["tissue.liver.electrical_conductivity_s_per_m"] for r in spec.runs]
    assert values == pytest.approx([0.1, 0.2, 0.4])


def test_latin_hypercube_is_reproducible_and_stratified(make_sweep):
    header = 'design = "lhs"\nsamples = 8\nseed = 7'
    first = load_sweep(make_sweep(PERFUSION + SIGMA, header))
    again = load_sweep(make_sweep(PERFUSION + SIGMA, header))
    other = load_sweep(make_sweep(PERFUSION + SIGMA, header.replace("seed = 7", "seed = 8")))
    ids = [r.run_id for r in first.runs]
    assert ids == [r.run_id for r in again.runs]
    assert ids != [r.run_id for r in other.runs]
    perfusion = np.array([r.inputs["tissue.liver.perfusion_rate_per_s"] for r in first.runs])
    assert np.all((perfusion >= 0.0) & (perfusion <= 0.02))
    # one sample per eighth of the range: the Latin hypercube property
    assert sorted(np.floor(perfusion / 0.02 * 8).astype(int)) == list(range(8))
    sigma = np.array([r.inputs["tissue.liver.electrical_conductivity_s_per_m"] for r in first.runs])
    assert sorted(np.floor(np.log(sigma / 0.1) / math.log(4.0) * 8).astype(int)) == list(range(8))


def test_random_design_samples_categories_and_ranges(make_sweep):
    body = PERFUSION + '[[parameter]]\npath = "probes.0.model"\nvalues = ["cooltip-17g-3cm", "cooltip-17g-2cm"]\n'
    spec = load_sweep(make_sweep(body, 'design = "random"\nsamples = 12\nseed = 1'))
    assert 2 <= len(spec.runs) <= 12
    assert {r.inputs["probes.0.model"] for r in spec.runs} == {"cooltip-17g-3cm", "cooltip-17g-2cm"}


def test_tip_offset_moves_tip_and_entry(tiny_case, make_sweep):
    spec = load_sweep(make_sweep('[[parameter]]\npath = "probes.0.tip_offset_mm"\nvalues = [0.0, 5.0, [1.0, -2.0, 3.0]]\n'))
    base = spec.case_data["probes"][0]
    tip, entry = np.array(base["tip_mm"]), np.array(base["entry_mm"])
    axis = (tip - entry) / np.linalg.norm(tip - entry)
    moved = apply_inputs(spec.case_data, {"probes.0.tip_offset_mm": 5.0})["probes"][0]
    assert np.allclose(moved["tip_mm"], tip + 5.0 * axis)
    assert np.allclose(moved["entry_mm"], entry + 5.0 * axis)
    shifted = apply_inputs(spec.case_data, {"probes.0.tip_offset_mm": [1.0, -2.0, 3.0]})["probes"][0]
    assert np.allclose(shifted["tip_mm"], tip + np.array([1.0, -2.0, 3.0]))
    assert len(spec.runs) == 3


def test_run_id_is_a_stable_hash_of_the_inputs():
    inputs = {"generator.power_w": 150.0, "tissue.liver.perfusion_rate_per_s": 0.01}
    assert run_id_of(inputs) == run_id_of(dict(reversed(list(inputs.items()))))
    assert run_id_of(inputs) == "d8ea9608b7f3"  # the same on every machine and Python run
    assert run_id_of(inputs) != run_id_of({**inputs, "generator.power_w": 150.5})
    assert len(run_id_of(inputs)) == 12


def test_tissue_and_generator_values_reach_the_case(make_sweep):
    body = ('[[parameter]]\npath = "tissue.arrhenius_frequency_factor_per_s"\nvalues = [7.39e39]\n'
            '[[parameter]]\npath = "tissue.liver.thermal_conductivity_w_per_m_k"\nvalues = [0.6]\n'
            '[[parameter]]\npath = "grid.spacing_mm"\nvalues = [2.5]\n')
    run = load_sweep(make_sweep(body)).runs[0]
    assert get_case_value(run.case_data, "tissue.liver.thermal_conductivity_w_per_m_k") == 0.6
    assert get_case_value(run.case_data, "tissue.arrhenius_frequency_factor_per_s") == 7.39e39
    assert run.case_data["grid"]["spacing_mm"] == 2.5


def test_oat_design_varies_one_parameter_at_a_time(make_sweep):
    spec = load_sweep(make_sweep(POWER + DURATION, 'design = "oat"'))
    points = oat_points(spec)
    assert points[0][0] is None
    assert points[0][1] == {"generator.power_w": 200.0, "generator.duration_s": 20.0}  # base case values
    assert len(spec.runs) == 1 + 2 + 1
    for varied, point in points[1:]:
        changed = [k for k in point if point[k] != points[0][1][k]]
        assert changed == [varied]


def test_morris_trajectories_step_one_factor_by_delta():
    units = morris_unit_trajectories(dimensions=3, trajectories=5, levels=4, seed=3)
    assert units.shape == (5, 4, 3)
    steps = np.diff(units, axis=1)
    assert np.all((np.abs(steps) > 1e-12).sum(axis=2) == 1)
    assert np.allclose(np.abs(steps).sum(axis=2), 4 / 6)
    assert units.min() >= 0.0
    assert units.max() <= 1.0
    for trajectory in units:  # every factor moves once per trajectory
        assert sorted(np.argmax(np.abs(np.diff(trajectory, axis=0)), axis=1)) == [0, 1, 2]


def test_valid_paths_cover_the_case_schema():
    paths = valid_parameter_paths(2)
    for path in ("generator.power_w", "generator.duration_s", "probes.1.model", "probes.0.tip_offset_mm",
                 "tissue.liver.perfusion_rate_per_s", "tissue.tumor.electrical_conductivity_s_per_m",
                 "tissue.arrhenius_frequency_factor_per_s", "grid.spacing_mm", "generator.impedance_rise_ohm"):
        assert path in paths


@pytest.mark.parametrize(
    ("body", "header", "message"),
    [
        ('[[parameter]]\npath = "generator.pwer_w"\nvalues = [1.0]\n', 'design = "grid"',
         r"unknown parameter path 'generator.pwer_w'.*did you mean 'generator.power_w'.*valid: .*generator.duration_s"),
        ('[[parameter]]\npath = "tissue.liver.perfusion"\nvalues = [1.0]\n', 'design = "grid"',
         r"valid: .*tissue.liver.perfusion_rate_per_s"),
        ('[[parameter]]\npath = "images.labels.x"\nvalues = [1.0]\n', 'design = "grid"', "unknown parameter path"),
        ('[[parameter]]\npath = "magic.power"\nvalues = [1.0]\n', 'design = "grid"', "valid sections"),
        ('[[parameter]]\npath = "probes.3.model"\nvalues = ["x"]\n', 'design = "grid"', "base case has 1 probe"),
        ('[[parameter]]\npath = "generator.power_w"\nvalues = []\n', 'design = "grid"', "list is empty"),
        ('[[parameter]]\npath = "generator.power_w"\nrange = [5.0, 5.0]\n', 'design = "lhs"\nsamples = 2', "empty range"),
        ('[[parameter]]\npath = "generator.power_w"\nrange = [9.0, 5.0]\n', 'design = "lhs"\nsamples = 2', "empty range"),
        (PERFUSION, 'design = "lhs"\nsamples = 0', "at least 1"),
        (PERFUSION, 'design = "lhs"', "needs a sample count"),
        (PERFUSION, 'design = "random"\nsamples = -3', "at least 1"),
        (PERFUSION, 'design = "grid"', "needs 'steps'"),
        (PERFUSION, 'design = "sobol"', "unknown 'sobol'"),
        (PERFUSION.replace("range = [0.0, 0.02]", 'range = [0.0, 0.02]\nscale = "log"'),
         'design = "lhs"\nsamples = 2', "positive low end"),
        ('[[parameter]]\npath = "generator.power_w"\nvalues = [1.0]\nrange = [1.0, 2.0]\n', 'design = "grid"',
         "exactly one of"),
        ('[[parameter]]\npath = "generator.power_w"\nvalues = [-5.0]\n', 'design = "grid"', "makes an invalid case"),
        ('[[parameter]]\npath = "grid.spacing_mm"\nvalues = [9.0]\n', 'design = "grid"', "between 0.2 and 5 mm"),
        ('[[parameter]]\npath = "probes.0.tip_offset_mm"\nvalues = [[1.0, 2.0]]\n', 'design = "grid"', "tip offset"),
        (POWER + POWER, 'design = "grid"', "varied twice"),
        ("", 'design = "grid"', r"at least one \[\[parameter\]\]"),
        (POWER, 'design = "grid"\ncolour = "red"', "unknown key 'colour'"),
        (POWER.replace("values", "valuez"), 'design = "grid"', "unknown key 'valuez'"),
    ],
)
def test_bad_sweep_files_are_case_file_errors(make_sweep, body, header, message):
    with pytest.raises(CaseFileError, match=message):
        load_sweep(make_sweep(body, header))


def test_missing_files_and_bad_toml(tmp_path, make_sweep):
    with pytest.raises(CaseFileError, match="sweep file not found"):
        load_sweep(tmp_path / "nope.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("[sweep\n")
    with pytest.raises(CaseFileError, match="not valid TOML"):
        load_sweep(broken)
    path = make_sweep(POWER)
    path.write_text(path.read_text().replace("case.toml", "missing.toml"))
    with pytest.raises(CaseFileError, match="not found"):
        load_sweep(path)
