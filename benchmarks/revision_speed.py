"""Speed of deepkit's recurrent layers at an earlier git revision against the working tree, in one run.

A refactoring of the fused path must not slow it down. Timing the two versions in
two runs compares two machine loads as much as two codes, so this script loads
both into one process: the revision's ``deepkit/`` is extracted with ``git archive``
into a temporary folder and renamed ``deepkit_before`` (every ``deepkit`` name in it
rewritten, so its classes register under their own Keras package), and the models
built from each are timed interleaved, with ``keras.layers.LSTM`` / ``GRU`` beside
them as the yardstick. It prints medians and the ratios after / before (1.00 =
unchanged) and each against Keras.

    python benchmarks/revision_speed.py --before 9743492
    python benchmarks/revision_speed.py --before HEAD~3 --timesteps 400 --xla on --repeats 15

Each case: Input(T, 32) -> layer(128 units) -> Dense(1), Adam, MSE, batch 64; a
training step is ``train_on_batch``, a predict ``predict_on_batch``.
"""

import argparse
import importlib
import itertools
import os
import pathlib
import re
import statistics
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

REPOSITORY = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPOSITORY))

import deepkit.layers as after  # noqa: E402

BATCH, FEATURES = 64, 32
FAMILIES = {
    "lstm": ("PeepholeLSTM", {}, lambda units: keras.layers.LSTM(units)),
    "lstm-no-peephole": ("PeepholeLSTM", {"peephole": None}, lambda units: keras.layers.LSTM(units)),
    "gru": ("RelevanceGRU", {}, lambda units: keras.layers.GRU(units, reset_after=False)),
}


def import_revision(revision, folder):
    """Imports ``deepkit`` as it was at ``revision`` under the name ``deepkit_before``."""
    archive = subprocess.run(
        ["git", "-C", str(REPOSITORY), "archive", revision, "deepkit"], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", folder], input=archive, check=True)
    package = pathlib.Path(folder) / "deepkit_before"
    (pathlib.Path(folder) / "deepkit").rename(package)
    for path in package.rglob("*.py"):
        path.write_text(re.sub(r"\bdeepkit\b", "deepkit_before", path.read_text()))
    sys.path.insert(0, folder)
    return importlib.import_module("deepkit_before.layers")


def build(make_layer, timesteps, jit_compile):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((timesteps, FEATURES))
    outputs = keras.layers.Dense(1)(make_layer()(inputs))
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse", jit_compile=jit_compile)
    return model


def time_case(models, x, y, repeats):
    """Median train and predict milliseconds of each model, timed interleaved."""
    for model in models.values():
        for _ in range(2):  # trace, compile, warm up
            model.train_on_batch(x, y)
            model.predict_on_batch(x)
    times = {name: {"train": [], "predict": []} for name in models}
    for _ in range(repeats):
        for name, model in models.items():
            start = time.perf_counter()
            model.train_on_batch(x, y)
            times[name]["train"].append(time.perf_counter() - start)
            start = time.perf_counter()
            model.predict_on_batch(x)
            times[name]["predict"].append(time.perf_counter() - start)
    return {name: {key: statistics.median(v) * 1e3 for key, v in entry.items()} for name, entry in times.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", required=True, help="the git revision to compare against, e.g. 9743492")
    parser.add_argument("--family", choices=tuple(FAMILIES), action="append", help="only this family (repeatable)")
    parser.add_argument("--timesteps", type=int, action="append", help="sequence lengths (default 100 and 400)")
    parser.add_argument("--xla", choices=("on", "off"), action="append", help="XLA on/off (default both)")
    parser.add_argument("--units", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=9, help="interleaved repeats per case")
    args = parser.parse_args(argv)

    families = args.family or list(FAMILIES)
    timesteps = args.timesteps or [100, 400]
    xla = [value == "on" for value in args.xla] if args.xla else [False, True]
    with tempfile.TemporaryDirectory() as folder:
        before = import_revision(args.before, folder)
        print(f"before: {args.before}; after: the working tree; units {args.units}, batch {BATCH}, "
              f"{FEATURES} features, medians of {args.repeats} interleaved repeats")
        print("ratios: after/before (1.00 = unchanged), and each against Keras (below 1 = faster than Keras)")
        rng = np.random.default_rng(0)
        for family, steps, jit_compile in itertools.product(families, timesteps, xla):
            class_name, kwargs, make_keras = FAMILIES[family]
            x = rng.normal(size=(BATCH, steps, FEATURES)).astype("float32")
            y = rng.normal(size=(BATCH, 1)).astype("float32")
            models = {
                "before": build(lambda: getattr(before, class_name)(args.units, **kwargs), steps, jit_compile),
                "after": build(lambda: getattr(after, class_name)(args.units, **kwargs), steps, jit_compile),
                "keras": build(lambda: make_keras(args.units), steps, jit_compile),
            }
            ms = time_case(models, x, y, args.repeats)
            for kind in ("train", "predict"):
                b, a, k = ms["before"][kind], ms["after"][kind], ms["keras"][kind]
                print(f"{family:<17} T={steps:<4} xla={'on ' if jit_compile else 'off'} {kind:<7} "
                      f"before {b:7.1f} ms  after {a:7.1f} ms  after/before {a / b:.2f}  "
                      f"vs Keras {k:7.1f} ms: before {b / k:.2f}x, after {a / k:.2f}x")


if __name__ == "__main__":
    main()
