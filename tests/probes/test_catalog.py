"""Catalog loading, listing and user-defined probe files."""

from __future__ import annotations

import pytest

from rfasim.errors import ProbeError
from rfasim.generators import all_generator_keys
from rfasim.probes import ProbeModel, catalog_table, get_probe_model, load_catalog

REQUIRED = {
    "cooltip-17g-2cm", "cooltip-17g-3cm", "cooltip-cluster-2.5cm", "leveen-3cm", "leveen-4cm",
    "starburst-xl", "bipolar-pair-17g", "celon-prosurge-t30",
}

USER_PROBE = """
name = "my-needle"
description = "home-made 18G needle"
kind = "straight"
shaft_diameter_mm = 1.27
active_length_mm = 15

[generator]
mode = "constant-power"
power_w = 40.0
duration_s = 300.0
"""


def test_catalog_holds_the_required_devices_with_sources():
    catalog = load_catalog()
    assert REQUIRED <= set(catalog)
    for name, model in catalog.items():
        assert model.name == name
        assert model.source, name
        assert set(model.generator) <= set(all_generator_keys())
        assert model.generator["duration_s"] > 0


def test_catalog_geometry_of_key_devices():
    cooltip = get_probe_model("cooltip-17g-3cm")
    assert (cooltip.kind, cooltip.shaft_diameter_mm, cooltip.active_length_mm) == ("straight", 1.47, 30.0)
    assert cooltip.cooled and cooltip.generator["mode"] == "impedance"
    assert cooltip.generator["duration_s"] == 720.0 and cooltip.generator["power_w"] == 200.0
    cluster = get_probe_model("cooltip-cluster-2.5cm")
    assert (cluster.needle_count, cluster.needle_spacing_mm, cluster.active_length_mm) == (3, 5.0, 25.0)
    assert get_probe_model("leveen-4cm").generator["step_w_per_min"] == 10.0
    assert get_probe_model("starburst-xl").generator["target_temperature_c"] == 105.0
    assert get_probe_model("starburst-xl").tine_tip_thermocouples > 0
    assert get_probe_model("celon-prosurge-t30").bipolar_layout == "one-shaft"
    assert get_probe_model("bipolar-pair-17g").electrode_count == 2


def test_catalog_table_has_one_line_per_probe():
    lines = catalog_table().splitlines()
    assert len(lines) == len(load_catalog())
    assert [line.split()[0] for line in lines] == sorted(load_catalog())


def test_unknown_name_lists_valid_names():
    with pytest.raises(ProbeError, match="unknown probe model 'cooltip-99'.*cooltip-17g-3cm"):
        get_probe_model("cooltip-99")


def test_user_probe_file_defines_a_new_probe(tmp_path):
    path = tmp_path / "my-needle.toml"
    path.write_text(USER_PROBE)
    model = get_probe_model(str(path))
    assert isinstance(model, ProbeModel)
    assert (model.name, model.active_length_mm, model.shaft_radius_mm) == ("my-needle", 15.0, 0.635)
    assert get_probe_model(path) == model


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("kind", '"straight"', '"spiral"'), "kind must be one of"),
        (("active_length_mm = 15", "active_length_mm = 15\nactive_lenght_mm = 3", None), "unknown probe key 'active_lenght_mm'"),
        (("shaft_diameter_mm = 1.27", "shaft_diameter_mm = -1.0", None), "shaft_diameter_mm must be positive"),
        (("shaft_diameter_mm = 1.27", "", None), "missing probe key 'shaft_diameter_mm'"),
        (("power_w = 40.0", "power_watts = 40.0", None), "unknown \\[generator\\] key 'power_watts'"),
        (('mode = "constant-power"', 'mode = "turbo"', None), "mode must be one of"),
        (("name =", "name = = ", None), "not valid TOML"),
    ],
)
def test_bad_user_probe_files_raise_clear_errors(tmp_path, change, message):
    old, new, replacement = change
    text = USER_PROBE.replace(f"{old} = {new}", f"{old} = {replacement}") if replacement else USER_PROBE.replace(old, new)
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ProbeError, match=message):
        get_probe_model(str(path))


def test_missing_probe_file():
    with pytest.raises(ProbeError, match="probe file not found"):
        get_probe_model("/nonexistent/probe.toml")
