"""The validation corpus: every experiment file loads, every number is quoted from its source."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from calibration import MAX_PARAMETERS, load_parameter_space
from corpus import CATEGORIES, CorpusError, load_configuration, load_corpus, load_experiment

CORPUS = load_corpus()
ZONE = [e for e in CORPUS.values() if e.kind == "zone"]
NUMBER = re.compile(r"\d+(?:\.\d+)?")
#: Unit factors between a quote and the stored value (cm -> mm, kJ -> J, as written).
FACTORS = (1.0, 10.0, 1000.0)


def numbers(text: str) -> list[float]:
    return [float(n) for n in NUMBER.findall(text.replace(",", ""))]


def test_at_least_ten_published_experiments_of_every_kind() -> None:
    assert len(ZONE) >= 10
    categories = {e.category for e in CORPUS.values()}
    for required in ("single cooled needle", "cluster", "multi-tine", "bipolar", "multi-probe switching",
                     "perfused organ", "heat sink"):
        assert required in categories
    assert set(categories) <= set(CATEGORIES)
    assert {e.setting for e in ZONE} == {"ex vivo", "in vivo", "perfused ex vivo"}
    assert any(e.temperatures for e in ZONE), "thermocouple readings"
    assert any("energy_j" in e.measured for e in ZONE), "delivered energy"


@pytest.mark.parametrize("experiment", list(CORPUS.values()), ids=lambda e: e.name)
def test_every_number_is_quoted_from_the_source(experiment) -> None:
    source = experiment.source
    assert source.url.startswith("http")
    assert source.citation
    assert source.read
    quoted = numbers(source.quote)
    for quantity, measurement in experiment.measured.items():
        in_quote = numbers(measurement.quote)
        assert in_quote, (quantity, measurement.quote)
        for number in in_quote:
            assert number in quoted, f"{experiment.name} {quantity}: {number} is not in the source quote"
        if measurement.derivation is None:
            # The stored value is one of the quoted numbers (up to a unit factor and rounding).
            assert any(abs(measurement.value - n * f) <= 0.006 * measurement.value for n in in_quote for f in FACTORS), (
                experiment.name, quantity, measurement.value, measurement.quote)
        if measurement.spread is not None:
            spread_numbers = numbers(measurement.spread_quote)
            if measurement.spread_kind == "sd-from-cv":
                assert any(abs(measurement.spread - measurement.value * n / 100) <= 0.05 * measurement.spread
                           for n in spread_numbers), (experiment.name, quantity)
            elif measurement.derivation is None or "J" not in measurement.derivation:
                assert any(abs(measurement.spread - n * f) <= 0.006 * measurement.spread
                           for n in spread_numbers for f in FACTORS), (experiment.name, quantity, measurement.spread)
    for reading in experiment.temperatures:
        assert reading.value_c in numbers(reading.quote)
        assert reading.value_c in quoted


@pytest.mark.parametrize("experiment", list(CORPUS.values()), ids=lambda e: e.name)
def test_assumptions_are_recorded(experiment) -> None:
    assert experiment.assumptions, f"{experiment.name}: no [assumptions] (every abstract leaves some)"
    if not experiment.protocol_fully_stated:
        assert len(experiment.assumptions) >= 2
    if experiment.setting == "in vivo" and experiment.kind == "zone" and "liver" not in experiment.tissue_table:
        assert "perfusion" in experiment.assumptions


@pytest.mark.parametrize("experiment", ZONE, ids=lambda e: e.name)
def test_protocol_builds_with_the_case_machinery(experiment) -> None:
    from harness import build_run

    setup = build_run(experiment, spacing_mm=4.0)
    expected = experiment.generator_table().get("duration_s")
    assert setup.generator.duration_s == pytest.approx(expected)
    assert len(setup.probe_groups) == len(experiment.probes)
    schedule = experiment.generator_table().get("probe_schedule", "simultaneous")
    assert setup.schedule == schedule
    if schedule == "switched":
        assert setup.generator.mode == "switched"
    perfused = experiment.tissue_table.get("perfused", True)
    liver = setup.tissue.classes[1]  # TissueClass.LIVER
    assert (liver.perfusion_rate_per_s > 0) == perfused
    if "body_temperature_c" in experiment.tissue_table:
        assert setup.tissue.body_temperature_c == experiment.tissue_table["body_temperature_c"]


def test_companions_compare_like_with_like() -> None:
    for experiment in ZONE:
        if experiment.compare_with is None:
            continue
        partner = CORPUS[experiment.compare_with]
        assert partner.probes == experiment.probes
        assert set(experiment.measured) & set(partner.measured)


def test_standard_case_configuration() -> None:
    standard = load_configuration("standard-case")
    assert standard.probe == "cooltip-17g-3cm"
    assert standard.extent_mm == 80.0
    assert standard.generator_table()["power_w"] == 200.0


def test_bad_files_name_the_field(tmp_path: Path) -> None:
    good = CORPUS["lee2009-cooled-2cm-ex-vivo"].path.read_text()
    cases = {
        "unknown key": (good.replace('species = "bovine"', 'species = "bovine"\ncolour = "red"'), "colour"),
        "bad probe": (good.replace('probe = "cooltip-17g-2cm"', 'probe = "no-such-probe"'), "[device] probe"),
        "bad generator key": (good.replace("[generator]\n", "[generator]\nramp_rate = 1.0\n"), "ramp_rate"),
        "no quote": (good.replace('quote = "2.62 cm"\n', ""), "[measured.short_axis_mm] quote"),
        "bad setting": (good.replace('setting = "ex vivo"', 'setting = "in vitro"'), "setting"),
    }
    for label, (text, field_name) in cases.items():
        path = tmp_path / "lee2009-cooled-2cm-ex-vivo.toml"
        path.write_text(text)
        with pytest.raises(CorpusError, match=re.escape(field_name)):
            load_experiment(path)
        del label


def test_calibration_parameters_have_literature_bounds() -> None:
    space = load_parameter_space()
    assert 1 <= len(space.parameters) <= MAX_PARAMETERS
    for parameter in space.parameters:
        assert parameter.lower <= parameter.default <= parameter.upper
        assert "docs/parameters.md" in parameter.source
        assert parameter.from_unit(parameter.to_unit(parameter.default)) == pytest.approx(parameter.default)
