"""Is the input pipeline a bottleneck? Training step time on deepkit.data pipelines vs in memory.

For three small workloads (where input work weighs most against compute):

- ``mlp``: a Dense classifier on mnist_5k (``load`` → ``images_to_float`` → ``batched``),
- ``cnn``: a small conv net on mnist_5k (same pipeline),
- ``gru``: a GRU forecaster on sunspots windows (``load`` → ``windows`` → ``batched``),

the script trains two identically initialised models, one on the ``batched``
pipeline (cache, seeded shuffle, batch, prefetch) and one on the same batches
materialised beforehand (one epoch of the pipeline stacked into tensors,
``Dataset.from_tensor_slices(...).cache()``, warmed up: no decoding, windowing,
shuffling or batching left). After one warm-up epoch each (tracing, cache fill),
the two alternate in blocks of epochs, so that load on this shared machine hits
both; the script prints the median epoch time per step of each, their ratio and
the median of the ratios of adjacent epochs and the ratio of the fastest epochs
(the least disturbed by other processes) (target: pipeline / in memory <= 1.05), plus the time each dataset alone needs per batch (no model, iterated in
a tf.function), to compare with the step time.

    python benchmarks/input_pipeline.py [--rounds 12] [--epochs 1] [--workloads mlp cnn gru]
"""

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from deepkit import data  # noqa: E402


class EpochTimer(keras.callbacks.Callback):
    """Wall time of each epoch (iterator creation included, fit's set-up excluded)."""

    def __init__(self):
        super().__init__()
        self.times = []

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.times.append(time.perf_counter() - self.start)


def mnist_pipeline(batch_size):
    """Images scaled to float per example, then cached, shuffled, batched and prefetched.

    (Scaling after ``batched`` instead, on 4x fewer bytes per example, measured
    slower here: a map after the cache runs every epoch, and every epoch's new
    iterator instantiates its function again, ~2 ms.)
    """
    images = data.images_to_float(data.load("mnist_5k", "train"), with_label=True)
    return data.batched(images, batch_size, shuffle_seed=0, drop_remainder=True)


def mlp():
    model = keras.Sequential([
        keras.Input((28, 28, 1)),
        keras.layers.Flatten(),
        keras.layers.Dense(128, activation="relu"),
        keras.layers.Dense(10),
    ])
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def cnn():
    model = keras.Sequential([
        keras.Input((28, 28, 1)),
        keras.layers.Conv2D(16, 3, activation="relu"),
        keras.layers.MaxPooling2D(),
        keras.layers.Conv2D(32, 3, activation="relu"),
        keras.layers.MaxPooling2D(),
        keras.layers.Flatten(),
        keras.layers.Dense(10),
    ])
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def sunspots_pipeline(batch_size, window=20):
    series = data.load("sunspots", "train").map(lambda e: {"value": e["value"] / 100.0})
    return data.batched(data.windows(series, window), batch_size, shuffle_seed=0, drop_remainder=True)


def gru():
    model = keras.Sequential([keras.Input((20, 1)), keras.layers.GRU(32), keras.layers.Dense(1)])
    model.compile("adam", "mse")
    return model


WORKLOADS = {
    "mlp": ("Dense 128 on mnist_5k, batch 64", lambda: mnist_pipeline(64), mlp),
    "cnn": ("conv 16-32 on mnist_5k, batch 64", lambda: mnist_pipeline(64), cnn),
    "gru": ("GRU 32 on sunspots windows of 20, batch 16", lambda: sunspots_pipeline(16), gru),
}


def materialised(pipeline):
    """One epoch of the pipeline's batches, stacked into tensors, served from a warmed cache."""
    batches = list(pipeline)
    stacked = tf.nest.map_structure(lambda *parts: tf.stack(parts), *batches)
    in_memory = tf.data.Dataset.from_tensor_slices(stacked).cache()
    for _ in in_memory:
        pass
    return in_memory


@tf.function
def _consume(dataset):
    count = tf.constant(0, tf.int64)
    for _ in dataset:
        count += 1
    return count


def alone_ms_per_batch(dataset, repeats=7):
    """Median time per batch to produce one epoch with no model (iterated inside a tf.function)."""
    _consume(dataset)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        count = int(_consume(dataset))
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times) / count


def measure(make_pipeline, make_model, rounds, epochs):
    pipeline = make_pipeline()
    variants = {"pipeline": pipeline, "in memory": materialised(make_pipeline())}
    steps = int(variants["in memory"].cardinality())
    models = {}
    for label in variants:
        keras.utils.set_random_seed(0)
        models[label] = make_model()
        models[label].fit(variants[label], epochs=1, verbose=0, shuffle=False)  # traces; fills the pipeline's cache
    times = {label: [] for label in variants}
    for round_ in range(rounds):
        order = list(variants) if round_ % 2 == 0 else list(variants)[::-1]
        for label in order:
            timer = EpochTimer()
            models[label].fit(variants[label], epochs=epochs, verbose=0, shuffle=False, callbacks=[timer])
            times[label] += timer.times
    per_step = {label: 1e3 * statistics.median(values) / steps for label, values in times.items()}
    paired = statistics.median(p / m for p, m in zip(times["pipeline"], times["in memory"]))
    fastest = min(times["pipeline"]) / min(times["in memory"])
    alone = {label: alone_ms_per_batch(dataset) for label, dataset in variants.items()}
    return per_step, (paired, fastest), steps, alone


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=12, help="alternations of the two variants")
    parser.add_argument("--epochs", type=int, default=1, help="epochs per variant and round")
    parser.add_argument("--workloads", nargs="+", default=list(WORKLOADS), choices=list(WORKLOADS))
    args = parser.parse_args(argv)
    print(f"TensorFlow {tf.__version__}, Keras {keras.__version__}, {os.cpu_count()} CPUs; "
          f"medians of {args.rounds * args.epochs} epochs per variant")
    print("| workload | steps/epoch | pipeline ms/step | in memory ms/step | ratio of medians | median paired ratio "
          "| ratio of fastest epochs | pipeline alone ms/batch | in memory alone ms/batch |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name in args.workloads:
        description, make_pipeline, make_model = WORKLOADS[name]
        per_step, (paired, fastest), steps, alone = measure(make_pipeline, make_model, args.rounds, args.epochs)
        ratio = per_step["pipeline"] / per_step["in memory"]
        print(f"| {name}: {description} | {steps} | {per_step['pipeline']:.2f} | {per_step['in memory']:.2f} | "
              f"{ratio:.3f} | {paired:.3f} | {fastest:.3f} | {alone['pipeline']:.3f} | {alone['in memory']:.3f} |", flush=True)


if __name__ == "__main__":
    main()
