"""Forecast the next value of a time series (sunspots or CO2) with a peephole LSTM.

Many-to-one: a window of the last `window` values predicts x_{t+1}. The series is
split chronologically (first 80% of the steps for training), standardised with the
training statistics, and the model is judged against the persistence baseline
(x̂_{t+1} = x_t), which any forecaster must beat to be worth serving.

`residual=True` makes the network predict the change from the last value instead
(x̂_{t+1} = x_t + Δ). A trending series needs it: CO2 rises past anything in its
training years, and a network that has to output the level itself falls behind
persistence there. On a stationary series such as sunspots the plain network does better.

The last `validation_percent` of the training steps validate: the exported model is
that of the epoch with the lowest validation loss (`monitor`), so the test part is
only read to report the scores.

Writes forecast.png (the series, the test forecasts and persistence, in the series'
units against the year). metrics.json: `mae`, `rmse`, `persistence_mae`,
`persistence_rmse` and `mae_vs_persistence` (below 1: better than persistence), of
the exported model.

Truncated backpropagation through time (`tbptt_steps` > 0): the model is trained
many-to-many (a forecast after every step) with `stateful=True` layers (deepkit.tbptt)
on the training steps as one stream, cut into `batch_size` rows read `tbptt_steps`
steps at a time: each row's state carries from one batch to the next, each gradient
reaches back `tbptt_steps` steps, the states reset at every epoch (each row needs at
least one chunk: a short series needs a small `batch_size`). Its validation loss is then
that of the validation steps read as one stream after `window` steps of context; the
exported model is the same weights read as a window, as without TBPTT. `clipnorm`
rescales the whole gradient when its global norm exceeds it (Keras' `global_clipnorm`,
which keeps the gradient's direction, rather than `clipnorm`, which clips each weight's
gradient on its own).

The SavedModel's `serving_default` (= `serve`) takes `history`, float32
(batch, window, 1): the last `window` values, oldest first, and returns `next_value`,
float32 (batch, 1): the forecast of the value that follows. Both are in the series'
own units (sunspot number, ppm of CO2); the standardisation is inside.
"""

import dataclasses
import os
import sys
from typing import ClassVar

import keras
import numpy as np
import tensorflow as tf

from deepkit import best_epoch, data, plots, recipe, tbptt
from deepkit.layers import PeepholeLSTM

NAME = "forecast"
TASK = "time-series forecasting"

# The plots' y label and time axis of the offline series: (unit, first year, years per step).
SERIES = {
    "sunspots": ("yearly mean sunspot number", 1700.0, 1.0),
    "co2": ("CO2 at Mauna Loa (ppm)", 1958.24, 7 / 365.25),  # weekly from 1958-03-29
}


@dataclasses.dataclass
class Config(recipe.RecipeConfig):
    DATA_KINDS: ClassVar = ("time_series",)  # what --data may name

    data: str = "sunspots"  # a time series of deepkit.data: sunspots (yearly) or co2 (weekly)
    window: int = 24  # steps of history the model reads
    units: int = 32  # PeepholeLSTM units
    residual: bool = False  # predict the change from the last value (x̂_{t+1} = x_t + Δ) instead of the value
    validation_percent: int = 15  # last % of the training steps held out to pick the exported epoch
    monitor: str = "val_loss"  # validation metric that picks the exported epoch: val_loss or val_mae
    monitor_mode: str = "min"  # min or max: which end of the monitor is best
    epochs: int = 60  # training epochs
    batch_size: int = 32  # windows per batch (with tbptt_steps: rows of the series read side by side)
    learning_rate: float = 3e-3  # Adam step size
    clipnorm: float = 0.0  # rescale the gradient when its global norm exceeds this (global_clipnorm); 0: never
    tbptt_steps: int = 0  # >0: truncated BPTT, batch_size stateful rows read this many steps per batch; 0: windows

    def __post_init__(self):
        if not 0 < self.validation_percent < 100:
            raise ValueError(f"validation_percent must lie in (0, 100), received {self.validation_percent}")
        if self.clipnorm < 0 or self.tbptt_steps < 0:
            raise ValueError(f"clipnorm and tbptt_steps must be >= 0 (0: off), received clipnorm={self.clipnorm}, "
                             f"tbptt_steps={self.tbptt_steps}")
        best_epoch.selection(self)  # a bad monitor_mode is refused before anything runs


def smoke():
    """Seconds-long: a short window, four units, two epochs."""
    return Config(window=8, units=4, epochs=2)


def build_model(config, many_to_many=False):
    """``history (batch, window, 1)`` -> the next value ``(batch, 1)``; with ``many_to_many``,
    ``(batch, time, 1)`` -> the value after every step ``(batch, time, 1)``, same weights."""
    inputs = keras.Input((None if many_to_many else config.window, 1), name="history")
    hidden = PeepholeLSTM(config.units, return_sequences=many_to_many)(inputs)
    outputs = keras.layers.Dense(1, name="next_value")(hidden)
    if config.residual:  # x̂_{t+1} = x_t + Δ: the network learns the change, persistence is its start
        last = inputs if many_to_many else keras.layers.Flatten(name="last_value")(
            keras.layers.Cropping1D((config.window - 1, 0))(inputs))
        outputs = keras.layers.Add(name="last_plus_change")([last, outputs])
    return compiled(keras.Model(inputs, outputs, name="forecaster"), config)


