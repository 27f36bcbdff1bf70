"""The user's own files: csv:, text: and npz: load into the same feature dicts as built-in data."""

import numpy as np
import pytest
import tensorflow as tf

import deepkit.data as data


def elements(ds):
    return list(ds.as_numpy_iterator())


def test_csv_columns_become_features_and_the_label_column_becomes_int64_label(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("x,name,y,target\n1,a,2.5,0\n3,b,,1\n5,c,6,1\n7,d,8,0\n9,e,10,2\n")
    ds = data.load(f"csv:{path}", "all", label_column="target", non_finite="keep")  # the empty cell: NaN
    assert {k: v.dtype for k, v in ds.element_spec.items()} == {
        "x": tf.float32, "name": tf.string, "y": tf.float32, "label": tf.int64
    }
    rows = elements(ds)
    assert [r["label"] for r in rows] == [0, 1, 1, 0, 2]
    assert rows[0]["name"] == b"a" and rows[0]["y"] == 2.5 and np.isnan(rows[1]["y"])
    # Files keep their order: the first 80% of the rows for training.
    assert [r["x"] for r in elements(data.load(f"csv:{path}", "train", non_finite="keep"))] == [1, 3, 5, 7]
    assert data.info(f"csv:{path}").kind == "table"


def test_csv_class_names_become_indices_of_the_sorted_names(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("v;kind\n1;pos\n2;neg\n3;pos\n")
    rows = elements(data.load(f"csv:{path}", "all", label_column="kind", delimiter=";"))
    assert [r["label"] for r in rows] == [1, 0, 1]


@pytest.mark.parametrize("content, message", [
    ("", "is empty"),
    ("a,b\n", "has a header but no data rows"),
    ("a,b\n1,2\n3\n", r"must have the 2 fields of the header. Received other counts on lines \[3\]"),
    ("a,label\n1,0.5\n", "must hold integers or class names"),
])
def test_csv_errors_say_what_is_wrong(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(ValueError, match=message):
        data.load(f"csv:{path}", "all", label_column="label" if "label" in content else None)


def test_csv_unknown_label_column_lists_the_columns(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match=r"`label_column` must be one of the columns \['a', 'b'\].*label_column='c'"):
        data.load(f"csv:{path}", label_column="c")


def test_text_file_per_line_or_whole(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("first line\n\n  \nsecond línea\nthird\nfourth\nfifth\n", encoding="utf-8")
    lines = [e["text"].decode("utf-8") for e in elements(data.load(f"text:{path}", "all"))]
    assert lines == ["first line", "second línea", "third", "fourth", "fifth"]
    assert len(data.load(f"text:{path}", "train")) == 4
    whole = elements(data.load(f"text:{path}", "all", per_line=False))
    assert len(whole) == 1 and whole[0]["text"].decode("utf-8") == path.read_text(encoding="utf-8")
    assert data.info(f"text:{path}").kind == "text"


def test_npz_arrays_become_features(tmp_path):
    path = tmp_path / "a.npz"
    np.savez(path, image=np.arange(10 * 4, dtype="uint8").reshape(10, 2, 2, 1), label=np.arange(10))
    ds = data.load(f"npz:{path}", "test")
    assert {k: (tuple(v.shape), v.dtype) for k, v in ds.element_spec.items()} == {
        "image": ((2, 2, 1), tf.uint8), "label": ((), tf.int64)
    }
    assert [e["label"] for e in elements(ds)] == [8, 9]


@pytest.mark.parametrize("arrays, message", [
    ({"a": np.zeros(3), "b": np.zeros(4)}, r"must have the same length. Received: \{'a': 3, 'b': 4\}"),
    ({"a": np.zeros(3), "b": np.float32(1)}, r"0-d arrays: \['b'\]"),
    ({}, "holds no arrays"),
])
def test_npz_errors(tmp_path, arrays, message):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(ValueError, match=message):
        data.load(f"npz:{path}")


def test_missing_file_and_unknown_option(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"'csv:.*missing.csv': no such file"):
        data.load(f"csv:{tmp_path / 'missing.csv'}")
    path = tmp_path / "t.txt"
    path.write_text("a\n")
    with pytest.raises(TypeError, match=r"'text:' files take the options \['encoding', 'per_line'\]. "
                                        r"Received unknown options: \['label_column'\]"):
        data.load(f"text:{path}", label_column="x")
