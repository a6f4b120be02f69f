"""Real sweeps on a tiny case through a Dask cluster: results, failures, resume, CLI, plots."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from rfasim.cli import main
from rfasim.sweep import load_sweep, plot_metric, read_results, run_sweep, screen
from rfasim.sweep.results import RUNS_FOLDER

DURATIONS = '[[parameter]]\npath = "generator.duration_s"\nvalues = [{values}]\n'
# 500 mm along z puts the tip outside the image: that run fails in the pipeline (ProbeError)
OFFSETS = '[[parameter]]\npath = "probes.0.tip_offset_mm"\nvalues = [0.0, [0.0, 0.0, 500.0]]\n'
PNG = b"\x89PNG\r\n\x1a\n"


def test_sweep_records_every_run_and_a_failure_does_not_stop_the_others(make_sweep, dask_client, tmp_path):
    spec = load_sweep(make_sweep(DURATIONS.format(values="10.0, 20.0") + OFFSETS))
    assert len(spec.runs) == 4
    result = run_sweep(spec, tmp_path / "out", client=dask_client, progress=False)
    table = result.table
    assert result.executed == 4
    assert result.skipped == 0
    assert result.counts == {"ok": 2, "failed": 2, "refused": 0}
    assert result.exit_code == 1
    failed = table[table["status"] == "failed"]
    assert (failed["error_type"] == "ProbeError").all()
    assert failed["error"].str.contains("outside").all()
    ok = table[table["status"] == "ok"].set_index("input.generator.duration_s")
    for column in ("zone.volume_ml", "margin.min_mm", "tumor.coverage_pct", "generator.energy_j", "wall_s"):
        assert np.isfinite(ok[column]).all(), column
    assert ok.loc[20.0, "generator.energy_j"] > ok.loc[10.0, "generator.energy_j"]
    assert ok.loc[20.0, "zone.volume_ml"] >= ok.loc[10.0, "zone.volume_ml"]
    # one row file per run; the Parquet and CSV tables agree with them
    rows = sorted(p.stem for p in (result.folder / RUNS_FOLDER).glob("*.json"))
    assert rows == sorted(table["run_id"])
    parquet, csv = read_results(result.folder), pd.read_csv(result.folder / "results.csv")
    assert list(parquet["run_id"]) == list(csv["run_id"]) == [r.run_id for r in spec.runs]
    assert np.allclose(parquet["zone.volume_ml"].fillna(-1), csv["zone.volume_ml"].fillna(-1))
    assert json.loads((result.folder / "sweep.json").read_text())["design"] == "grid"
    # summary plots: metric vs duration, margin vs tip offset
    names = {p.name for p in result.plots}
    assert "margin_vs_tip_offset_probe0.png" in names
    assert "zone.volume_ml_vs_generator.duration_s.png" in names
    for path in result.plots:
        assert path.read_bytes().startswith(PNG)


def test_resume_skips_finished_runs_and_redoes_lost_ones(make_sweep, dask_client, tmp_path):
    out = tmp_path / "out"
    first = run_sweep(load_sweep(make_sweep(DURATIONS.format(values="10.0"))), out, client=dask_client,
                      progress=False, plots=False)
    assert first.executed == 1
    assert first.exit_code == 0
    kept = (out / RUNS_FOLDER / f"{first.table['run_id'][0]}.json")
    stamp = kept.stat().st_mtime_ns
    spec = load_sweep(make_sweep(DURATIONS.format(values="10.0, 15.0, 20.0")))
    # the interrupted sweep: a row that a killed process left half-written is not a finished run
    lost = spec.runs[2].run_id
    (out / RUNS_FOLDER / f"{lost}.json").write_text('{"run_id": "' + lost + '", "stat')
    second = run_sweep(spec, out, client=dask_client, progress=False, plots=False)
    assert (second.executed, second.skipped) == (2, 1)
    assert kept.stat().st_mtime_ns == stamp
    assert list(second.table["status"]) == ["ok", "ok", "ok"]
    third = run_sweep(spec, out, client=dask_client, progress=False, plots=False)
    assert (third.executed, third.skipped) == (0, 3)


def test_a_lost_task_is_recorded_and_retried_on_resume(make_sweep, dask_client, tmp_path, monkeypatch):
    import rfasim.sweep.execute as execute

    class KilledWorker(Exception):  # noqa: N818 - dask's name, which the sweep matches
        """Stands in for dask.distributed's error when the worker running a task dies."""

    def crash(*arguments, **keywords):
        raise KilledWorker("worker died")

    spec = load_sweep(make_sweep(DURATIONS.format(values="10.0")))
    monkeypatch.setattr(execute, "execute_run", crash)
    lost = run_sweep(spec, tmp_path / "out", client=dask_client, progress=False, plots=False)
    assert list(lost.table["status"]) == ["failed"]
    assert lost.table["error_type"][0] == "KilledWorker"
    monkeypatch.undo()
    again = run_sweep(spec, tmp_path / "out", client=dask_client, progress=False, plots=False)
    assert again.executed == 1
    assert list(again.table["status"]) == ["ok"]


