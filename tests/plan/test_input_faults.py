"""Hostile inputs (issue 15, point 7): exit code 2, one line naming the file and field, nothing left.

Every case here is refused before any simulation: the pipeline is replaced by a function that
fails the test if it is reached.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rfasim.cli import main
from rfasim.phantoms import write_phantom


@pytest.fixture(scope="module")
def phantom_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("faults") / "case"
    write_phantom("liver-25mm", folder)
    return folder


@pytest.fixture
def case(phantom_folder: Path, tmp_path: Path) -> Path:
    """A private copy of the phantom case (2 mm grid, 60 s) in ``tmp_path/case``."""
    folder = tmp_path / "case"
    shutil.copytree(phantom_folder, folder)
    path = folder / "case.toml"
    text = path.read_text().replace("spacing_mm = 1.0", "spacing_mm = 2.0").replace("duration_s = 720.0", "duration_s = 60.0")
    path.write_text(text)
    return path


@pytest.fixture
def no_simulation(monkeypatch):
    """Fail the test if a plan is computed (the fault must be found before)."""
    import rfasim.plan.pipeline as pipeline

    def refuse(*arguments, **keywords):
        raise AssertionError("the simulation was started before the bad input was found")

    monkeypatch.setattr(pipeline, "run_case", refuse)


def snapshot(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def replace_section(text: str, header: str, body_lines: int, top_level: str) -> str:
    """Drop ``[header]`` and its next ``body_lines`` lines; put ``top_level`` before every table."""
    lines = text.splitlines()
    start = lines.index(header)
    del lines[start : start + 1 + body_lines]
    return top_level + "\n" + "\n".join(lines) + "\n"


def assert_bad_input(capsys, code: int, *needles: str) -> str:
    captured = capsys.readouterr()
    error = captured.err.strip().splitlines()
    assert code == 2, captured.err
    assert len(error) == 1, error
    assert "Traceback" not in error[0] and "internal error" not in error[0]
    for needle in needles:
        assert needle in error[0], error[0]
    return error[0]


def run_plan(case: Path, out: Path) -> int:
    return main(["plan", str(case), "--out", str(out), "--quiet"])


# -- --out ---------------------------------------------------------------------------------------


def test_out_that_is_a_file_is_refused_before_the_simulation(case, tmp_path, capsys, no_simulation):
    target = tmp_path / "taken"
    target.write_text("not a folder")
    assert_bad_input(capsys, run_plan(case, target), "--out", str(target), "not a folder")
    assert target.read_text() == "not a folder"


def test_out_below_a_file_or_in_an_unwritable_place_is_refused(case, tmp_path, capsys, no_simulation):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert_bad_input(capsys, run_plan(case, blocker / "plan"), "--out", "is a file")
    assert_bad_input(capsys, run_plan(case, Path("/proc/rfasim-plan/out")), "--out", "cannot write there")
    if os.geteuid() != 0:  # root writes anywhere: the permission bits only stop other users
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o500)
        try:
            assert_bad_input(capsys, run_plan(case, locked / "plan"), "--out", "cannot write there")
            assert list(locked.iterdir()) == []
        finally:
            locked.chmod(0o700)


def test_a_writable_out_is_checked_without_leaving_anything(tmp_path):
    from rfasim.atomic import check_writable_folder

    check_writable_folder(tmp_path / "a" / "b" / "c")
    assert list(tmp_path.iterdir()) == []


def test_phantom_out_is_checked_too(tmp_path, capsys):
    target = tmp_path / "taken"
    target.write_text("x")
    assert_bad_input(capsys, main(["phantom", "liver-25mm", "--out", str(target)]), "--out")
    assert_bad_input(capsys, main(["phantom", "liver-25mm", "--out", "/proc/rfasim-phantom"]), "--out")


# -- the case file -------------------------------------------------------------------------------


CASE_EDITS = {
    "margin scalar": (lambda t: replace_section(t, "[margin]", 1, "margin = 5.0"), ["[margin]", "expected a table"]),
    "grid scalar": (lambda t: replace_section(t, "[grid]", 2, "grid = 3.0"), ["[grid]", "expected a table"]),
    "target scalar": (lambda t: replace_section(t, "[target]", 1, "target = 1"), ["[target]", "expected a table"]),
    "target list": (lambda t: replace_section(t, "[target]", 1, "target = [1]"), ["[target]", "expected a table"]),
    "zone string": (lambda t: replace_section(t, "[zone]", 2, 'zone = "isotherm"'), ["[zone]", "expected a table"]),
    "options scalar": (lambda t: "options = 2\n" + t, ["[options]", "expected a table"]),
    "liver takes the tumor code": (lambda t: t.replace('preset = "rfasim"', 'preset = "rfasim"\nliver = [1, 2]'),
                                   ["[labels] liver", "code 2", "tumor"]),
    "duration without end": (lambda t: t.replace("duration_s = 60.0", "duration_s = 1e12"),
                             ["[generator] duration_s", "heat steps"]),
    "specific heat 1e-30": (lambda t: t + "\n[tissue.liver]\nspecific_heat_j_per_kg_k = 1e-30\n",
                            ["[tissue].liver specific_heat_j_per_kg_k", "not physical"]),
    "body at -300 degC": (lambda t: t + "\n[tissue]\nbody_temperature_c = -300.0\n",
                          ["[tissue] body_temperature_c", "-300", "not physical"]),
    "liver that does not conduct": (lambda t: t + "\n[tissue.liver]\nelectrical_conductivity_s_per_m = 0.0\n",
                                    ["[tissue].liver electrical_conductivity_s_per_m", "not physical"]),
    "tiny time step": (lambda t: t + "\n[options]\nmaximum_time_step_s = 1e-6\n",
                       ["[options] maximum_time_step_s", "heat steps"]),
    "images not a path": (lambda t: t.replace('ct = "ct.nii.gz"', "ct = 3"), ["[images] ct", "path"]),
    "probe model not text": (lambda t: t.replace('model = "cooltip-17g-3cm"', "model = 17"), ["[[probes]] #1 model"]),
}


@pytest.mark.parametrize("fault", sorted(CASE_EDITS))
def test_bad_case_values_exit_2_naming_file_and_field(fault, case, tmp_path, capsys, no_simulation):
    edit, needles = CASE_EDITS[fault]
    case.write_text(edit(case.read_text()))
    before = snapshot(case.parent)
    out = tmp_path / "plan"
    assert_bad_input(capsys, run_plan(case, out), str(case), *needles)
    assert not out.exists()
    assert snapshot(case.parent) == before


def test_probe_file_not_utf8_or_a_folder_is_bad_input(case, tmp_path, capsys, no_simulation):
    (case.parent / "latin1.toml").write_bytes('name = "sonde \xe9"\n'.encode("latin-1"))
    (case.parent / "folder.toml").mkdir()
    for model, needle in (("latin1.toml", "UTF-8"), ("folder.toml", "folder")):
        text = case.read_text()
        case.write_text(text.replace('model = "cooltip-17g-3cm"', f'model = "{model}"'))
        assert_bad_input(capsys, run_plan(case, tmp_path / "plan"), "[[probes]] #1 model", model, needle)
        case.write_text(text)
        assert not (tmp_path / "plan").exists()


def test_probe_path_without_toml_suffix_is_resolved_against_the_case_file(case, tmp_path, monkeypatch, capsys,
                                                                          no_simulation):
    from rfasim.case import load_case

    probes = case.parent / "probes"
    probes.mkdir()
    shutil.copy(Path(__file__).parents[2] / "rfasim" / "data" / "probes" / "cooltip-17g-3cm.toml", probes / "mine.probe")
    case.write_text(case.read_text().replace('model = "cooltip-17g-3cm"', 'model = "probes/mine.probe"'))
    monkeypatch.chdir(tmp_path)  # not the case folder
    loaded = load_case(case)
    assert Path(loaded.probes[0].model) == (probes / "mine.probe").resolve()
    case.write_text(case.read_text().replace("probes/mine.probe", "probes/missing"))
    assert_bad_input(capsys, run_plan(case, tmp_path / "plan"), "[[probes]] #1 model", "not found")


# -- sweeps --------------------------------------------------------------------------------------


def test_workers_zero_is_bad_input(case, tmp_path, capsys):
    sweep = tmp_path / "sweep.toml"
    sweep.write_text(f'[sweep]\ncase = "{case}"\ndesign = "list"\n\n[[parameter]]\npath = "generator.power_w"\nvalues = [50.0]\n')
    assert_bad_input(capsys, main(["sweep", str(sweep), "--workers", "0", "--out", str(tmp_path / "s")]), "--workers 0")
    assert not (tmp_path / "s").exists()
    from rfasim.errors import InputError
    from rfasim.sweep import open_client

    with pytest.raises(InputError, match="--workers 0"):
        open_client(workers=0)


# -- interrupted and killed runs -----------------------------------------------------------------


def dead_owner() -> str:
    """The ``pid@host`` tag of a process that has ended."""
    from rfasim.atomic import owner_tag

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return f"{child.pid}@{owner_tag().split('@', 1)[1]}"


def test_what_a_killed_writer_left_is_cleaned_and_a_live_one_is_kept(tmp_path):
    from rfasim.atomic import owner_tag, remove_stale

    dead = dead_owner()
    stale_staging = tmp_path / f".rfasim-staging.{dead}.abc123"
    stale_staging.mkdir()
    (stale_staging / "zone.nii.gz").write_bytes(b"half")
    stale_partial = tmp_path / f".results.parquet.{dead}.xyz.partial.parquet"
    stale_partial.write_bytes(b"PAR1")
    live = tmp_path / f".metrics.json.{owner_tag()}.qqq.partial.json"
    live.write_text("{")
    foreign = tmp_path / "user-file.partial.txt"
    foreign.write_text("mine")
    removed = remove_stale(tmp_path)
    assert sorted(removed) == sorted([stale_staging, stale_partial])
    assert live.exists() and foreign.exists()


def test_sigint_while_writing_leaves_no_empty_out_and_a_rerun_cleans_a_killed_one(tmp_path, monkeypatch):
    import numpy as np

    import rfasim.plan.outputs as outputs
    from rfasim.grid import Grid
    from rfasim.plan.result import PlanResult

    grid = Grid.centered(10.0, 2.0)
    plan = PlanResult(grid=grid, tissue_classes=np.ones(grid.shape, np.uint8), target_mask=np.zeros(grid.shape, bool),
                      input_shape=grid.shape, input_affine=grid.affine)

    def interrupted(plan, path):
        raise KeyboardInterrupt

    monkeypatch.setattr(outputs, "_summary", interrupted)
    out = tmp_path / "new" / "plan"
    with pytest.raises(KeyboardInterrupt):
        outputs.write_plan_folder(plan, out)
    assert not (tmp_path / "new").exists()
    # a plan folder in which a killed run left its staging folder: the next write removes it
    monkeypatch.setattr(outputs, "_summary", lambda plan, path: path.write_bytes(b"png"))
    out.mkdir(parents=True)
    (out / f".rfasim-staging.{dead_owner()}.k1").mkdir()
    outputs.write_plan_folder(plan, out)
    assert sorted(p.name for p in out.iterdir()) == ["metrics.json", "summary.png"]


def test_partial_parquet_of_a_killed_sweep_is_removed_on_resume(tmp_path):
    from rfasim.sweep.results import ResultStore

    (tmp_path / "runs").mkdir()
    partial = tmp_path / f".results.parquet.{dead_owner()}.p1.partial.parquet"
    partial.write_bytes(b"PAR1")
    row = tmp_path / "runs" / f".abc.json.{dead_owner()}.r1.partial.json"
    row.write_text("{")
    ResultStore(tmp_path, ["abc"])
    assert not partial.exists() and not row.exists()
