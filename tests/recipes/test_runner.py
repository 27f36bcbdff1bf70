"""The runner: command line, exit statuses, config overrides, atomic versioned export."""

import os
import subprocess
import sys

import keras
import pytest

from deepkit import cli, recipe
from recipes import RECIPES, forecast


def run_cli(*argv):
    try:
        return cli.main(list(argv))
    except SystemExit as exit:
        return exit.code


def test_list_names_every_recipe_with_task_and_data(capsys):
    assert run_cli("list") == 0
    out = capsys.readouterr().out
    for name in RECIPES:
        assert name in out
    assert "polarity" in out and "sunspots" in out


@pytest.mark.parametrize(
    "argv, message",
    [
        (("run", "nope"), "unknown recipe 'nope'"),
        (("run", "forecast", "--bogus"), "unrecognized arguments: --bogus"),
        (("run", "forecast", "--epochs", "-1"), "epochs must be >= 1, received -1"),
        (("run", "forecast", "--epochs", "two"), "invalid int value: 'two'"),
        (("run", "forecast", "--set", "colour=red"), "unknown config key 'colour'"),
        (("run", "forecast", "--set", "window=wide"), "bad value for 'window'"),
        (("run", "forecast", "--set", "window"), "--set expects KEY=VALUE"),
        (("run", "forecast", "--config", "/no/such/file.json"), "No such file"),
    ],
)
def test_bad_command_lines_exit_2_with_a_message(argv, message, capsys):
    assert run_cli(*argv) == 2
    assert message in capsys.readouterr().err


def test_version_and_python_m_deepkit():
    result = subprocess.run([sys.executable, "-m", "deepkit", "--version"], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.startswith("deepkit ")


def test_python_m_recipe_rejects_bad_flags():
    result = subprocess.run(
        [sys.executable, "-m", "recipes.forecast", "--epochs", "0"], capture_output=True, text=True,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
    )
    assert result.returncode == 2 and "epochs must be >= 1" in result.stderr


def test_overrides_keep_types_and_config_file(tmp_path):
    config = recipe.override(forecast.Config(), {"window": "12", "learning_rate": "0.01", "data": "co2"})
    assert (config.window, config.learning_rate, config.data) == (12, 0.01, "co2")
    (tmp_path / "c.json").write_text('{"units": 7}')
    parser = __import__("argparse").ArgumentParser()
    recipe.add_run_arguments(parser)
    args = parser.parse_args(["--config", str(tmp_path / "c.json"), "--epochs", "3", "--set", "window=5"])
    config = recipe.config_from_arguments(forecast, args)
    assert (config.units, config.epochs, config.window) == (7, 3, 5)


def tiny_model():
    inputs = keras.Input((2,))
    return keras.Model(inputs, keras.layers.Dense(1)(inputs))


def test_export_versions_count_up(tmp_path):
    paths = [recipe.export_savedmodel(tiny_model(), str(tmp_path), "m") for _ in range(3)]
    assert paths == [str(tmp_path / "m" / str(v)) for v in (1, 2, 3)]
    assert sorted(os.listdir(tmp_path / "m")) == ["1", "2", "3"]


def test_a_failed_export_leaves_no_version_behind(tmp_path):
    class BrokenExport:
        def export(self, path, verbose=False):
            os.makedirs(path)
            open(os.path.join(path, "saved_model.pb"), "w").close()
            raise RuntimeError("disk full")

    recipe.export_savedmodel(tiny_model(), str(tmp_path), "m")
    with pytest.raises(RuntimeError, match="disk full"):
        recipe.export_savedmodel(BrokenExport(), str(tmp_path), "m")
    assert os.listdir(tmp_path / "m") == ["1"]
