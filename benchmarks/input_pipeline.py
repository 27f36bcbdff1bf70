"""Is the input pipeline a bottleneck? Step time on deepkit.data pipelines vs on tensors already in memory.

For two recipe-shaped workloads (the VAE recipe's model on mnist_5k, the forecast
recipe's PeepholeLSTM on sunspots windows) the script trains the same model for
a few epochs on

- the pipeline a recipe uses: ``deepkit.data.load`` → map → ``batched`` (cache,
  seeded shuffle, batch, prefetch), and
- the same batches materialised beforehand as one tensor, served by
  ``Dataset.from_tensor_slices`` (no decoding, shuffling or batching work left),

alternating the two, and prints the median epoch time per step of each and their
ratio (target: the pipeline within 5%, i.e. ratio <= 1.05).

    python benchmarks/input_pipeline.py [--epochs 6]
"""

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from deepkit import data  # noqa: E402
from recipes import forecast, vae  # noqa: E402


class EpochTimer(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.times.append(time.perf_counter() - self.start)

    def on_train_begin(self, logs=None):
        self.times = []


def materialised(dataset):
    """The pipeline's batches of one epoch, stacked into tensors kept in memory."""
    batches = list(dataset)
    return tf.data.Dataset.from_tensor_slices(tf.nest.map_structure(lambda *b: tf.stack(b), *batches))


def vae_workload():
    config = vae.Config()
    images = data.load(config.data, "train").map(
        lambda e: tf.reshape(tf.cast(e["image"], tf.float32) / 255.0, (-1,)), num_parallel_calls=tf.data.AUTOTUNE
    )
    pipeline = data.batched(images, config.batch_size, shuffle_seed=0, drop_remainder=True)
    return "vae (mnist_5k, Dense VAE)", lambda: vae.build(config, 784), pipeline


def forecast_workload():
    config = forecast.Config()
    pipeline = data.batched(data.windows(data.load("sunspots", "train"), config.window), config.batch_size,
                            shuffle_seed=0, drop_remainder=True)
    return "forecast (sunspots windows, PeepholeLSTM)", lambda: forecast.build_model(config), pipeline


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=6)
    args = parser.parse_args(argv)
    print("workload | pipeline ms/step | in-memory ms/step | ratio")
    for name, make_model, pipeline in (vae_workload(), forecast_workload()):
        in_memory = materialised(pipeline)
        steps = sum(1 for _ in in_memory)
        times = {"pipeline": [], "in-memory": []}
        models = {"pipeline": make_model(), "in-memory": make_model()}
        for _ in range(2):  # alternate, so that machine load hits both
            for label, dataset in (("pipeline", pipeline), ("in-memory", in_memory)):
                timer = EpochTimer()
                models[label].fit(dataset, epochs=args.epochs, verbose=0, shuffle=False, callbacks=[timer])
                times[label] += timer.times[1:]  # the first epoch traces the function
        per_step = {label: 1e3 * statistics.median(values) / steps for label, values in times.items()}
        print(f"{name} | {per_step['pipeline']:.2f} | {per_step['in-memory']:.2f} | "
              f"{per_step['pipeline'] / per_step['in-memory']:.3f}")


if __name__ == "__main__":
    main()
