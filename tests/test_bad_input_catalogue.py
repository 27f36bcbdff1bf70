"""A catalogue of user mistakes, each answered by a message that names what was expected
and what was received: on the command line with exit status 2 and one error line (no
traceback), in the library with a ValueError or TypeError instead of a kernel error.

Each case is (id, what to do, the fragments its message must hold). The command-line
cases run ``deepkit.cli.main`` in this process; they all fail before anything trains.
"""

import json
import os
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

from deepkit import cli, data, recipe, saving, workdir
from deepkit.evaluation import sample_quality
from deepkit.layers import BRNN, Corruption, PeepholeLSTM, RelevanceGRU, Sampling
from deepkit.recipes import forecast, textgen


def run_cli(*argv):
    try:
        return cli.main([str(arg) for arg in argv])
    except SystemExit as exit:
        return exit.code


# === Command-line cases: (id, argv maker(tmp_path), fragments) ===


def write(path, content, mode="w"):
    path.parent.mkdir(parents=True, exist_ok=True)
    (path.write_bytes if mode == "wb" else path.write_text)(content)
    return path


def smoke(tmp, *extra):
    return ("run", "forecast", "--smoke", "--workdir", tmp / "w", "--set", f"export_dir={tmp / 'sm'}", *extra)


def workdir_with(tmp, name, content, mode="w"):
    """A workdir holding a finished-looking forecast smoke run, one file replaced by ``content``."""
    config = workdir.config_json(recipe.override(forecast.smoke(), {"export_dir": str(tmp / "sm")}))
    write(tmp / "w" / "config.json", json.dumps(config))
    write(tmp / "w" / name, content, mode)
    return smoke(tmp)


def series_csv(tmp, content):
    return write(tmp / "series.csv", content)


