"""Quickstart: deepkit's recurrent layers in a Keras model, trained with fit and exported.

The task is the adding problem (Hochreiter & Schmidhuber 1997), generated here:
each sequence has two channels, random numbers in [0, 1] and a marker that is 1 at
exactly two steps; the target is the sum of the two marked numbers. A model must
remember the marked values across the sequence, which plain feed-forward layers cannot.

Run:  python examples/quickstart.py [--epochs 10] [--export-dir saved_models/quickstart]
"""

import argparse
import os

import keras
import numpy as np
import tensorflow as tf

from deepkit.layers import BRNN, PeepholeLSTM, RelevanceGRU


def adding_problem(num_sequences, timesteps, seed):
    rng = np.random.default_rng(seed)
    values = rng.uniform(size=(num_sequences, timesteps))
    markers = np.zeros_like(values)
    for row in range(num_sequences):
        markers[row, rng.choice(timesteps, size=2, replace=False)] = 1.0
    x = np.stack([values, markers], axis=-1).astype("float32")
    y = (values * markers).sum(axis=1, keepdims=True).astype("float32")
    return x, y


def build_model(timesteps):
    inputs = keras.Input((timesteps, 2), name="sequences")
    h = BRNN(PeepholeLSTM(32, return_sequences=True))(inputs)
    h = RelevanceGRU(32)(h)
    outputs = keras.layers.Dense(1, name="sum")(h)
    return keras.Model(inputs, outputs, name="adding_model")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--timesteps", type=int, default=30)
    parser.add_argument("--export-dir", default=os.path.join("saved_models", "quickstart", "1"))
    args = parser.parse_args(argv)

    keras.utils.set_random_seed(0)
    x_train, y_train = adding_problem(4096, args.timesteps, seed=0)
    x_test, y_test = adding_problem(512, args.timesteps, seed=1)
    train = tf.data.Dataset.from_tensor_slices((x_train, y_train)).shuffle(4096, seed=0).batch(64)
    test = tf.data.Dataset.from_tensor_slices((x_test, y_test)).batch(256)

    model = build_model(args.timesteps)
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="mse", metrics=["mae"])
    baseline = float(np.mean(np.abs(y_test - y_train.mean())))
    model.fit(train, epochs=args.epochs, validation_data=test, verbose=2)
    _, mae = model.evaluate(test, verbose=0)
    print(f"data: adding problem, generated (T={args.timesteps}, 4096 train / 512 test sequences)")
    print(f"test MAE {mae:.4f} (predicting the mean gives {baseline:.4f})")

    model.export(args.export_dir, verbose=False)
    print(f"SavedModel written to {args.export_dir} (endpoint 'serve')")


if __name__ == "__main__":
    main()