def test_cli_end_to_end_through_a_scheduler_address(make_sweep, dask_client, tmp_path, capsys):
    path = make_sweep(DURATIONS.format(values="10.0, 20.0"))
    out = tmp_path / "cli-out"
    code = main(["sweep", str(path), "--out", str(out), "--scheduler", dask_client.scheduler.address, "--quiet"])
    assert code == 0
    assert "2 ok, 0 failed" in capsys.readouterr().out
    assert len(read_results(out)) == 2
    assert (out / "plots" / "zone.volume_ml_vs_generator.duration_s.png").is_file()
    # the same command again: nothing to do
    assert main(["sweep", str(path), "--out", str(out), "--scheduler", dask_client.scheduler.address, "--quiet"]) == 0
    assert "0 run now, 2 already done" in capsys.readouterr().out


def test_cli_unreachable_scheduler_is_bad_input_within_seconds(make_sweep, tmp_path, capsys, monkeypatch):
    # No wall-clock assertion: what bounds the wait is the timeout handed to the Dask client,
    # so the test records it (and lets the real client fail on the closed port).
    import dask.distributed

    from rfasim.sweep.execute import SCHEDULER_TIMEOUT_S

    timeouts: list[object] = []
    real_client = dask.distributed.Client

    def recording_client(*arguments, **keywords):
        timeouts.append(keywords.get("timeout"))
        return real_client(*arguments, **keywords)

    monkeypatch.setattr(dask.distributed, "Client", recording_client)
    path = make_sweep(DURATIONS.format(values="10.0"))
    code = main(["sweep", str(path), "--out", str(tmp_path / "never"), "--scheduler", "tcp://127.0.0.1:9", "--quiet"])
    assert code == 2
    assert timeouts == [f"{SCHEDULER_TIMEOUT_S}s"]
    assert SCHEDULER_TIMEOUT_S <= 10
    error = capsys.readouterr().err
    assert "tcp://127.0.0.1:9" in error
    assert "no Dask scheduler" in error
    assert f"within {SCHEDULER_TIMEOUT_S} s" in error
    assert "Traceback" not in error
    assert not (tmp_path / "never").exists()


def test_cli_bad_sweep_file_is_exit_code_2_with_no_output(make_sweep, tmp_path, capsys):
    path = make_sweep('[[parameter]]\npath = "tissue.liver.perfusion_rte"\nvalues = [0.0]\n')
    assert main(["sweep", str(path), "--out", str(tmp_path / "never"), "--quiet"]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1
    assert "perfusion_rate_per_s" in error[0]
    assert not (tmp_path / "never").exists()


def test_results_of_another_base_case_are_not_mixed(make_sweep, dask_client, tmp_path, tiny_case):
    out = tmp_path / "out"
    spec = load_sweep(make_sweep(DURATIONS.format(values="10.0")))
    (out).mkdir()
    (out / "sweep.json").write_text(json.dumps({"case_fingerprint": "0" * 16, "base_case": "elsewhere"}))
    from rfasim.errors import InputError

    with pytest.raises(InputError, match="different base case"):
        run_sweep(spec, out, client=dask_client, progress=False)


def test_plot_metric_and_sensitivity_screening(tmp_path, make_sweep):
    """Morris screening on a synthetic response: only power matters, duration not at all."""
    spec = load_sweep(make_sweep(
        '[[parameter]]\npath = "generator.power_w"\nrange = [50.0, 200.0]\n'
        '[[parameter]]\npath = "generator.duration_s"\nrange = [10.0, 40.0]\n',
        'design = "morris"\ntrajectories = 5\nseed = 2',
    ))
    table = pd.DataFrame({
        "run_id": [r.run_id for r in spec.runs], "status": "ok",
        "input.generator.power_w": [r.inputs["generator.power_w"] for r in spec.runs],
        "input.generator.duration_s": [r.inputs["generator.duration_s"] for r in spec.runs],
    })
    table["zone.volume_ml"] = 0.02 * table["input.generator.power_w"]
    table["margin.min_mm"] = 0.1 * table["input.generator.duration_s"] + 0.01 * table["input.generator.power_w"]
    effects = screen(spec, table).set_index(["metric", "parameter"])
    assert effects.loc[("zone.volume_ml", "generator.power_w"), "rank"] == 1
    assert effects.loc[("zone.volume_ml", "generator.power_w"), "mu_star"] == pytest.approx(0.02 * 150.0)
    assert effects.loc[("zone.volume_ml", "generator.duration_s"), "mu_star"] == pytest.approx(0.0)
    assert effects.loc[("margin.min_mm", "generator.duration_s"), "rank"] == 1
    assert effects.loc[("margin.min_mm", "generator.duration_s"), "mu_star"] == pytest.approx(3.0)
    from rfasim.sweep import plot_sensitivity, write_summary_plots

    plot_sensitivity(effects.reset_index(), tmp_path / "sensitivity.png")
    assert (tmp_path / "sensitivity.png").read_bytes().startswith(PNG)
    plot_metric(table, "generator.power_w", "zone.volume_ml", tmp_path / "metric.png")
    assert (tmp_path / "metric.png").read_bytes().startswith(PNG)
    written = write_summary_plots(spec, table, tmp_path / "plots")
    assert {p.name for p in written} >= {"sensitivity.png", "sensitivity.csv", "power_duration_zone.volume_ml.png"}