CLI_CASES = [
    ("unknown recipe", lambda t: ("run", "nope"), ["unknown recipe 'nope'", "recipes: autoencoder"]),
    ("misspelt recipe", lambda t: ("run", "forcast"), ["unknown recipe 'forcast'", "did you mean 'forecast'?"]),
    ("unknown command", lambda t: ("fly",), ["invalid choice: 'fly'", "choose from"]),
    ("unknown flag", lambda t: ("run", "forecast", "--bogus"), ["unrecognized arguments: --bogus"]),
    ("negative epochs", lambda t: smoke(t, "--epochs", "-1"), ["epochs must be >= 1", "received -1"]),
    ("epochs not a number", lambda t: smoke(t, "--epochs", "two"), ["invalid int value: 'two'"]),
    ("zero batch size", lambda t: smoke(t, "--batch-size", "0"), ["batch_size must be >= 1", "received 0"]),
    ("unknown config key", lambda t: smoke(t, "--set", "colour=red"),
     ["unknown config key 'colour'", "the keys of this recipe are", "window"]),
    ("int field given a word", lambda t: smoke(t, "--set", "window=wide"),
     ["bad value for 'window' (int expected)", "'wide'"]),
    ("--set without =", lambda t: smoke(t, "--set", "window"), ["--set expects KEY=VALUE", "received 'window'"]),
    ("learning_rate=nan", lambda t: smoke(t, "--set", "learning_rate=nan"),
     ["bad value for 'learning_rate' (float expected)", "expected a finite number", "received 'nan'"]),
    ("learning_rate=inf", lambda t: smoke(t, "--set", "learning_rate=inf"), ["expected a finite number", "'inf'"]),
    ("bool field given maybe", lambda t: smoke(t, "--set", "residual=maybe"),
     ["expected true or false", "received 'maybe'"]),
    ("missing --config file", lambda t: smoke(t, "--config", t / "none.json"),
     ["--config", "none.json", "expected a readable JSON file", "FileNotFoundError"]),
    ("--config not JSON", lambda t: smoke(t, "--config", write(t / "c.json", "{units: 3")),
     ["c.json", "expected a readable JSON file", "JSONDecodeError"]),
    ("--config a JSON list", lambda t: smoke(t, "--config", write(t / "c.json", "[1, 2]")),
     ["c.json", "expected a JSON object of config fields", "received a list"]),
    ("--config not UTF-8", lambda t: smoke(t, "--config", write(t / "c.json", b"\xff\xfe{", "wb")),
     ["c.json", "expected a readable JSON file", "UnicodeDecodeError"]),
    ("data of another kind", lambda t: smoke(t, "--data", "polarity"),
     ["holds labelled_text data", "this recipe reads time_series"]),
    ("unknown dataset", lambda t: smoke(t, "--data", "nope"), ["unknown dataset 'nope'", "Available:"]),
    ("data for a generating recipe", lambda t: ("run", "timing", "--smoke", "--data", "digits"),
     ["timing generates its own data"]),
    ("recipe's own refusal", lambda t: ("run", "autoencoder", "--smoke", "--set", "export_kind=fancy"),
     ["export_kind must be one of undercomplete"]),
    ("missing CSV file", lambda t: smoke(t, "--data", f"csv:{t / 'none.csv'}"), ["none.csv'", "no such file"]),
    ("CSV path is a folder", lambda t: smoke(t, "--data", f"csv:{t}"), ["is a folder", "expected a csv file"]),
    ("CSV without the needed column", lambda t: smoke(t, "--data", "csv:" + str(series_csv(t, 'x\n' + '1\n' * 40))),
     ["has no feature 'value'", "expected a column or array named 'value'", "Received features: ['x']"]),
    ("CSV with n/a", lambda t: smoke(t, "--data", "csv:" + str(series_csv(t, 'value\n1\n2\nn/a\n' + '3\n' * 40))),
     ["'value' of 'csv:", "must hold finite numbers", "line 4 ('n/a')", "non_finite='drop'"]),
    ("CSV with an empty cell", lambda t: smoke(t, "--data", "csv:" + str(series_csv(t, 'value,x\n1,0\n,0\n' + '3,0\n' * 40))),
     ["must hold finite numbers", "line 3 ('')"]),
    ("text not UTF-8", lambda t: ("run", "textgen", "--smoke", "--workdir", t / "w", "--data",
                                  "text:" + str(write(t / 'l.txt', 'caf\xe9 au lait\n'.encode('latin-1'), 'wb'))),
     ["'text:", "l.txt' is not valid utf-8 text", "encoding='latin-1'"]),
    ("empty text file", lambda t: ("run", "textgen", "--smoke", "--workdir", t / "w", "--data",
                                   "text:" + str(write(t / 'e.txt', '  \n'))), ["e.txt' is empty", "expected at least one line"]),
    ("units=0", lambda t: smoke(t, "--set", "units=0"), ["argument `units` must be a positive integer", "units=0"]),
    ("workdir is a file", lambda t: ("run", "forecast", "--smoke", "--workdir", write(t / "f", "x")),
     ["is a file; expected a folder"]),
    ("foreign folder", lambda t: (write(t / "w" / "model.keras", "mine"), smoke(t))[1],
     ["is not a deepkit workdir (no config.json)", "holds model.keras", "choose an empty or new --workdir"]),
    ("workdir of another config", lambda t: (write(t / "w" / "config.json", json.dumps(
        workdir.config_json(recipe.override(forecast.smoke(), {"units": 99})))), smoke(t))[1],
     ["holds a run with another config (units: 99 -> 4)", "--restart"]),
    ("damaged config.json", lambda t: (write(t / "w" / "config.json", '{"units": 4'), smoke(t))[1],
     ["config.json: damaged run config", "--restart"]),
    ("config.json not an object", lambda t: (write(t / "w" / "config.json", "[]"), smoke(t))[1],
     ["config.json: damaged run config (expected a JSON object, received list)"]),
    ("damaged history.json", lambda t: workdir_with(t, "history.json", '{"0": {"loss"'),
     ["history.json: damaged epoch log", "--restart"]),
    ("garbage backup metadata", lambda t: workdir_with(t, "backup/training_metadata.json", "garbage"),
     ["training_metadata.json: damaged backup metadata", "--restart"]),
    ("backup metadata without epoch", lambda t: workdir_with(t, "backup/training_metadata.json", '{"epoch": "2"}'),
     ["expected an integer 'epoch', received '2'"]),
    ("truncated backup weights", lambda t: workdir_with(t, "backup/latest.weights.h5", b"\x89HDF\r\n\x1a\n\0\0", "wb"),
     ["latest.weights.h5: damaged backup weights", "--restart"]),
    ("export_dir is a file", lambda t: ("run", "forecast", "--smoke", "--workdir", t / "w", "--set",
                                        f"export_dir={write(t / 'sm', 'x')}"),
     ["export_dir:", "is a file; expected a folder for the SavedModel versions"]),
    ("export folder of the recipe is a file", lambda t: (write(t / "sm" / "forecast", "x"), smoke(t))[1],
     ["forecast' is a file; expected a folder for the SavedModel versions"]),
    ("--restart of a foreign folder", lambda t: (write(t / "w" / "notes.txt", "mine"), smoke(t, "--restart"))[1],
     ["--restart:", "is not a deepkit workdir", "nothing deleted"]),
]


