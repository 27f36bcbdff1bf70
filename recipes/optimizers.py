"""Compare SGD, momentum, Adagrad, RMSprop and Adam on the same models, data and seed.

The optimizers are Keras' own. Each one trains the same two models from the same initial
weights and batch order: a small CNN on handwritten digits (`data`, default mnist_5k)
and a PeepholeLSTM forecaster of the next value of a series (`series`, default
sunspots, windows of `window` standardised values). The learning rate of each is the
best of a short sweep (`sweep_epochs` epochs at each of `sweep_factors` times the
optimizer's usual rate, judged by validation loss), so that no optimizer loses by a
badly chosen step size. A tenth of the training split is the validation set.

"momentum" is `keras.optimizers.SGD(momentum=beta)`. Keras updates u_t = beta u_{t-1} -
eta g_t, w_t = w_{t-1} + u_t; the exponential average of the lecture notes, v_t = beta
v_{t-1} + (1 - beta) g_t, w_t = w_{t-1} - lambda v_t, is the same update with eta =
lambda (1 - beta) (u_t = -lambda v_t). The swept rates are Keras' eta.

Also runs every optimizer for `path_steps` steps on the Rosenbrock function
f(x, y) = (1 - x)^2 + 100 (y - x^2)^2 from (-1.5, -0.5), each at the best rate of its own
sweep, and draws the paths over the contours.

Writes `<task>_loss.png` (training and validation loss per optimizer, one figure per
task: cnn, rnn), `rosenbrock.png`, and `learning_rates.json` (the sweep). metrics.json,
per task (cnn, rnn) and optimizer (sgd, momentum, adagrad, rmsprop, adam):
`<task>_<optimizer>_val_loss` (final validation loss),
`<task>_<optimizer>_epochs_to_target` (the first epoch whose validation loss is at most
`<task>_target_loss`, from `cnn_target_loss` and `rnn_target_loss`; absent for an
optimizer that never gets there), `<task>_<optimizer>_learning_rate`, and
`rosenbrock_<optimizer>_final` (f at the path's end, the minimum is 0), plus
`cnn_test_accuracy` of the exported model. The SavedModel is the CNN trained with the
optimizer of the lowest final validation loss, at its best epoch by validation loss
(the runner keeps it): its serve takes images, (batch, height,
width, 1) in [0, 1], and returns the ten digits' probabilities, (batch, 10).

Reference: Kingma & Ba 2015 (Adam); Tieleman & Hinton 2012 (RMSprop); Duchi et al.
2011 (Adagrad); Polyak 1964 (momentum).
"""

import dataclasses
import json
import os
import sys
from typing import ClassVar

import keras
import numpy as np
import tensorflow as tf

from deepkit import data, recipe
from deepkit.layers import PeepholeLSTM

NAME = "optimizers"
TASK = "optimizers compared"

OPTIMIZERS = ("sgd", "momentum", "adagrad", "rmsprop", "adam")
# The usual step size of each, the centre of its sweep.
USUAL_RATE = {"sgd": 0.3, "momentum": 0.03, "adagrad": 0.1, "rmsprop": 3e-3, "adam": 3e-3}
COLOURS = {"sgd": "tab:gray", "momentum": "tab:blue", "adagrad": "tab:green", "rmsprop": "tab:orange", "adam": "tab:red"}
TASKS = ("cnn", "rnn")
ROSENBROCK_START = (-1.5, -0.5)
ROSENBROCK_RATE = {"sgd": 5e-4, "momentum": 1e-4, "adagrad": 0.5, "rmsprop": 0.01, "adam": 0.03}