def compiled(model, config):
    """``model`` compiled for MSE with Adam and global-norm clipping. Loss and MAE are means
    over the steps that count: TBPTT's validation gives its context steps weight 0."""
    model.compile(optimizer=keras.optimizers.Adam(config.learning_rate, global_clipnorm=config.clipnorm or None),
                  loss=keras.losses.MeanSquaredError(reduction="mean_with_sample_weight"), weighted_metrics=["mae"])
    return model


def fit_truncated(run, config, fit_part, validation_part):
    """Trains by truncated BPTT (see the module docstring) and returns the many-to-one
    model holding the trained weights, and what ``run.fit`` returns. ``validation_part``
    starts with ``window`` steps of context, which read but are not scored."""
    fit_part, validation_part = fit_part.astype("float32"), validation_part.astype("float32")
    train = tbptt.stream_batches(fit_part[:-1, None], fit_part[1:, None], config.batch_size, config.tbptt_steps)
    # Validation needs no gradient, so no chunks: one batch, the stream in every row (the
    # stateful model's batch size is fixed), its context steps weighted 0.
    scored = (np.arange(len(validation_part) - 1) >= config.window - 1).astype("float32")
    rows = lambda values: np.repeat(values[None], config.batch_size, axis=0)  # noqa: E731
    validation = tf.data.Dataset.from_tensors((rows(validation_part[:-1, None]), rows(validation_part[1:, None]),
                                               rows(scored)))
    trainer = compiled(tbptt.stateful_copy(build_model(config, many_to_many=True), config.batch_size), config)
    history = run.fit(trainer, train.dataset, validation=validation, callbacks=[tbptt.ResetStates(train)])
    model = build_model(config)
    tbptt.copy_trained(trainer, model)
    return model, history


def train_and_evaluate(config, workdir):
    run = recipe.start(NAME, config, workdir)
    train_values = data.split_arrays(config.data, "train")["value"]
    test_values = data.split_arrays(config.data, "test")["value"]
    mean, std = float(train_values.mean()), float(train_values.std())
    scale = lambda v: (v - mean) / std  # noqa: E731

    # Validation and test windows start in the part before them, so that each of their
    # steps gets a forecast; the training windows end before the validation steps.
    cut = len(train_values) - max(1, round(len(train_values) * config.validation_percent / 100))
    if cut <= config.window:
        raise ValueError(f"{config.data}: {cut} training steps before validation leave no window of {config.window}; "
                         "lower window or validation_percent")
    context = np.concatenate([train_values[-config.window :], test_values])
    fit_part = data.windows(scale(train_values[:cut]), config.window)
    train = data.batched(fit_part, config.batch_size, shuffle_seed=config.seed)
    validation = data.batched(data.windows(scale(train_values[cut - config.window :]), config.window), 256)
    test = data.batched(data.windows(scale(context), config.window), 256)

    if config.tbptt_steps:
        model, history = fit_truncated(run, config, scale(train_values[:cut]), scale(train_values[cut - config.window :]))
    else:
        model = build_model(config)
        history = run.fit(model, train, validation=validation)

    # The served model takes and returns the series' own units: the standardisation
    # with the training statistics is part of it.
    history_values = keras.Input((config.window, 1), name="history")
    standardised = keras.layers.Rescaling(1 / std, offset=-mean / std)(history_values)
    forecast = keras.layers.Rescaling(std, offset=mean, name="next_value")(model(standardised))
    serving_model = keras.Model(history_values, forecast, name="forecast")

    predictions = model.predict(test, verbose=0)[:, 0] * std + mean
    actual = test_values
    persistence = context[config.window - 1 : -1]
    metrics = {
        "mae": np.mean(np.abs(predictions - actual)),
        "rmse": np.sqrt(np.mean((predictions - actual) ** 2)),
        "persistence_mae": np.mean(np.abs(persistence - actual)),
        "persistence_rmse": np.sqrt(np.mean((persistence - actual) ** 2)),
    }
    metrics["mae_vs_persistence"] = metrics["mae"] / metrics["persistence_mae"]

    unit, first_year, years_per_step = SERIES.get(config.data, ("value", None, None))
    time = None if first_year is None else first_year + years_per_step * np.arange(len(train_values) + len(actual))
    plots.forecasts(
        os.path.join(workdir, "forecast.png"),
        f"{config.data}: one-step forecasts (test MAE {metrics['mae']:.3g}, persistence {metrics['persistence_mae']:.3g})",
        train_values, actual, {"PeepholeLSTM (exported epoch)": predictions, "persistence (x̂_{t+1} = x_t)": persistence},
        ylabel=unit, time=time,
    )
    units = {"loss": "MSE (standardised values²)", "mae": "MAE (standardised values)"}
    return run.finish(serving_model, metrics, history, plots_units=units)


def main(argv=None):
    return recipe.main(sys.modules[__name__], argv)


if __name__ == "__main__":
    raise SystemExit(main())
