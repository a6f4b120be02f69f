"""docs/extending.md's worked example: a new generator mode, damage model and probe, one file each.

The three files are extracted from the page itself, dropped into an empty folder, and used through
the public entry points only (environment variables, the command line, ``simulate``): nothing in
rfasim is edited, so the page's promise is what this test checks.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

DOC = Path(__file__).parents[1] / "docs" / "extending.md"


def _files_from_doc() -> dict[str, str]:
    """Fenced blocks whose info string names a file (```python name.py)."""
    blocks = re.findall(r"```(?:python|toml) (\S+)\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)
    return dict(blocks)


@pytest.fixture(scope="module")
def extension_folder(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    folder = tmp_path_factory.mktemp("extensions")
    files = _files_from_doc()
    assert set(files) == {"pulsed_power.py", "time_above.py", "my-cooled-2.5cm.toml"}
    probes = folder / "my-probes"
    probes.mkdir()
    for name, text in files.items():
        (probes if name.endswith(".toml") else folder).joinpath(name).write_text(text, encoding="utf-8")
    environment = dict(os.environ)
    environment["RFASIM_PLUGINS"] = os.pathsep.join(str(folder / n) for n in ("pulsed_power.py", "time_above.py"))
    environment["RFASIM_PROBE_PATH"] = str(probes)
    return {"folder": folder, "env": environment}


def _python(code: str, env: dict[str, str]) -> str:
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_registries_derive_the_new_keys(extension_folder):
    """Case keys, catalog, sweep paths and damage models all see the extensions."""
    out = _python(
        """
        import json
        from rfasim.generators import generator_keys
        from rfasim.physics.damage import damage_model_names
        from rfasim.probes import load_catalog
        from rfasim.sweep.spec import valid_parameter_paths
        print(json.dumps({
            "keys": generator_keys("pulsed"),
            "sweep": [p for p in valid_parameter_paths(1) if p in ("generator.on_s", "generator.off_s")],
            "damage": list(damage_model_names()),
            "probe": load_catalog()["my-cooled-2.5cm"].generator,
        }))
        """,
        extension_folder["env"],
    )
    found = json.loads(out)
    assert found["keys"] == ["power_w", "on_s", "off_s"]
    assert found["sweep"] == ["generator.off_s", "generator.on_s"]
    assert "time_above_60c" in found["damage"]
    assert found["probe"]["mode"] == "pulsed"


def test_new_damage_model_accumulates_in_a_simulation(extension_folder):
    out = _python(
        """
        import numpy as np
        import rfasim
        grid = rfasim.Grid.centered(24.0, 2.0)
        x, y, z = grid.voxel_centers_mm()
        ball = rfasim.ElectrodeRaster.from_mask("ball", x**2 + y**2 + z**2 <= 9.0)
        options = rfasim.SimulationOptions(damage_models=("arrhenius", "time_above_60c"))
        result = rfasim.simulate(grid, np.ones(grid.shape, np.uint8), rfasim.ConstantPower(power_w=8.0, duration_s=60.0),
                                 [ball], options=options)
        dose = result.state.doses["time_above_60c"]
        print(float(dose.max()), int((dose >= 10.0).sum()), sorted(result.state.doses))
        """,
        extension_folder["env"],
    )
    maximum, dead, names = out.split(maxsplit=2)
    assert 10.0 < float(maximum) <= 60.0 + 1e-9
    assert int(dead) > 0
    assert "time_above_60c" in names and "arrhenius" in names and "cem43" not in names


def test_rfasim_plan_runs_the_new_probe_with_its_new_generator_mode(extension_folder, tmp_path):
    """A phantom's case with the new probe (whose default protocol is the new mode) and the new damage model."""
    environment = extension_folder["env"]
    case_folder = tmp_path / "case"
    done = subprocess.run([sys.executable, "-m", "rfasim.cli", "phantom", "liver-25mm", "--out", str(case_folder)],
                          env=environment, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    case = (case_folder / "case.toml").read_text()
    case = case.replace('model = "cooltip-17g-3cm"', 'model = "my-cooled-2.5cm"')
    case = re.sub(r"\[generator\]\n(?:[^\[\n].*\n)+", "", case)  # the probe's own protocol: pulsed, 60 s
    case = case.replace("spacing_mm = 1.0", "spacing_mm = 3.0")
    case += '\n[options]\ndamage_models = ["arrhenius", "cem43", "time_above_60c"]\n'
    (case_folder / "case.toml").write_text(case)
    done = subprocess.run(
        [sys.executable, "-m", "rfasim.cli", "plan", str(case_folder / "case.toml"), "--out", str(tmp_path / "plan"),
         "--quiet"],
        env=environment, capture_output=True, text=True, timeout=900,
    )
    assert done.returncode == 0, done.stderr
    metrics = json.loads((tmp_path / "plan" / "metrics.json").read_text())
    assert metrics["generator"]["mode"] == "pulsed"
    assert metrics["generator"]["energy_j"] == pytest.approx(40.0 * 45.0, rel=0.15)  # 45 s on in 60 s


def test_unknown_mode_key_is_an_error_naming_the_valid_keys(extension_folder):
    out = _python(
        """
        from rfasim.generators import generator_from_table
        try:
            generator_from_table({"mode": "pulsed", "power_w": 10.0, "period_s": 3.0})
        except ValueError as error:
            print(error)
        """,
        extension_folder["env"],
    )
    assert "period_s" in out and "on_s" in out