@dataclasses.dataclass
class Config(recipe.RecipeConfig):
    DATA_KINDS: ClassVar = ("images",)  # what --data may name (the CNN's digits)

    data: str = "mnist_5k"  # digits for the CNN
    series: str = "sunspots"  # time series for the recurrent model
    window: int = 24  # steps of history the recurrent model reads
    epochs: int = 8  # training epochs per optimizer and task
    batch_size: int = 64  # digits per batch
    series_batch_size: int = 16  # windows per batch (the series has a few hundred)
    optimizers: tuple = OPTIMIZERS  # which of sgd, momentum, adagrad, rmsprop, adam to compare
    momentum: float = 0.9  # beta of the momentum optimizer
    sweep_factors: tuple = (0.3, 1.0, 3.0)  # rates tried: these times each optimizer's usual rate
    sweep_epochs: int = 2  # epochs per rate in the sweep
    path_steps: int = 300  # optimizer steps on the Rosenbrock function
    cnn_target_loss: float = 0.15  # validation cross-entropy (nats) whose first epoch is reported
    rnn_target_loss: float = 0.1  # validation MSE (standardised units²) whose first epoch is reported

    def __post_init__(self):
        unknown = [name for name in self.optimizers if name not in OPTIMIZERS]
        if not self.optimizers or unknown or len(set(self.optimizers)) < len(self.optimizers):
            raise ValueError(f"optimizers must be distinct names among {', '.join(OPTIMIZERS)}, "
                             f"received {self.optimizers!r}")
        if not self.sweep_factors or min(self.sweep_factors) <= 0:
            raise ValueError(f"sweep_factors must be positive numbers, received {self.sweep_factors!r}")
        if not 0 <= self.momentum < 1:
            raise ValueError(f"momentum must be in [0, 1), received {self.momentum!r}")
        for field in ("window", "sweep_epochs", "path_steps"):
            if getattr(self, field) < 1:
                raise ValueError(f"{field} must be at least 1, received {getattr(self, field)!r}")


def smoke():
    """Seconds-long: the 8x8 digits, one epoch, two optimizers at one rate each, short paths."""
    return Config(data="digits", window=8, epochs=1, optimizers=("sgd", "adam"), sweep_factors=(1.0,), sweep_epochs=1,
                  path_steps=20)


def make_optimizer(name, learning_rate, momentum=0.9):
    """The Keras optimizer `name` (one of OPTIMIZERS) at `learning_rate`."""
    if name == "sgd":
        return keras.optimizers.SGD(learning_rate)
    if name == "momentum":
        return keras.optimizers.SGD(learning_rate, momentum=momentum)
    if name == "adagrad":
        return keras.optimizers.Adagrad(learning_rate)
    if name == "rmsprop":
        return keras.optimizers.RMSprop(learning_rate)
    if name == "adam":
        return keras.optimizers.Adam(learning_rate)
    raise ValueError(f"optimizer must be one of {OPTIMIZERS}, received {name!r}")


# --- the two tasks ---------------------------------------------------------------------


def digit_splits(name, seed):
    """train / validation (a seeded tenth of the training split) / test: (images in [0, 1], labels)."""
    def arrays(split):
        values = data.split_arrays(name, split)
        return values["image"].astype("float32") / 255.0, values["label"].astype("int64")

    images, labels = arrays("train")
    order = np.random.default_rng(seed).permutation(len(labels))
    cut = len(labels) // 10
    return {
        "train": (images[order[cut:]], labels[order[cut:]]),
        "validation": (images[order[:cut]], labels[order[:cut]]),
        "test": arrays("test"),
    }


