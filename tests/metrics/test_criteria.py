"""The zone-criterion registry: the built-in criteria, and a new one as one new file."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pytest

import rfasim.metrics.criteria as criteria
import rfasim.plugins as plugins
from rfasim.metrics.criteria import (
    ZoneCriterion,
    ZoneFields,
    _registry,
    discover_zone_criteria,
    get_zone_criterion,
    register_zone_criterion,
    zone_criterion_names,
)


@pytest.fixture
def fields() -> ZoneFields:
    rng = np.random.default_rng(11)
    return ZoneFields(
        peak_temperature_c=rng.uniform(37.0, 120.0, (6, 5, 4)),
        damage={"arrhenius": rng.uniform(0.0, 3.0, (6, 5, 4)), "cem43": rng.uniform(0.0, 600.0, (6, 5, 4))},
    )


@pytest.fixture
def private_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Registrations made by a test vanish after it."""
    monkeypatch.setattr(_registry, "_REGISTRY", dict(_registry._REGISTRY))


def test_builtin_criteria_and_their_thresholds(fields: ZoneFields) -> None:
    assert set(zone_criterion_names()) == {"peak_temperature", "isotherm", "arrhenius", "cem43"}
    expected = {
        "peak_temperature": (fields.peak_temperature_c, 100.0, "peak temperature >= 100 degC"),
        "isotherm": (fields.peak_temperature_c, 100.0, "peak temperature >= 100 degC"),
        "arrhenius": (fields.damage["arrhenius"], 1.0, "Arrhenius damage Omega >= 1"),
        "cem43": (fields.damage["cem43"], 240.0, "CEM43 >= 240 min"),
    }
    for name, (dose, threshold, text) in expected.items():
        criterion = get_zone_criterion(name)
        assert criterion.threshold == threshold
        assert criterion.describe() == text
        np.testing.assert_array_equal(criterion.zone(fields), dose >= threshold)
        assert 0 < criterion.zone(fields).sum() < dose.size  # the fixture straddles every threshold


def test_only_the_isotherm_takes_the_users_threshold(fields: ZoneFields) -> None:
    isotherm = get_zone_criterion("isotherm")
    assert isotherm.adjustable
    assert isotherm.threshold_range == (40.0, 150.0)
    assert isotherm.describe(60.0) == "peak temperature >= 60 degC"
    assert isotherm.temperature_threshold_c(60.0) == 60.0
    np.testing.assert_array_equal(isotherm.zone(fields, 60.0), fields.peak_temperature_c >= 60.0)
    fixed = get_zone_criterion("peak_temperature")
    assert not fixed.adjustable
    assert fixed.resolve_threshold(60.0) == 100.0  # the design's, not the user's
    assert fixed.temperature_threshold_c() == 100.0
    assert get_zone_criterion("arrhenius").temperature_threshold_c() is None


def test_unknown_names_and_missing_fields_are_clear() -> None:
    with pytest.raises(KeyError, match=r"unknown zone criterion 'omega' \(valid: .*arrhenius"):
        get_zone_criterion("omega")
    without_cem = ZoneFields(peak_temperature_c=np.zeros(3), damage={"arrhenius": np.zeros(3)})
    with pytest.raises(KeyError, match=r"no 'cem43' damage field \(the run accumulated: arrhenius\)"):
        get_zone_criterion("cem43").zone(without_cem)


def test_registration_is_checked(private_registry: None) -> None:
    with pytest.raises(ValueError, match="already registered"):
        register_zone_criterion(get_zone_criterion("arrhenius"))
    with pytest.raises(ValueError, match="only temperature thresholds can be adjustable"):
        ZoneCriterion("dose", "dose >= {threshold:g}", 1.0, "", lambda f: f.dose("arrhenius"), adjustable=True,
                      threshold_range=(0.5, 2.0))


NEW_CRITERION = '''
from rfasim.metrics.criteria import ZoneFields, zone_criterion


@zone_criterion("isotherm-60", description="peak temperature >= {threshold:g} degC", threshold=60.0,
                unit="degC")
def isotherm_60(fields: ZoneFields):
    return fields.peak_temperature_c
'''


NEW_MODULE = "rfasim.metrics.criteria.isotherm_60"


@pytest.fixture
def new_criterion_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """One new file in the criteria package (in a second folder of it: the source tree stays clean)."""
    (tmp_path / "isotherm_60.py").write_text(NEW_CRITERION)
    monkeypatch.setattr(criteria, "__path__", [*criteria.__path__, str(tmp_path)])
    monkeypatch.setattr(_registry, "_REGISTRY", dict(_registry._REGISTRY))
    yield tmp_path / "isotherm_60.py"
    sys.modules.pop(NEW_MODULE, None)


def test_a_new_criterion_is_one_new_file(new_criterion_file: Path, fields: ZoneFields) -> None:
    assert "isotherm-60" not in zone_criterion_names()
    assert NEW_MODULE in discover_zone_criteria()
    criterion = get_zone_criterion("isotherm-60")
    assert criterion.describe() == "peak temperature >= 60 degC"
    np.testing.assert_array_equal(criterion.zone(fields), fields.peak_temperature_c >= 60.0)


def test_damage_criteria_name_the_damage_models_they_read() -> None:
    assert get_zone_criterion("arrhenius").damage_models == ("arrhenius",)
    assert get_zone_criterion("cem43").damage_models == ("cem43",)
    assert get_zone_criterion("isotherm").damage_models == get_zone_criterion("peak_temperature").damage_models == ()


def test_the_extending_page_example_is_a_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                private_registry: None, fields: ZoneFields) -> None:
    """docs/extending.md's zone criterion, named in RFASIM_PLUGINS, is a criterion like the built-in ones."""
    page = (Path(__file__).parents[2] / "docs" / "extending.md").read_text(encoding="utf-8")
    section = page[page.index("## A zone criterion"):]
    source = re.search(r"```python\n(.*?)```", section, flags=re.DOTALL).group(1)
    plugin = tmp_path / "isotherm_60.py"
    plugin.write_text(source)
    monkeypatch.setenv("RFASIM_PLUGINS", str(plugin))
    monkeypatch.setattr(plugins, "_loaded", set())
    before = set(sys.modules)
    assert "isotherm-60" in zone_criterion_names()
    for name in set(sys.modules) - before:  # the plugin module, imported under a generated name
        sys.modules.pop(name)
    criterion = get_zone_criterion("isotherm-60")
    assert criterion.describe() == "peak temperature >= 60 degC"
    assert criterion.temperature_threshold_c() == 60.0
    np.testing.assert_array_equal(criterion.zone(fields), fields.peak_temperature_c >= 60.0)
