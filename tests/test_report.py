"""python -m deepkit.report regenerates the results table from the runs' metrics.json:
the command, data, epochs, kept epoch, wall time and metrics of each run, smoke runs
only when asked for."""

import dataclasses
import json

import pytest

from deepkit import report
from deepkit.recipes import forecast


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A real smoke run of forecast, and a full run's record as the runner writes it."""
    root = tmp_path_factory.mktemp("runs")
    config = dataclasses.replace(forecast.smoke(), export_dir=str(root / "saved_models"))
    forecast.train_and_evaluate(config, str(root / "forecast-smoke"))
    (root / "forecast").mkdir()
    (root / "forecast" / "metrics.json").write_text(json.dumps({
        "recipe": "forecast",
        "metrics": {"mae": 16.2, "mae_vs_persistence": 0.64},
        "dataset": {"name": "sunspots", "source": "statsmodels datasets.sunspots (offline)", "offline": True},
        "training": {"epochs": 60, "epochs_this_run": 60},
        "exported_epoch": {"epoch": 41, "of": 60, "monitor": "val_loss", "mode": "min", "value": 0.18},
        "run": {"command": "deepkit run forecast", "wall_time_s": 95.0, "total_wall_time_s": 95.0, "cpu_cores": 2},
    }))
    (root / "forecast" / "sub").mkdir()  # a sub-model's folder: not a run of its own
    (root / "forecast" / "sub" / "metrics.json").write_text('{"recipe": "x", "metrics": {}}')
    return root


def test_the_table_has_each_runs_command_data_epochs_wall_time_and_metrics(runs, tmp_path):
    output = tmp_path / "results.md"
    assert report.main([str(runs), "--output", str(output)]) == 0
    text = output.read_text()
    assert "## forecast" in text and "do not edit by hand" in text
    assert ("| `deepkit run forecast` | `sunspots` | 60 | 41 (val_loss 0.18) | 95 s on 2 cores | "
            "mae 16.2, mae_vs_persistence 0.64 |") in text
    assert "--smoke" not in text and "## x" not in text


def test_smoke_runs_are_listed_when_asked_for(runs, capsys):
    assert report.main([str(runs), "--include-smoke"]) == 0
    text = capsys.readouterr().out
    (smoke_row,) = [line for line in text.splitlines() if "--smoke" in line]
    record = json.loads((runs / "forecast-smoke" / "metrics.json").read_text())
    assert (f"`deepkit run forecast --smoke --set export_dir={runs / 'saved_models'} "
            f"--workdir {runs / 'forecast-smoke'}`") in smoke_row
    assert f"mae {report.format_number(record['metrics']['mae'])}" in smoke_row
    assert f"| 2 | {record['exported_epoch']['epoch']} (val_loss" in smoke_row


def test_a_missing_folder_is_an_error_that_names_it(tmp_path, capsys):
    assert report.main([str(tmp_path / "nowhere")]) == 2
    assert "no such folder" in capsys.readouterr().err