def series_splits(name, window, seed):
    values = data.split_arrays(name, "train")["value"].astype("float32")
    mean, std = float(values.mean()), float(values.std())
    windows = list(data.windows((values - mean) / std, window).as_numpy_iterator())
    x = np.stack([w[0] for w in windows])
    y = np.stack([w[1] for w in windows])
    order = np.random.default_rng(seed).permutation(len(y))
    cut = max(len(y) // 10, 1)
    return {"train": (x[order[cut:]], y[order[cut:]]), "validation": (x[order[:cut]], y[order[:cut]])}


def build_cnn(shape):
    inputs = keras.Input(shape, name="images")
    x = keras.layers.Conv2D(16, 3, padding="same", activation="relu")(inputs)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Conv2D(32, 3, padding="same", activation="relu")(x)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Flatten()(x)
    outputs = keras.layers.Dense(10, activation="softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="cnn")


def build_rnn(window):
    inputs = keras.Input((window, 1), name="history")
    hidden = PeepholeLSTM(16)(inputs)
    outputs = keras.layers.Dense(1, name="next_value")(hidden)
    return keras.Model(inputs, outputs, name="forecaster")


def model_for(task, splits, config, optimizer):
    """The task's model, compiled, with the same initial weights for every optimizer."""
    keras.utils.set_random_seed(config.seed)
    if task == "cnn":
        model = build_cnn(splits["train"][0].shape[1:])
        model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    else:
        model = build_rnn(config.window)
        model.compile(optimizer=optimizer, loss="mse")
    return model


def pipelines(task, splits, config):
    """(train, validation) datasets; call once per model, since a shuffled dataset's
    order moves on with every pass over it."""
    batch_size = config.batch_size if task == "cnn" else config.series_batch_size
    train = data.batched(tf.data.Dataset.from_tensor_slices(splits["train"]), batch_size, shuffle_seed=config.seed)
    validation = data.batched(tf.data.Dataset.from_tensor_slices(splits["validation"]), 256)
    return train, validation


# --- the learning-rate sweep -----------------------------------------------------------


def sweep(task, splits, config):
    """{optimizer: {rate: validation loss after sweep_epochs}} for the task."""
    results = {}
    for name in config.optimizers:
        results[name] = {}
        for factor in config.sweep_factors:
            rate = USUAL_RATE[name] * factor
            if len(config.sweep_factors) == 1:  # one rate: nothing to choose between
                results[name][repr(rate)] = 0.0
                continue
            model = model_for(task, splits, config, make_optimizer(name, rate, config.momentum))
            train, validation = pipelines(task, splits, config)
            model.fit(train, epochs=config.sweep_epochs, verbose=0, shuffle=False)
            loss = model.evaluate(validation, verbose=0, return_dict=True)["loss"]
            results[name][repr(rate)] = loss if np.isfinite(loss) else None
            print(f"sweep {task}: {name} at {rate:.3g}: validation loss {loss:.4g}")
    return results


def best_rate(losses):
    """The rate (a float) of the lowest finite loss in {repr(rate): loss}."""
    finite = {rate: loss for rate, loss in losses.items() if loss is not None}
    if not finite:
        raise RuntimeError(f"every rate of the sweep diverged: {losses}")
    return float(min(finite, key=finite.get))


# --- the Rosenbrock paths ----------------------------------------------------------------


def rosenbrock(x, y):
    return (1 - x) ** 2 + 100 * (y - x**2) ** 2


def rosenbrock_path(optimizer, steps):
    """The points an optimizer visits from ROSENBROCK_START, (steps + 1, 2)."""
    point = keras.Variable(np.array(ROSENBROCK_START, "float32"))

    def descend():
        with tf.GradientTape() as tape:
            loss = rosenbrock(point[0], point[1])
        optimizer.apply_gradients([(tape.gradient(loss, point), point)])

    @tf.function
    def step():
        # In a replica context, so that it also runs under deepkit run --strategy.
        tf.distribute.get_strategy().run(descend)

    path = [np.array(ROSENBROCK_START, "float32")]
    for _ in range(steps):
        step()
        path.append(np.asarray(point.numpy()))
    return np.stack(path)


def best_path(name, config):
    """(rate, path, f at the end) of the sweep rate whose path ends lowest, the rates
    centred on ROSENBROCK_RATE: the valley's curvature (about 2,000 across it) allows
    gradient steps far smaller than a network's."""
    best = None
    for factor in config.sweep_factors:
        rate = ROSENBROCK_RATE[name] * factor
        path = rosenbrock_path(make_optimizer(name, rate, config.momentum), config.path_steps)
        end = float(rosenbrock(*path[-1]))
        if np.all(np.isfinite(path)) and (best is None or end < best[2]):
            best = (rate, path, end)
    if best is None:
        raise RuntimeError(f"{name} diverged on the Rosenbrock function at every rate of the sweep")
    return best


# --- plots -----------------------------------------------------------------------------


def plot_losses(task, curves, target, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    unit = "cross-entropy (nats)" if task == "cnn" else "mean squared error (standardised units²)"
    title = {"cnn": "CNN on digits", "rnn": "PeepholeLSTM forecaster"}[task]
    figure, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for name, (history, rate) in curves.items():
        epochs = np.arange(1, len(history["loss"]) + 1)
        axes[0].plot(epochs, history["loss"], color=COLOURS[name], marker="o", label=f"{name} (rate {rate:.3g})")
        axes[1].plot(epochs, history["val_loss"], color=COLOURS[name], marker="o", label=f"{name} (rate {rate:.3g})")
    axes[1].axhline(target, color="black", linestyle=":", label=f"target loss {target:.3g}")
    for axis, split in zip(axes, ("training", "validation")):
        axis.set_title(f"{split} loss")
        axis.set_xlabel("epoch")
        axis.set_yscale("log")
        axis.grid(alpha=0.3)
    axes[0].set_ylabel(unit)
    axes[1].legend(fontsize=8)
    figure.suptitle(f"{title}: each optimizer at its best swept rate, same initial weights")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def plot_paths(paths, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x, y = np.meshgrid(np.linspace(-2, 2, 300), np.linspace(-1, 3, 300))
    figure, axis = plt.subplots(figsize=(7, 6))
    contours = axis.contour(x, y, rosenbrock(x, y), levels=np.logspace(-1, 3.5, 10), colors="0.55", linewidths=0.7)
    axis.clabel(contours, fontsize=6, fmt="%.3g")
    for name, (rate, points, end) in paths.items():
        axis.plot(points[:, 0], points[:, 1], color=COLOURS[name], linewidth=1.2,
                  label=f"{name} (rate {rate:.3g}): f = {end:.2g} after {len(points) - 1} steps")
    axis.plot(*ROSENBROCK_START, "ko", markersize=8, label="start (-1.5, -0.5)")
    axis.plot(1, 1, "k*", markersize=12, label="minimum (1, 1)")
    axis.set_xlabel("x")
    axis.set_ylabel("y")
    axis.set_title("Rosenbrock f(x, y) = (1 - x)² + 100 (y - x²)²: optimizer paths")
    axis.legend(fontsize=7, loc="upper left")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


# --- the run ---------------------------------------------------------------------------


def epochs_to(losses, target):
    """The first epoch (from 1) whose loss is at most `target`; None if none is."""
    return next((epoch for epoch, loss in enumerate(losses, start=1) if loss <= target), None)


def train_and_evaluate(config, workdir):
    run = recipe.start(NAME, config, workdir)
    print(f"data: {config.data} for the CNN, {config.series} for the recurrent model")
    splits = {"cnn": digit_splits(config.data, config.seed), "rnn": series_splits(config.series, config.window, config.seed)}

    # The sweep is kept, so that a resumed run trains with the rates it started with.
    sweep_path = os.path.join(workdir, "learning_rates.json")
    if os.path.exists(sweep_path):
        with open(sweep_path) as f:
            sweeps = json.load(f)
    else:
        sweeps = {task: sweep(task, splits[task], config) for task in TASKS}
        with open(sweep_path + ".tmp", "w") as f:
            json.dump(sweeps, f, indent=2)
        os.replace(sweep_path + ".tmp", sweep_path)

    metrics, models, records = {}, {}, {}
    for task in TASKS:
        curves = {}
        for name in config.optimizers:
            rate = best_rate(sweeps[task][name])
            model = model_for(task, splits[task], config, make_optimizer(name, rate, config.momentum))
            # A fresh pipeline per model: every optimizer sees the same batches in the same order.
            train, validation = pipelines(task, splits[task], config)
            print(f"\n{task}: {name} at learning rate {rate:.3g}")
            record = run.fit(model, train, validation=validation, subdir=os.path.join(task, name))
            curves[name] = (record.history, rate)
            models[task, name], records[task, name] = model, record
            metrics[f"{task}_{name}_val_loss"] = record.history["val_loss"][-1]
            metrics[f"{task}_{name}_learning_rate"] = rate
        target = config.cnn_target_loss if task == "cnn" else config.rnn_target_loss
        metrics[f"{task}_target_loss"] = target
        for name, (history, _) in curves.items():
            reached = epochs_to(history["val_loss"], target)
            if reached is not None:
                metrics[f"{task}_{name}_epochs_to_target"] = reached
        plot_losses(task, curves, target, os.path.join(workdir, f"{task}_loss.png"))

    paths = {name: best_path(name, config) for name in config.optimizers}
    for name, (_, _, end) in paths.items():
        metrics[f"rosenbrock_{name}_final"] = end
    plot_paths(paths, os.path.join(workdir, "rosenbrock.png"))

    best = min(config.optimizers, key=lambda name: metrics[f"cnn_{name}_val_loss"])
    cnn = models["cnn", best]
    test_images, test_labels = splits["cnn"]["test"]
    metrics["cnn_test_accuracy"] = float(np.mean(np.argmax(cnn.predict(test_images, verbose=0), axis=1) == test_labels))
    print(f"\nlowest CNN validation loss: {best}; its test accuracy {metrics['cnn_test_accuracy']:.3f}")
    for task in TASKS:
        ranked = sorted(config.optimizers, key=lambda name: metrics[f"{task}_{name}_val_loss"])
        print(f"{task}, final validation loss: " + ", ".join(f"{n} {metrics[f'{task}_{n}_val_loss']:.4g}" for n in ranked))
    ranked = sorted(config.optimizers, key=lambda name: metrics[f"rosenbrock_{name}_final"])
    print("Rosenbrock, f at the end: " + ", ".join(f"{n} {metrics[f'rosenbrock_{n}_final']:.3g}" for n in ranked))
    return run.finish(cnn, metrics, records["cnn", best], plots_title=f"{NAME}: the exported CNN ({best})")


def main(argv=None):
    return recipe.main(sys.modules[__name__], argv)


if __name__ == "__main__":
    raise SystemExit(main())
