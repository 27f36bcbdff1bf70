"""The command line: `deepkit list`, `deepkit run`, `--version`, `python -m deepkit` and
`python -m deepkit.recipes.<name>`; bad command lines exit 2 with a message that says what is wrong."""

import dataclasses
import json
import os
import subprocess
import sys

import pytest

from deepkit import cli
from deepkit.recipe import config_reference, load_recipe, recipe_names
from deepkit.recipes import forecast

QUIET = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")


def run_cli(*argv):
    try:
        return cli.main(list(argv))
    except SystemExit as exit:
        return exit.code


def test_list_names_every_recipe_with_its_task_and_default_data(capsys):
    assert run_cli("list") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["recipe", "task", "default"]
    rows = {line.split()[0]: line for line in lines[1:]}
    assert sorted(rows) == sorted(recipe_names())
    assert "rotten_tomatoes" in rows["sentiment"] and "sunspots" in rows["forecast"] and "mnist_5k" in rows["gan"]


def test_no_command_prints_help_and_exits_2(capsys):
    assert run_cli() == 2
    assert "deepkit run <recipe>" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, message",
    [
        (("run", "nope"), f"unknown recipe 'nope'; recipes: {', '.join(recipe_names())}"),
        (("run", "textgn"), "unknown recipe 'textgn'; did you mean 'textgen'? recipes: "),
        (("fly",), "invalid choice: 'fly'"),
        (("run", "forecast", "--bogus"), "unrecognized arguments: --bogus"),
        (("run", "forecast", "--epochs", "-1"), "epochs must be >= 1, received -1"),
        (("run", "forecast", "--epochs", "two"), "invalid int value: 'two'"),
        (("run", "forecast", "--batch-size", "0"), "batch_size must be >= 1, received 0"),
        (("run", "forecast", "--set", "colour=red"), "unknown config key 'colour'"),
        (("run", "forecast", "--set", "window=wide"), "bad value for 'window' (int expected)"),
        (("run", "forecast", "--set", "window"), "--set expects KEY=VALUE, received 'window'"),
        (("run", "forecast", "--config", "/no/such/file.json"), "No such file or directory"),
        (("run", "forecast", "--set", "learning_rate=nan"), "expected a finite number, received 'nan'"),
        (("run", "forecast", "--data", "polarity"), "holds labelled_text data; this recipe reads time_series"),
        (("run", "forecast", "--data", "nope"), "unknown dataset 'nope'"),
        (("run", "timing", "--data", "digits"), "timing generates its own data"),
        (("run", "autoencoder", "--set", "export_kind=fancy"), "export_kind must be one of undercomplete"),
    ],
)
def test_bad_command_lines_exit_2_with_a_message(argv, message, capsys):
    assert run_cli(*argv) == 2
    assert message in capsys.readouterr().err


def test_a_workdir_of_another_config_exits_2(tmp_path, capsys):
    other = dataclasses.replace(forecast.smoke(), units=99)
    (tmp_path / "config.json").write_text(json.dumps(dataclasses.asdict(other)))
    assert run_cli("run", "forecast", "--smoke", "--workdir", str(tmp_path)) == 2
    assert "holds a run with another config (units: 99 -> 4)" in capsys.readouterr().err


def test_offline_tfds_data_exits_1_naming_the_offline_dataset(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("DEEPKIT_OFFLINE", "1")
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path / "tfds"))
    code = run_cli("run", "sentiment", "--smoke", "--data", "tfds:imdb_reviews", "--workdir", str(tmp_path / "w"),
                   "--set", f"export_dir={tmp_path / 'sm'}")
    assert code == 1
    assert "use the offline dataset 'polarity' instead" in capsys.readouterr().err