@pytest.mark.parametrize("case, make_argv, fragments", CLI_CASES, ids=[c[0] for c in CLI_CASES])
def test_command_line_mistakes_exit_2_naming_expected_and_received(case, make_argv, fragments, tmp_path, capsys,
                                                                   monkeypatch):
    monkeypatch.chdir(tmp_path)  # a recipe's default workdir, if a case gets that far, stays here
    argv = make_argv(tmp_path)
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    assert run_cli(*argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    (line,) = [line for line in err.splitlines() if ": error: " in line]  # one error line
    for fragment in fragments:
        assert fragment in line, (fragment, line)
    # A start that fails leaves the folder as it was: no config.json, no lock, no new workdir.
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


def test_the_catalogue_holds_at_least_60_cases():
    assert len(CLI_CASES) + len(LIBRARY_CASES) + len(LOCK_CASES) >= 60


# === Another run holds the workdir ===

LOCK_CASES = ["live lock"]


def test_a_workdir_locked_by_a_live_run_exits_2_naming_that_run(tmp_path, capsys):
    # The other run holds the lock as deepkit does: an flock on .lock, its record inside.
    (tmp_path / "w").mkdir()
    holder = textwrap.dedent(f"""
        import fcntl, json, os, socket, sys, time
        fd = os.open({str(tmp_path / "w" / ".lock")!r}, os.O_CREAT | os.O_RDWR)
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, json.dumps({{"pid": os.getpid(), "host": socket.gethostname(), "started": "today",
                                  "command": "deepkit run forecast"}}).encode())
        print("holding", flush=True)
        time.sleep(60)
    """)
    other = subprocess.Popen([sys.executable, "-c", holder], stdout=subprocess.PIPE, text=True)
    try:
        assert other.stdout.readline().strip() == "holding"
        assert run_cli(*smoke(tmp_path)) == 2
    finally:
        other.kill()
        other.wait()
    err = capsys.readouterr().err
    assert f"is in use by another run (pid {other.pid} on {socket.gethostname()}" in err
    assert "deepkit run forecast" in err and "choose another --workdir" in err
    assert (tmp_path / "w" / ".lock").exists()  # the other run's lock is left alone


# === Library cases: (id, call, exception type, fragments) ===


def csv_file(tmp, content, name="t.csv", mode="w"):
    return write(tmp / name, content, mode)


def npz_of(tmp, **arrays):
    np.savez(tmp / "a.npz", **arrays)
    return tmp / "a.npz"


SEQ = np.zeros((2, 4, 3), "float32")

LIBRARY_CASES = [
    ("units 0", lambda t: PeepholeLSTM(0), ValueError, ["argument `units` must be a positive integer", "units=0"]),
    ("units float", lambda t: RelevanceGRU(2.5), ValueError, ["a positive integer", "units=2.5"]),
    ("dropout 1.5", lambda t: PeepholeLSTM(4, dropout=1.5), ValueError, ["`dropout` must be a float in [0, 1)",
                                                                          "dropout=1.5"]),
    ("dropout nan", lambda t: RelevanceGRU(4, recurrent_dropout=float("nan")), ValueError,
     ["`recurrent_dropout` must be a float in [0, 1)", "recurrent_dropout=nan"]),
    ("peephole typo", lambda t: PeepholeLSTM(4, peephole="diag"), ValueError, ["peephole", "'diag'"]),
    ("use_fused yes", lambda t: RelevanceGRU(4, use_fused="yes"), ValueError,
     ["`use_fused` must be one of ['auto', True, False]", "use_fused='yes'"]),
    ("use_cudnn True", lambda t: PeepholeLSTM(4, use_cudnn=True), ValueError,
     ["`use_cudnn` must be 'auto' or False", "use_cudnn=True"]),
    ("rank-2 sequences", lambda t: PeepholeLSTM(4)(np.zeros((2, 3), "float32")), ValueError,
     ["must have rank 3 (batch, timesteps, features)", "shape=(2, 3)"]),
    ("zero time steps", lambda t: RelevanceGRU(4)(np.zeros((2, 0, 3), "float32")), ValueError,
     ["must have at least one time step", "shape=(2, 0, 3)"]),
    ("integer ids", lambda t: PeepholeLSTM(4)(np.zeros((2, 4, 3), "int32")), TypeError,
     ["must be a floating-point tensor", "dtype=int32"]),
    ("string mask", lambda t: PeepholeLSTM(4)(SEQ, mask=tf.constant([["a"] * 4] * 2)), TypeError,
     ["`mask` must be boolean or numeric", "dtype=string"]),
    ("mask of another shape", lambda t: RelevanceGRU(4)(SEQ, mask=np.ones((2, 5), bool)), ValueError,
     ["`mask` must have shape (batch, timesteps) = (2, 4)", "shape=(2, 5)"]),
    ("feature size after building", lambda t: (lambda layer: (layer(SEQ), layer(np.zeros((2, 4, 5), "float32"))))(
        PeepholeLSTM(4)), ValueError, ["must have 3 features, the size the layer was built with", "shape=(2, 4, 5)"]),
    ("initial_state count", lambda t: PeepholeLSTM(4)(SEQ, initial_state=[np.zeros((2, 4), "float32")]), ValueError,
     ["`initial_state` must hold 2 tensor(s) of shape (batch, 4)", "Received: 1 tensor(s)"]),
    ("initial_state shape", lambda t: RelevanceGRU(4)(SEQ, initial_state=[np.zeros((2, 5), "float32")]), ValueError,
     ["`initial_state[0]` must have shape (2, 4)", "shape=(2, 5)"]),
    ("BRNN merge mode", lambda t: BRNN(PeepholeLSTM(4), merge_mode="cat"), ValueError, ["merge_mode", "'cat'"]),
    ("Sampling one tensor", lambda t: Sampling()(np.zeros((2, 3), "float32")), ValueError,
     ["inputs must be a list of two tensors [z_mean, z_log_var]", "Received: one tensor of shape (2, 3)"]),
    ("Sampling three tensors", lambda t: Sampling()([np.zeros((2, 3), "float32")] * 3), ValueError,
     ["list of two tensors", "Received: 3 tensor(s)"]),
    ("Sampling shapes differ", lambda t: Sampling()([np.zeros((2, 3), "float32"), np.zeros((2, 4), "float32")]),
     ValueError, ["must have the same shape", "(2, 3) and (2, 4)"]),
    ("Corruption amount nan", lambda t: Corruption(amount=float("nan")), ValueError,
     ["`amount` must be a float >= 0", "amount=nan"]),
    ("Corruption amount inf", lambda t: Corruption(amount=float("inf")), ValueError, ["a float >= 0", "amount=inf"]),
    ("Corruption amount negative", lambda t: Corruption(amount=-0.1), ValueError, ["a float >= 0", "amount=-0.1"]),
    ("Corruption masking amount 1", lambda t: Corruption("masking", amount=1.0), ValueError,
     ["a float in [0, 1)", "amount=1.0"]),
    ("Corruption kind", lambda t: Corruption("salt"), ValueError, ["`kind` must be one of ['gaussian', 'masking']",
                                                                  "kind='salt'"]),
    ("CSV n/a", lambda t: data.load_arrays("csv:" + str(csv_file(t, 'x,y\n1,2\n3,n/a\n')), "all"), ValueError,
     ["'y' of 'csv:", "must hold finite numbers", "line 3 ('n/a')"]),
    ("CSV inf", lambda t: data.load_arrays("csv:" + str(csv_file(t, 'x\n1\ninf\n2\n')), "all"), ValueError,
     ["'x' of 'csv:", "line 3 ('inf')"]),
    ("CSV nan", lambda t: data.load_arrays("csv:" + str(csv_file(t, 'x\n1\n2\nNaN\n')), "all"), ValueError,
     ["line 4 ('NaN')", "non_finite='keep'"]),
    ("CSV not UTF-8", lambda t: data.load_arrays("csv:" + str(csv_file(t, 'n\ncaf\xe9\n'.encode('cp1252'), mode='wb')),
                                                 "all"), ValueError,
     ["t.csv' is not valid utf-8 text", "byte 5", "encoding='latin-1'"]),
    ("CSV ragged rows", lambda t: data.load_arrays("csv:" + str(csv_file(t, 'x,y\n1,2\n3\n')), "all"), ValueError,
     ["must have the 2 fields of the header", "lines [3]"]),
    ("CSV bad policy", lambda t: data.load_arrays("csv:" + str(csv_file(t, 'x\n1\n')), "all", non_finite="ignore"),
     ValueError, ["`non_finite` must be one of ['error', 'drop', 'keep']", "non_finite='ignore'"]),
    ("CSV unknown option", lambda t: data.load_arrays("csv:" + str(csv_file(t, 'x\n1\n')), "all", sep=";"), TypeError,
     ["take the options", "Received unknown options: ['sep']"]),
    ("CSV unknown label column", lambda t: data.load_arrays("csv:" + str(csv_file(t, 'x\n1\n')), "all", label_column="y"),
     ValueError, ["`label_column` must be one of the columns ['x']", "label_column='y'"]),
    ("CSV header only", lambda t: data.load_arrays("csv:" + str(csv_file(t, 'x,y\n')), "all"), ValueError,
     ["has a header but no data rows"]),
    ("missing column", lambda t: data.load_arrays("csv:" + str(csv_file(t, 'x\n1\n2\n')), "all")["value"], KeyError,
     ["has no feature 'value'", "Received features: ['x']"]),
    ("npz given a .npy", lambda t: (np.save(t / "a.npy", np.zeros(3)), data.load_arrays(f"npz:{t / 'a.npy'}"))[1],
     ValueError, ["holds one .npy array of shape (3,)", "expected a .npz archive"]),
    ("npz given text", lambda t: data.load_arrays("npz:" + str(csv_file(t, 'x\n1\n', 'a.npz'))), ValueError,
     ["cannot be read: expected a .npz archive", "received"]),
    ("npz truncated", lambda t: data.load_arrays("npz:" + str(csv_file(t, b'PK\x03\x04\0\0', 'a.npz', 'wb'))), ValueError,
     ["expected a .npz archive", "received"]),
    ("npz with NaN", lambda t: data.load_arrays("npz:" + str(npz_of(t, x=np.array([[1.0], [np.nan]]))), "all"), ValueError,
     ["'x' of 'npz:", "must hold finite numbers", "example 1"]),
    ("npz lengths differ", lambda t: data.load_arrays("npz:" + str(npz_of(t, x=np.zeros(3), y=np.zeros(4)))), ValueError,
     ["must have the same length", "{'x': 3, 'y': 4}"]),
    ("text not UTF-8", lambda t: data.load_arrays("text:" + str(csv_file(t, b'\xff\xfeab', 'a.txt', 'wb')), "all"),
     ValueError, ["a.txt' is not valid utf-8 text", "encoding="]),
    ("text empty", lambda t: data.load_arrays("text:" + str(csv_file(t, '', 'a.txt')), "all"), ValueError,
     ["a.txt' is empty", "expected at least one line of text"]),
    ("text unknown encoding", lambda t: data.load_arrays("text:" + str(csv_file(t, 'a', 'a.txt')), "all",
                                                         encoding="klingon"), ValueError,
     ["`encoding` must name a Python codec", "encoding='klingon'"]),
    ("split selects nothing", lambda t: data.load_arrays("sunspots", "train[:0]"), ValueError,
     ["split 'train[:0]' of 'sunspots' selects no examples", "expected a split with at least one example"]),
    ("split name", lambda t: data.load_arrays("sunspots", "valid"), ValueError,
     ["`split` must be one of ['train', 'test', 'all']", "split='valid'"]),
    ("split percentage", lambda t: data.load_arrays("sunspots", "train[:150%]"), ValueError,
     ["must lie in [-100%, 100%]", "150%"]),
    ("unknown dataset", lambda t: data.load("mnist"), ValueError, ["unknown dataset 'mnist'", "Available:"]),
    ("missing npz", lambda t: data.load(f"npz:{t / 'none.npz'}"), FileNotFoundError, ["none.npz'", "no such file"]),
    ("truncated .keras", lambda t: saving.load_model(csv_file(t, b"PK\x03\x04" + bytes(60), "m.keras", "wb")),
     ValueError, ["m.keras' is damaged", "expected a .keras zip archive", "received 64 bytes"]),
    ("missing .keras", lambda t: saving.load_model(t / "none.keras"), FileNotFoundError,
     ["none.keras'", "no such file", "expected a .keras model file"]),
    ("zip that is not .keras", lambda t: saving.load_model(npz_of(t, x=np.zeros(2))), ValueError,
     ["a.npz' is damaged", "expected a .keras zip archive"]),
    ("damaged judge cache", lambda t: sample_quality.train_digit_judge(
        np.zeros((4, 8, 8), "float32"), np.arange(4), path=csv_file(t, b"PK", "judge.keras", "wb")), ValueError,
     ["train_digit_judge:", "judge.keras' is damaged", "delete it and the judge is trained again"]),
    ("unknown key suggests", lambda t: recipe.override(forecast.Config(), {"unit": 3}), ValueError,
     ["unknown config key 'unit'", "did you mean 'units'?"]),
    ("override nan", lambda t: recipe.override(forecast.Config(), {"learning_rate": float("nan")}), ValueError,
     ["bad value for 'learning_rate'", "expected a finite number, received nan"]),
    ("override tuple with inf", lambda t: recipe.override(textgen.Config(), {"temperatures": "0.5,inf"}), ValueError,
     ["bad value for 'temperatures'", "expected a finite number", "'0.5,inf'"]),
    ("override integer field", lambda t: recipe.override(forecast.Config(), {"window": 2.5}), ValueError,
     ["bad value for 'window' (int expected)", "received 2.5"]),
]


@pytest.mark.parametrize("case, call, error, fragments", LIBRARY_CASES, ids=[c[0] for c in LIBRARY_CASES])
def test_library_mistakes_name_expected_and_received(case, call, error, fragments, tmp_path):
    with pytest.raises(error) as raised:
        call(tmp_path)
    message = str(raised.value)
    for fragment in fragments:
        assert fragment in message, (fragment, message)


# === What the policies and fixes allow ===


def test_non_finite_policies_drop_or_keep_the_bad_rows(tmp_path):
    path = csv_file(tmp_path, "x,y\n1,2\n3,n/a\n5,6\n")
    dropped = data.load_arrays(f"csv:{path}", "all", non_finite="drop")
    np.testing.assert_array_equal(dropped["x"], [1, 5])
    kept = data.load_arrays(f"csv:{path}", "all", non_finite="keep")
    assert np.isnan(kept["y"][1]) and len(kept["x"]) == 3


def test_a_byte_order_mark_is_not_part_of_the_first_column_name(tmp_path):
    path = csv_file(tmp_path, "\ufeffvalue,b\n1,2\n3,4\n".encode("utf-8"), mode="wb")
    assert sorted(data.load_arrays(f"csv:{path}", "all")) == ["b", "value"]


def test_a_latin_1_file_loads_with_its_encoding(tmp_path):
    path = csv_file(tmp_path, "caf\xe9 au lait\n".encode("latin-1"), "l.txt", "wb")
    assert data.load_arrays(f"text:{path}", "all", encoding="latin-1")["text"][0] == "café au lait".encode()


def test_a_corrected_command_runs_after_a_refused_one(tmp_path, capsys):
    """The issue's case: a refused `--set units=0` used to write config.json, and then the
    corrected command was refused as another config."""
    assert run_cli(*smoke(tmp_path, "--set", "units=0")) == 2
    assert not (tmp_path / "w").exists()
    assert run_cli(*smoke(tmp_path, "--epochs", "1")) == 0
    assert json.loads((tmp_path / "w" / "metrics.json").read_text())["saved_model"] == str(tmp_path / "sm" /
                                                                                           "forecast" / "1")
    assert not (tmp_path / "w" / ".lock").exists()


def test_restart_deletes_a_damaged_run_and_starts_it_over(tmp_path, capsys):
    argv = workdir_with(tmp_path, "backup/latest.weights.h5", b"truncated", "wb")
    assert run_cli(*argv) == 2
    assert run_cli(*argv, "--epochs", "1", "--restart") == 0
    record = json.loads((tmp_path / "w" / "metrics.json").read_text())
    assert record["training"] == {"epochs": 1, "epochs_this_run": 1}
    assert os.path.getsize(tmp_path / "w" / "backup" / "latest.weights.h5") > 1000
