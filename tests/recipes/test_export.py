"""SavedModels land in TensorFlow Serving's layout, one new integer version per export,
and a failed export never leaves a version folder behind."""

import os

import keras
import numpy as np
import pytest

from deepkit import export
from deepkit.testing import serve_without_deepkit


def tiny_model(value):
    inputs = keras.Input((2,), name="x")
    outputs = keras.layers.Dense(1, kernel_initializer="ones", bias_initializer=keras.initializers.Constant(value))(inputs)
    return keras.Model(inputs, outputs)


def test_versions_count_up_from_1_and_each_serves_its_model(tmp_path):
    paths = [export.export_version(tiny_model(v), str(tmp_path), "m") for v in (10.0, 20.0)]
    assert paths == [str(tmp_path / "m" / "1"), str(tmp_path / "m" / "2")]
    assert sorted(os.listdir(tmp_path / "m")) == ["1", "2"]  # no staging folder left
    x = np.ones((1, 2), "float32")
    assert serve_without_deepkit(paths[1], [x], "serve")[0][0, 0] == pytest.approx(22.0)


def test_the_next_version_follows_the_highest_even_with_gaps(tmp_path):
    for name in ("1", "7", "notes", ".export-old"):
        os.makedirs(tmp_path / "m" / name)
    assert export.versions(str(tmp_path / "m")) == [1, 7]
    assert export.export_version(tiny_model(0.0), str(tmp_path), "m") == str(tmp_path / "m" / "8")
    assert export.next_version(str(tmp_path / "missing")) == 1


def test_a_failed_export_leaves_no_version_behind(tmp_path):
    class FailsHalfway:
        def export(self, path, verbose=False):
            os.makedirs(os.path.join(path, "variables"))
            open(os.path.join(path, "saved_model.pb"), "w").close()
            raise RuntimeError("disk full")

    export.export_version(tiny_model(0.0), str(tmp_path), "m")
    with pytest.raises(RuntimeError, match="disk full"):
        export.export_version(FailsHalfway(), str(tmp_path), "m")
    assert os.listdir(tmp_path / "m") == ["1"]
    assert export.export_version(tiny_model(0.0), str(tmp_path), "m") == str(tmp_path / "m" / "2")


def test_the_version_appears_only_when_complete(tmp_path, monkeypatch):
    """While the SavedModel is being written, no version folder exists."""
    seen = []

    class Watched:
        def export(self, path, verbose=False):
            tiny_model(0.0).export(path, verbose=False)
            seen.append(export.versions(str(tmp_path / "m")))

    export.export_version(Watched(), str(tmp_path), "m")
    assert seen == [[]] and os.path.exists(tmp_path / "m" / "1" / "saved_model.pb")


def test_a_version_taken_by_another_exporter_meanwhile_is_not_overwritten(tmp_path, monkeypatch):
    """Another process finishes version 1 between our choice of 1 and our rename: we take 2."""
    real_next_version, calls = export.next_version, []

    def raced(base):
        version = real_next_version(base)
        if not calls:  # the other exporter renames its complete version into place right now
            os.makedirs(os.path.join(base, str(version), "variables"))
        calls.append(version)
        return version

    monkeypatch.setattr(export, "next_version", raced)
    path = export.export_version(tiny_model(0.0), str(tmp_path), "m")
    assert calls == [1, 2] and path == str(tmp_path / "m" / "2")
    assert os.listdir(tmp_path / "m" / "1") == ["variables"]  # theirs, untouched
    assert os.path.exists(tmp_path / "m" / "2" / "saved_model.pb")


def test_staging_left_by_a_killed_export_is_removed_a_day_later(tmp_path):
    base = tmp_path / "m"
    for name, age_h in ((".export-killed", 25), (".export-running", 1)):
        os.makedirs(base / name / "saved_model")
        stamp = os.path.getmtime(base / name) - age_h * 3600
        os.utime(base / name, (stamp, stamp))
    export.export_version(tiny_model(0.0), str(tmp_path), "m")
    assert sorted(os.listdir(base)) == [".export-running", "1"]