def test_python_m_deepkit_runs_a_recipe_end_to_end_and_says_where_everything_went(tmp_path):
    """Without TF_CPP_MIN_LOG_LEVEL set, TensorFlow's start-up lines stay hidden; a smoke
    run's SavedModel goes under its workdir, never to the serving folder saved_models/."""
    env = {key: value for key, value in os.environ.items() if key != "TF_CPP_MIN_LOG_LEVEL"}
    result = subprocess.run(
        [sys.executable, "-m", "deepkit", "run", "forecast", "--smoke", "--workdir", str(tmp_path / "w")],
        capture_output=True, text=True, env=env, cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "cuda" not in result.stderr.lower() and "cpu_feature_guard" not in result.stderr, result.stderr[-2000:]
    summary = result.stdout[result.stdout.index("== forecast: done"):]
    assert "data:        sunspots, offline: statsmodels" in summary
    assert f"SavedModel:  {tmp_path / 'w' / 'saved_models' / 'forecast' / '1'}" in summary
    assert not (tmp_path / "saved_models").exists()
    assert f"model:       {tmp_path / 'w' / 'model.keras'}" in summary
    assert f"plot:        {tmp_path / 'w' / 'forecast.png'}" in summary
    assert "metric:      mae = " in summary and "trained:     2 epochs (2 in this run)" in summary


def test_python_m_recipe_takes_the_same_flags():
    result = subprocess.run(
        [sys.executable, "-m", "deepkit.recipes.forecast", "--epochs", "0"], capture_output=True, text=True, env=QUIET
    )
    assert result.returncode == 2
    assert "usage: python -m deepkit.recipes.forecast" in result.stderr
    assert "python -m deepkit.recipes.forecast: error: epochs must be >= 1, received 0" in result.stderr
    assert "Traceback" not in result.stderr


def test_version():
    result = subprocess.run([sys.executable, "-m", "deepkit", "--version"], capture_output=True, text=True, env=QUIET)
    assert result.returncode == 0 and result.stdout.startswith("deepkit ")


@pytest.mark.parametrize("argv, status", [
    (["--version"], 0), (["list"], 0), (["--help"], 0), (["run", "forecast", "--help"], 0),
    (["run", "forcast"], 2), (["run", "forecast", "--epochs", "two"], 2),
    (["run", "forecast", "--set", "unit=3"], 2), (["run", "forecast", "--set", "window=wide"], 2),
    (["run", "forecast", "--set", "learning_rate=nan"], 2), (["run", "forecast", "--epochs", "0"], 2),
    (["run", "forecast", "--config", "/no/such/config.json"], 2),
])
def test_list_help_version_and_argument_errors_never_import_tensorflow(argv, status):
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "deepkit", *argv], capture_output=True,
                            text=True, env=QUIET)
    assert result.returncode == status, result.stderr[-2000:]
    imported = {line.split("|")[-1].strip() for line in result.stderr.splitlines() if line.startswith("import time:")}
    assert "deepkit.cli" in imported
    assert not {"tensorflow", "keras"} & imported


def test_the_source_read_config_defaults_are_the_imported_ones():
    from deepkit.recipe_contract import config_defaults_from_source

    for name in recipe_names():
        defaults = config_defaults_from_source(name)
        if defaults is None:
            continue
        config = load_recipe(name).Config()
        assert set(defaults) == {field.name for field in dataclasses.fields(config)}, name
        for key, value in defaults.items():
            assert value is None or value == getattr(config, key), (name, key)


def test_the_source_read_config_reference_is_the_imported_one():
    from deepkit.recipe_contract import config_reference_from_source

    for name in recipe_names():
        assert config_reference_from_source(name) in (None, config_reference(load_recipe(name))), name


def test_run_help_lists_the_recipes_config_fields(capsys):
    assert run_cli("run", "textgen", "--help") == 0
    out = capsys.readouterr().out
    assert "config of textgen (set with --set KEY=VALUE or --config FILE):" in out
    assert "units: int = 256  # PeepholeLSTM units" in out


@pytest.mark.parametrize("name", recipe_names())
def test_every_config_field_has_a_default_and_a_comment(name):
    module = load_recipe(name)
    lines = config_reference(module).splitlines()[1:]
    assert len(lines) == len(dataclasses.fields(module.Config))
    assert all(" = " in line and "  # " in line for line in lines), lines
