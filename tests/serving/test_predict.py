"""`deepkit predict` runs a SavedModel on a JSON, .npy, .npz or text file and answers what the
SavedModel itself answers, in TensorFlow Serving's JSON; a user mistake is one line and exit 2."""

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

import deepkit.serving
from deepkit import cli
from tests.serving.tiny_models import export_next, numbers_model, strings_model

X = [[1.0, 2.0, 3.0], [0.5, -1.0, 0.0]]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    base = tmp_path_factory.mktemp("exported")
    return export_next(numbers_model(), base, "numbers"), export_next(strings_model(), base, "words")


def predict(capsys, *argv):
    """(exit status, stdout, stderr) of `deepkit predict ...`."""
    try:
        status = cli.main(["predict", *map(str, argv)])
    except SystemExit as exit_:
        status = exit_.code
    out, err = capsys.readouterr()
    return status, out, err


def test_text_lines_json_rows_and_columns_answer_as_the_savedmodel(exported, tmp_path, capsys):
    _, words = exported
    (tmp_path / "words.txt").write_text("good\nbad\nneither\n")
    assert predict(capsys, words, "--input", tmp_path / "words.txt")[:2] == (0, '{"predictions": [[1.0], [-1.0], [0.0]]}\n')
    (tmp_path / "rows.json").write_text(json.dumps({"instances": ["bad", "good"]}))
    assert json.loads(predict(capsys, words, "--input", tmp_path / "rows.json")[1]) == {"predictions": [[-1.0], [1.0]]}
    (tmp_path / "columns.json").write_text(json.dumps({"signature_name": "serve", "inputs": {"word": ["good"]}}))
    assert json.loads(predict(capsys, words, "--input", tmp_path / "columns.json")[1]) == {"outputs": [[1.0]]}


def test_npy_and_npz_with_named_outputs_written_to_a_file(exported, tmp_path, capsys):
    numbers, _ = exported
    own = tf.saved_model.load(numbers).signatures["serving_default"](x=tf.constant(X))
    np.save(tmp_path / "x.npy", np.array(X, "float32"))
    np.savez(tmp_path / "x.npz", x=np.array(X, "float64"))
    for name in ("x.npy", "x.npz"):
        answer_file = tmp_path / f"{name}.json"
        assert predict(capsys, numbers, "--input", tmp_path / name, "--output", answer_file) == (0, "", "")
        rows = json.loads(answer_file.read_text())["predictions"]
        np.testing.assert_allclose([row["scores"] for row in rows], own["scores"].numpy(), rtol=1e-6)
        np.testing.assert_allclose([row["total"] for row in rows], own["total"].numpy(), rtol=1e-6)


@pytest.mark.parametrize("model, file, content, message", [
    (0, "missing.json", None, "no input file .*missing.json: expected a .json, .npy, .npz or text file"),
    (0, "x.json", "{not json", "x.json is not JSON"),
    (0, "x.json", {"instances": [["1", "2", "3"]]}, r"expects x: float32 \(-1, 3\) \(numbers\); input 'x' received str '1'"),
    (0, "x.npy", np.zeros((2, 4), "float32"), r"expects x: float32 \(-1, 3\); .*x.npy holds 'x' as float32 of shape \(2, 4\)"),
    (0, "x.npy", np.array([["a", "b", "c"]]), r"expects x: float32 \(-1, 3\); .*x.npy holds 'x' as <U1"),
    (0, "x.npz", {"y": np.zeros((1, 3))}, r"holds the arrays \['y'\]; signature 'serving_default' takes x: float32"),
    (0, "x.txt", "1 2 3\n", r"a text file .* is for a signature that takes one batch of strings; signature "
                            r"'serving_default' takes x: float32 \(-1, 3\)"),
    (1, "x.json", {"signature_name": "classify", "instances": ["good"]}, r"unknown signature 'classify'; .* serves \['serve', 'serving_default'\]"),
])
def test_user_mistakes_are_one_line_and_exit_2(exported, tmp_path, capsys, model, file, content, message):
    path = tmp_path / file
    if isinstance(content, str):
        path.write_text(content)
    elif isinstance(content, dict) and file.endswith(".npz"):
        np.savez(path, **content)
    elif isinstance(content, dict):
        path.write_text(json.dumps(content))
    elif content is not None:
        np.save(path, content)
    status, out, err = predict(capsys, exported[model], "--input", path)
    assert status == 2 and out == "" and len(err.strip().splitlines()) == 1, err
    assert err.startswith("deepkit: error: ") and re.search(message, err), err


def test_the_signature_flag_and_a_missing_savedmodel(exported, tmp_path, capsys):
    (tmp_path / "w.txt").write_text("good\n")
    assert predict(capsys, exported[1], "--input", tmp_path / "w.txt", "--signature", "serve")[:2] == \
        (0, '{"predictions": [[1.0]]}\n')
    status, _, err = predict(capsys, exported[1], "--input", tmp_path / "w.txt", "--signature", "nope")
    assert status == 2 and "unknown signature 'nope'" in err
    status, _, err = predict(capsys, tmp_path, "--input", tmp_path / "w.txt")
    assert status == 2 and "no SavedModel at" in err and "saved_model.pb" in err
    model_folder = os.path.dirname(exported[1])  # the folder of versions, not a version
    status, _, err = predict(capsys, model_folder, "--input", tmp_path / "w.txt")
    assert status == 2 and f"holds the versions [1]: give {exported[1]}" in err


def test_serve_refuses_a_folder_without_versions(tmp_path, capsys):
    pytest.importorskip("fastapi", reason="deepkit serve needs the serve extra")
    for folder, message in [(tmp_path / "missing", "no model folder"), (tmp_path, "holds no SavedModel version")]:
        with pytest.raises(SystemExit) as exit_:
            cli.main(["serve", str(folder), "--port", "0"])
        assert exit_.value.code == 2 and message in capsys.readouterr().err


@pytest.mark.parametrize("command", ["predict", "serve"])
def test_help_answers_without_importing_tensorflow(command):
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "deepkit", command, "--help"],
                            capture_output=True, text=True, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    assert result.returncode == 0 and f"usage: deepkit {command}" in result.stdout, result.stderr[-2000:]
    imported = {line.split("|")[-1].strip() for line in result.stderr.splitlines() if line.startswith("import time:")}
    assert "deepkit.serving.commands" in imported and not {"tensorflow", "keras", "fastapi"} & imported


def test_serve_without_the_serve_extra_names_the_extra(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "fastapi", None)  # import fastapi raises ImportError, as when not installed
    monkeypatch.delitem(sys.modules, "deepkit.serving.server", raising=False)
    monkeypatch.delattr(deepkit.serving, "server", raising=False)  # what an earlier import left on the package
    with pytest.raises(SystemExit) as exit_:
        cli.main(["serve", str(tmp_path)])
    assert exit_.value.code == 2 and "pip install 'deepkit[serve]'" in capsys.readouterr().err
