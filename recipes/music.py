"""Generate Bach chorales step by step: tanh RNN, LSTM, peephole LSTM and GRU of one size, by held-out NLL.

One-to-many generation from the lecture notes, and the comparison of Chung, Gulcehre,
Cho & Bengio (2014): on the JSB Chorales their gated units beat the tanh RNN (test NLL
per time step: tanh 9.19, GRU 8.54, LSTM 8.67; their LSTM has diagonal peepholes, as
Graves 2013's). Four next-step models with about
`parameters` weights each (units chosen per cell to come closest) read the piano rolls
of `deepkit.data.chorales` (88 keys, one step per quarter note; by default each chorale
transposed to C major or C minor, `keys="c"`, as in Boulanger-Lewandowski et al.'s set,
or `keys="as_written"`) and predict every key of the next step as an independent
Bernoulli: `keras.layers.SimpleRNN` (tanh),
`PeepholeLSTM(peephole=None)` (LSTM), `PeepholeLSTM` (diagonal peepholes) and
`RelevanceGRU`. Each is scored by the negative log-likelihood per time step on the
held-out chorales (the train/test split is by piece): the sum over the 88 keys of
-log p(key on / off), in nats, averaged over every step of every test chorale, the
first included (read after a row of zeros). Each cell has its own Adam step size
(`learning_rates`, in the order of `CELLS`), falling along a cosine to 0 at the last
of `epochs` (`decay="cosine"`; raising `epochs` on a resumed run stretches the curve),
and `clipnorm` rescales the whole gradient when its global norm exceeds it (Keras'
`global_clipnorm`). Training reads windows of
`window` steps, each from a zero state (with `window=0`, whole chorales, each from its
row of zeros, batched by length); with `tbptt_steps` > 0 it reads whole chorales
instead, one per row of `batch_size` stateful rows, `tbptt_steps` steps per batch
(truncated backpropagation through time, deepkit.tbptt: the state carries from chunk to
chunk of a chorale, the gradient stops at chunk boundaries). The last
`validation_percent` of the training chorales pick each model's exported epoch (lowest
validation loss); the test chorales are only read to report. Each cell is trained
`seeds` times (seed, seed + 1, ...: initial weights and data order); the printed verdict
compares the means with the seed-to-seed spread: a difference from the tanh RNN within
the larger standard deviation is reported as not separating the two.

Writes nll.png (mean test NLL per cell, each seed's and the spread, beside Chung et
al.'s), validation_nll.png (per epoch, each cell and seed), piano_rolls.png (a held-out
chorale's opening and each model's continuation of it, the first seed's models) and
generated_<cell>.mid (the same, as MIDI). metrics.json: `nll_tanh`, `nll_lstm`,
`nll_peephole_lstm`, `nll_gru` (test NLL, nats per step, mean over the seeds),
`nll_<cell>_std` (its standard deviation over the seeds, 0 for one), `nll_<cell>_seed<k>`,
`validation_nll_<cell>` (mean) and `validation_nll_<cell>_seed<k>`,
`best_epoch_<cell>_seed<k>`, `parameters_<cell>` and `nll_marginal_baseline` (each key
on with its training frequency, history ignored).

The SavedModel is the cell with the lowest mean validation NLL, its seed with the
lowest validation NLL. `serving_default` (=
`serve`) takes `rolls`, float32 (batch, steps, 88) of 0/1 (key k is MIDI 21 + k), and
returns `next_step_probabilities`, float32 (batch, steps, 88): at position t, the
probability of each key sounding at step t + 1 (prepend a row of zeros to get the
first step's too). `generate` takes `primer`, float32 (primer_steps, 88) of 0/1 (may be
empty), `steps`, int32 and `seed`, int32, and returns `roll`, float32 (steps, 88) of
0/1: the steps sampled after the primer, the same for the same seed. With `keys="c"`
the models learnt chorales in C major / C minor: send rolls moved there
(`deepkit.data.chorales.transpose_to_c`); the generated MIDI files are in C too.
"""

import dataclasses
import os
import sys
from typing import ClassVar

import keras
import matplotlib
import matplotlib.patches
import numpy as np
import tensorflow as tf

from deepkit import data, recipe, tbptt
from deepkit.data import chorales
from deepkit.export import WithEndpoints
from deepkit.layers import PeepholeLSTM, RelevanceGRU

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

NAME = "music"
TASK = "music generation: tanh RNN vs gated units"
CELLS = ("tanh", "lstm", "peephole_lstm", "gru")
# Chung et al. 2014: JSB Chorales test NLL per time step. Their LSTM is Graves' (2013), with
# diagonal peepholes (V_i, V_f, V_o), so its figure stands beside peephole_lstm.
CHUNG_2014 = {"tanh": 9.19, "peephole_lstm": 8.67, "gru": 8.54}
PITCHES = chorales.PITCHES
KEYS = ("c", "as_written")  # Config.keys: transposed to C major / C minor (chorales.transpose_to_c), or not
DECAYS = ("cosine", "none")  # Config.decay


@dataclasses.dataclass
class Config(recipe.RecipeConfig):
    DATA_KINDS: ClassVar = ("piano_rolls",)  # what --data may name
    AFTER_TRAINING: ClassVar = ("primer_steps", "generate_steps")  # only change what is generated

    data: str = "jsb_chorales"  # piano rolls: jsb_chorales (350, offline) or jsb_chorales_20 (its first 20)
    keys: str = "c"  # "c": each chorale transposed to C major / C minor (as the JSB set); "as_written"
    parameters: int = 40_000  # weights of each model, recurrent layer and output layer (Chung et al.: ~20k)
    validation_percent: int = 10  # last % of the training chorales, held out to pick each model's epoch
    window: int = 64  # training windows of this many steps, half overlapping; 0: whole chorales (evaluation: whole)
    epochs: int = 30  # training epochs per model
    batch_size: int = 16  # training windows (window=0, tbptt_steps: chorales) per batch
    learning_rates: tuple = (1e-2, 3e-2, 3e-2, 5e-2)  # Adam step size per cell: tanh, lstm, peephole_lstm, gru
    decay: str = "cosine"  # "cosine": each step size falls along a cosine to 0 at the last epoch; "none"
    clipnorm: float = 1.0  # rescale the gradient when its global norm exceeds this (global_clipnorm); 0: never
    tbptt_steps: int = 0  # >0: truncated BPTT over whole chorales, this many steps per batch; 0: windows
    seeds: int = 2  # seeds run per cell: seed, seed + 1, ... (weights and data order); metrics are their means
    primer_steps: int = 8  # opening steps of a held-out chorale that the generated pieces continue
    generate_steps: int = 32  # steps each model generates after the primer

    def __post_init__(self):
        if self.parameters < 200:
            raise ValueError(f"parameters must be >= 200 (an 88-key output layer alone has 89 per unit), "
                             f"received {self.parameters}")
        if not 0 < self.validation_percent < 100:
            raise ValueError(f"validation_percent must lie in (0, 100), received {self.validation_percent}")
        if self.window < 2 and self.window != 0:
            raise ValueError(f"window must be 0 (whole chorales) or >= 2 steps, received {self.window}")
        if self.keys not in KEYS:
            raise ValueError(f"keys must be one of {KEYS}, received {self.keys!r}")
        if self.decay not in DECAYS:
            raise ValueError(f"decay must be one of {DECAYS}, received {self.decay!r}")
        if len(self.learning_rates) != len(CELLS) or not all(rate > 0 for rate in self.learning_rates):
            raise ValueError(f"learning_rates must be {len(CELLS)} positive step sizes, one per cell of {CELLS}, "
                             f"received {self.learning_rates!r}")
        if self.clipnorm < 0 or self.tbptt_steps < 0:
            raise ValueError(f"clipnorm and tbptt_steps must be >= 0 (0: off), received clipnorm={self.clipnorm}, "
                             f"tbptt_steps={self.tbptt_steps}")
        if self.seeds < 1:
            raise ValueError(f"seeds must be >= 1, received {self.seeds}")
        if self.primer_steps < 0 or self.generate_steps < 1:
            raise ValueError(f"primer_steps must be >= 0 and generate_steps >= 1, received "
                             f"{self.primer_steps} and {self.generate_steps}")


def smoke():
    """Seconds-long: the first 20 chorales, models of ~1,500 weights, one epoch, one seed."""
    return Config(data="jsb_chorales_20", parameters=1500, window=16, epochs=1, batch_size=32, seeds=1,
                  primer_steps=2, generate_steps=4)


# === Data ===


def pieces(name, split, keys="as_written"):
    """The chorales of ``split`` as a list of float32 rolls ``(steps, 88)``, and their
    names; with ``keys="c"`` each moved to C major or C minor (:func:`chorales.transpose_to_c`)."""
    arrays = data.split_arrays(name, split)
    rolls = [roll[:length].astype("float32") for roll, length in zip(arrays["roll"], arrays["length"])]
    if keys == "c":
        rolls = [chorales.transpose_to_c(roll) for roll in rolls]
    return rolls, [piece.decode() for piece in arrays["piece"]]


def next_step_examples(rolls):
    """``(inputs, targets)`` per piece: the model reads a row of zeros and then the piece
    up to its second-last step, and predicts every step, the first included."""
    return [(np.concatenate([np.zeros((1, PITCHES), "float32"), roll[:-1]]), roll) for roll in rolls]


def training_windows(rolls, window):
    """``(inputs, targets, step_weights)`` arrays of windows of ``window`` steps cut from
    each piece's next-step examples, starting every ``window // 2`` steps and at the
    piece's last ``window`` steps; a piece shorter than a window is one window, padded
    with weight 0.

    Truncated backpropagation through time: each window starts from a zero state, so
    the updates are many and short; only a piece's first window starts at its row of zeros.
    """
    inputs, targets, weights = [], [], []
    for piece_inputs, piece_targets in next_step_examples(rolls):
        length = len(piece_targets)
        starts = sorted(set(range(0, max(1, length - window + 1), max(1, window // 2))) | {max(0, length - window)})
        for start in starts:
            real = min(window, length - start)
            pad = ((0, window - real), (0, 0))
            inputs.append(np.pad(piece_inputs[start : start + real], pad))
            targets.append(np.pad(piece_targets[start : start + real], pad))
            weights.append(np.pad(np.ones(real, "float32"), (0, window - real)))
    return np.stack(inputs), np.stack(targets), np.stack(weights)


def chunked_pieces(rolls, batch_size, steps, seed):
    """The :class:`tbptt.Layout` of truncated BPTT over whole pieces: one piece's
    next-step examples per row, read ``steps`` steps per batch, the state carried from
    batch to batch of a group of ``batch_size`` pieces and zeroed where a group starts.

    Pieces of similar length share a group (sorted by length), so little is padding;
    the groups come in an order shuffled with ``seed``, the same every epoch (the
    carried state needs the layout fixed).
    """
    order = np.argsort([len(roll) for roll in rolls], kind="stable")
    groups = [order[first : first + batch_size] for first in range(0, len(order), batch_size)]
    groups = [groups[g] for g in np.random.default_rng(seed).permutation(len(groups))]
    examples = next_step_examples([rolls[i] for group in groups for i in group])
    return tbptt.sequence_batches([x for x, _ in examples], [y for _, y in examples], batch_size, steps)


def pipeline(rolls, batch_size, shuffle_seed=None):
    """Batches of whole pieces, ``(inputs, targets, step_weights)``: pieces of similar
    length together (``bucket_by_sequence_length``), padded to the longest of their
    batch; the padding has weight 0, so a loss is the mean over real steps."""
    examples = next_step_examples(rolls)

    def generator():
        for inputs, targets in examples:
            yield inputs, targets, np.ones(len(targets), "float32")

    signature = (tf.TensorSpec((None, PITCHES), tf.float32), tf.TensorSpec((None, PITCHES), tf.float32),
                 tf.TensorSpec((None,), tf.float32))
    dataset = tf.data.Dataset.from_generator(generator, output_signature=signature).cache()
    if shuffle_seed is not None:
        dataset = dataset.shuffle(len(examples), seed=shuffle_seed, reshuffle_each_iteration=True)
    lengths = sorted(len(roll) for roll in rolls)
    boundaries = sorted({int(lengths[int(len(lengths) * q)]) for q in (0.25, 0.5, 0.75)} - {lengths[0]})
    dataset = dataset.bucket_by_sequence_length(
        lambda inputs, targets, weights: tf.shape(inputs)[0], boundaries, [batch_size] * (len(boundaries) + 1)
    )
    # Bucketing leaves the number of batches unknown, and Keras then warns that the data
    # "ran out"; counting them once (the pieces are few and cached) tells it.
    batches = sum(1 for _ in dataset)
    return dataset.apply(tf.data.experimental.assert_cardinality(batches)).prefetch(tf.data.AUTOTUNE)


# === Models ===


@keras.saving.register_keras_serializable(package="deepkit.recipes.music")
class StepNLL(keras.losses.Loss):
    """Negative log-likelihood of each time step, in nats: the sum over the keys of the
    Bernoulli NLLs, ``-Σ_k [y_k log p_k + (1 - y_k) log(1 - p_k)]``; the mean over the
    steps that have weight (``mean_with_sample_weight``), so padding does not count.

    Keras' binary cross-entropy reads the logits under the output's sigmoid in a graph,
    so the sum is exact, not clipped, inside ``fit`` and ``evaluate``.
    """

    def __init__(self, reduction="mean_with_sample_weight", name="step_nll", **kwargs):
        super().__init__(reduction=reduction, name=name, **kwargs)

    def call(self, y_true, y_pred):
        return keras.ops.sum(keras.ops.binary_crossentropy(y_true, y_pred), axis=-1)


def recurrent_layer(cell, units):
    """The recurrent layer of ``cell`` (one of :data:`CELLS`), returning its sequence and its states."""
    options = dict(return_sequences=True, return_state=True, name=cell)
    if cell == "tanh":
        return keras.layers.SimpleRNN(units, activation="tanh", **options)
    if cell == "lstm":
        return PeepholeLSTM(units, peephole=None, **options)
    if cell == "peephole_lstm":
        return PeepholeLSTM(units, peephole="diagonal", **options)
    if cell == "gru":
        return RelevanceGRU(units, **options)
    raise ValueError(f"unknown cell {cell!r}; expected one of {CELLS}")


def parameter_count(cell, units):
    layer = recurrent_layer(cell, units)
    layer.build((None, None, PITCHES))
    return layer.count_params() + units * PITCHES + PITCHES  # + the 88-key output layer


def units_for(cell, parameters):
    """The units whose model (recurrent layer and output layer) comes closest to ``parameters`` weights."""
    low, high = 1, 2
    while parameter_count(cell, high) < parameters:
        low, high = high, high * 2
    while high - low > 1:  # the count grows with the units: bisect for the first one at or above
        middle = (low + high) // 2
        low, high = (middle, high) if parameter_count(cell, middle) < parameters else (low, middle)
    return min((low, high), key=lambda units: abs(parameter_count(cell, units) - parameters))


def optimizer_for(config, cell, total_steps=None):
    """Adam with ``cell``'s step size from ``config.learning_rates``, falling along a
    cosine to 0 over ``total_steps`` updates when ``config.decay`` is ``"cosine"`` and
    ``total_steps`` is given (constant otherwise); the gradient rescaled to norm
    ``config.clipnorm`` when its global norm exceeds it (0: never)."""
    rate = config.learning_rates[CELLS.index(cell)]
    if config.decay == "cosine" and total_steps:
        rate = keras.optimizers.schedules.CosineDecay(rate, decay_steps=total_steps)
    return keras.optimizers.Adam(rate, global_clipnorm=config.clipnorm or None)


def build_model(config, cell, units, total_steps=None):
    """``rolls (batch, steps, 88)`` → ``next_step_probabilities (batch, steps, 88)``,
    compiled with :func:`optimizer_for` (``total_steps``: the updates of the whole run)."""
    rolls = keras.Input((None, PITCHES), name="rolls")
    sequence = recurrent_layer(cell, units)(rolls)[0]
    probabilities = keras.layers.Dense(PITCHES, activation="sigmoid", name="next_step_probabilities")(sequence)
    model = keras.Model(rolls, probabilities, name=f"music_{cell}")
    model.compile(optimizer=optimizer_for(config, cell, total_steps), loss=StepNLL())
    return model


def fit_cell(run, config, cell, units, train, validation, steps_per_epoch, subdir):
    """Trains ``cell``'s model, logging under ``subdir``; returns it (holding its best
    validation epoch's weights) and what ``run.fit`` returns. ``train`` and
    ``validation`` are datasets of windows and of whole pieces, or, with
    ``config.tbptt_steps``, the :func:`chunked_pieces` layouts that a stateful copy of the
    model reads; its weights then go back to the stateless model, which is the one
    evaluated and served."""
    model = build_model(config, cell, units, steps_per_epoch * config.epochs)
    if not config.tbptt_steps:
        return model, run.fit(model, train, validation=validation, subdir=subdir)
    trainer = tbptt.stateful_copy(model, config.batch_size)
    trainer.compile(optimizer=optimizer_for(config, cell, steps_per_epoch * config.epochs), loss=StepNLL())
    record = run.fit(trainer, train.dataset, validation=validation.dataset, subdir=subdir,
                     callbacks=[tbptt.ResetStates(train, test=validation)])
    model.set_weights(trainer.get_weights())
    # model.keras then holds the trained optimizer state too (the same variables, in order).
    model.optimizer.build(model.trainable_variables)
    for mine, trained in zip(model.optimizer.variables, trainer.optimizer.variables, strict=True):
        mine.assign(trained)
    return model, record


def nll_per_step(model, rolls):
    """Mean NLL per time step (nats) over every step of ``rolls``: the sum of the per-step
    NLLs divided by the number of steps, whatever the batching."""
    return step_nll_scorer(model)(pipeline(rolls, 64))


def step_nll_scorer(model):
    """``score(batches)``: :func:`nll_per_step` of ``model`` over the :func:`pipeline` batches
    of some pieces; every call runs the one trace of the model (test and validation alike)."""
    per_step = StepNLL(reduction=None)

    # In a graph the loss reads the logits under the sigmoid: exact. One trace for every
    # batch shape (the buckets differ in length and size).
    rows = tf.TensorSpec((None, None, PITCHES), tf.float32)

    @tf.function(input_signature=[rows, rows, tf.TensorSpec((None, None), tf.float32)])
    def summed(inputs, targets, weights):
        return tf.reduce_sum(per_step(targets, model(inputs, training=False)) * weights)

    def score(batches):
        total, steps = 0.0, 0.0
        for inputs, targets, weights in batches:
            total, steps = total + float(summed(inputs, targets, weights)), steps + float(tf.reduce_sum(weights))
        return total / steps

    return score


def marginal_nll(train_rolls, test_rolls):
    """NLL per step of a model without memory: key k on with its frequency in the training rolls."""
    frequency = np.clip(np.concatenate(train_rolls).astype("float64").mean(0), 1e-6, 1 - 1e-6)
    test = np.concatenate(test_rolls).astype("float64")
    return float(-(test * np.log(frequency) + (1 - test) * np.log(1 - frequency)).sum(1).mean())


# === Generation ===


def generator_function(model):
    """``generate(primer, steps, seed) -> {"roll": (steps, 88)}``, a ``tf.function``: reads
    the primer, then samples each key of each next step from its Bernoulli and feeds the
    sampled row back, carrying the recurrent state (stateless draws: the same seed, the
    same piece)."""
    recurrent = next(layer for layer in model.layers if layer.name in CELLS)
    head = model.get_layer("next_step_probabilities")

    def generate(primer, steps, seed):
        start = tf.concat([tf.zeros((1, PITCHES)), tf.cast(primer, tf.float32)], axis=0)[None]
        sequence, *states = recurrent(start)
        probabilities = head(sequence[:, -1])

        def step(index, probabilities, states, rows):
            uniform = tf.random.stateless_uniform((1, PITCHES), seed=tf.stack([seed, index]))
            row = tf.cast(uniform < probabilities, tf.float32)
            sequence, *states = recurrent(row[:, None], initial_state=states)
            return index + 1, head(sequence[:, -1]), states, rows.write(index, row[0])

        rows = tf.TensorArray(tf.float32, size=steps, element_shape=(PITCHES,))
        _, _, _, rows = tf.while_loop(lambda index, *_: index < steps, step,
                                      (tf.constant(0), probabilities, states, rows))
        return {"roll": rows.stack()}

    return tf.function(generate, reduce_retracing=True, autograph=False)  # the loop is a tf.while_loop: nothing to convert


def serving_bundle(model):
    """The model and its ``generate`` endpoint, as ``run.finish`` saves and exports them."""
    signature = [tf.TensorSpec((None, PITCHES), tf.float32, name="primer"), tf.TensorSpec((), tf.int32, name="steps"),
                 tf.TensorSpec((), tf.int32, name="seed")]
    return WithEndpoints(model, {"generate": (generator_function(model), signature)})


# === Plots ===

def save(figure, path):
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)



def draw_piano_rolls(path, rows, primer_steps, title):
    """Piano rolls ``{label: roll (steps, 88)}`` stacked, time in beats, pitch as note names;
    the primer's steps grey, the generated (or the real continuation's) coloured."""
    used = np.nonzero(np.concatenate(list(rows.values())).any(0))[0]
    low, high = (used.min(), used.max()) if len(used) else (36 - chorales.LOWEST_MIDI, 84 - chorales.LOWEST_MIDI)
    low, high = max(0, low - 2), min(PITCHES - 1, high + 2)
    figure, axes = plt.subplots(len(rows), 1, figsize=(10, 1.9 * len(rows) + 0.6), sharex=True, squeeze=False)
    colours = {"primer": (0.55, 0.55, 0.55), "continuation": (0.12, 0.38, 0.75)}
    for axis, (label, roll) in zip(axes[:, 0], rows.items()):
        image = np.ones((PITCHES, len(roll), 3))
        for part, columns in (("primer", slice(0, primer_steps)), ("continuation", slice(primer_steps, None))):
            on = roll[columns].T > 0.5
            image[:, columns][on] = colours[part]
        axis.imshow(image[low : high + 1], origin="lower", aspect="auto", interpolation="nearest",
                    extent=(0, len(roll), low - 0.5, high + 0.5))
        axis.axvline(primer_steps, color="black", linewidth=0.8, linestyle="--")
        c_keys = [k for k in range(low, high + 1) if (k + chorales.LOWEST_MIDI) % 12 == 0]
        axis.set_yticks(c_keys, [chorales.note_name(k + chorales.LOWEST_MIDI) for k in c_keys])
        axis.set_ylabel("pitch")
        axis.set_title(label, fontsize=9, loc="left")
    axes[-1, 0].set_xlabel("time (beats: one step = one quarter note)")
    handles = [matplotlib.patches.Patch(color=colours["primer"], label="primer: the held-out chorale's opening"),
               matplotlib.patches.Patch(color=colours["continuation"], label="continuation (real or generated)")]
    inches = figure.get_figheight()  # the title on the first line, the legend under it: they never overlap
    figure.suptitle(title, x=0.01, y=1 - 0.08 / inches, ha="left", va="top", fontsize=10)
    figure.legend(handles=handles, loc="upper left", bbox_to_anchor=(0.01, 1 - 0.32 / inches), fontsize=8, ncol=2,
                  frameon=False)
    figure.tight_layout(rect=(0, 0, 1, 1 - 0.62 / inches))
    figure.savefig(path, dpi=110)
    plt.close(figure)


def draw_nll(path, metrics, config, units, seeds):
    """Points, not bars from 0: the cells differ by hundredths of a nat, the axis spans
    only the figures drawn (the no-memory baseline included)."""
    figure, axis = plt.subplots(figsize=(10, 4.2))
    positions = np.arange(len(CELLS))
    ours = np.array([metrics[f"nll_{cell}"] for cell in CELLS])
    several = len(seeds) > 1
    axis.errorbar(positions - 0.1, ours, yerr=[metrics[f"nll_{cell}_std"] for cell in CELLS] if several else None,
                  fmt="o", color="tab:blue", capsize=5,
                  label=f"this run: {config.data}, test chorales,\n"
                        + (f"mean ± std over {len(seeds)} seeds" if several else f"seed {seeds[0]}"))
    if several:
        for position, cell in zip(positions, CELLS):
            values = [metrics[f"nll_{cell}_seed{seed}"] for seed in seeds]
            axis.plot(np.full(len(values), position - 0.22), values, "x", color="tab:blue", markersize=5,
                      label="this run: one seed each" if cell == CELLS[0] else None)
    theirs = np.array([CHUNG_2014.get(cell, np.nan) for cell in CELLS])
    axis.plot(positions + 0.25, theirs, "D", color="tab:orange",  # clear of this run's value labels
              label="Chung et al. 2014, JSB Chorales test\n(their LSTM has peepholes)")
    axis.axhline(metrics["nll_marginal_baseline"], color="grey", linestyle="--",
                 label="no memory: each key with\nits training frequency")
    for x, value in [*zip(positions - 0.1, ours), *zip(positions + 0.25, theirs)]:
        if np.isfinite(value):
            axis.annotate(f"{value:.2f}", (x, value), xytext=(6, 0), textcoords="offset points", va="center",
                          fontsize=8)
    axis.set_xlim(-0.6, len(CELLS) - 0.4)
    axis.set_xticks(positions, [f"{cell}\n{units[cell]} units\n{metrics[f'parameters_{cell}']:,.0f} weights"
                                for cell in CELLS], fontsize=8)
    axis.set_ylabel("NLL per time step (nats, sum over 88 keys)")
    axis.set_title("held-out negative log-likelihood (lower is better)")
    axis.grid(axis="y", alpha=0.3)
    handles, labels = axis.get_legend_handles_labels()
    order = sorted(range(len(labels)), key=lambda i: not labels[i].startswith("this run: " + config.data))
    axis.legend([handles[i] for i in order], [labels[i] for i in order], fontsize=8, loc="upper left",
                bbox_to_anchor=(1.01, 1))
    save(figure, path)


def draw_validation_curves(path, records):
    """``records``: ``{(cell, seed): what run.fit returned}``, whose validation NLL per epoch
    is drawn, its kept epoch marked; one colour per cell, one line style per seed."""
    figure, axis = plt.subplots(figsize=(8, 3.8))
    colours = dict(zip(CELLS, plt.rcParams["axes.prop_cycle"].by_key()["color"]))
    seeds = sorted({seed for _, seed in records})
    styles = dict(zip(seeds, ["-", "--", ":", "-."] * len(seeds)))
    for (cell, seed), record in records.items():
        values, best = record.history["val_loss"], record.exported["epoch"]
        axis.plot(np.arange(1, len(values) + 1), values, styles[seed], color=colours[cell],
                  label=cell if seed == seeds[0] else None)
        axis.plot([best], [values[best - 1]], "o", color=colours[cell])
    axis.plot([], [], "o", color="black", label="kept epoch (lowest validation NLL)")
    if len(seeds) > 1:
        for seed in seeds:
            axis.plot([], [], styles[seed], color="black", label=f"seed {seed}")
    axis.set_xlabel("epoch")
    axis.set_ylabel("validation NLL per step (nats)")
    axis.set_title("validation chorales, per epoch")
    axis.legend(fontsize=8, ncol=2)
    save(figure, path)


# === The recipe ===


def training_data(config, train_rolls, seed):
    """``(train, steps_per_epoch)``: windows of ``config.window`` steps in batches shuffled
    with ``seed``; with ``window=0`` whole chorales (:func:`pipeline`, shuffled with
    ``seed``); with ``config.tbptt_steps``, the :func:`chunked_pieces` layout of whole
    chorales, its groups in an order drawn with ``seed``."""
    if config.tbptt_steps:
        train = chunked_pieces(train_rolls, config.batch_size, config.tbptt_steps, seed)
        return train, train.batches
    if not config.window:
        train = pipeline(train_rolls, config.batch_size, shuffle_seed=seed)
        return train, int(train.cardinality())
    windows = training_windows(train_rolls, config.window)
    train = data.batched(tf.data.Dataset.from_tensor_slices(windows), config.batch_size, shuffle_seed=seed)
    return train, -(-len(windows[0]) // config.batch_size)


def train_and_evaluate(config, workdir):
    run = recipe.start(NAME, config, workdir)
    training_rolls, _ = pieces(config.data, "train", config.keys)
    cut = len(training_rolls) - max(1, round(len(training_rolls) * config.validation_percent / 100))
    if cut < 1:
        raise ValueError(f"{config.data}: {len(training_rolls)} training chorales leave none to train on after "
                         f"holding out {config.validation_percent}% for validation")
    train_rolls, validation_rolls = training_rolls[:cut], training_rolls[cut:]
    test_rolls, test_names = pieces(config.data, "test", config.keys)
    # The pieces every model is scored on, batched once for them all.
    test_batches, validation_batches = pipeline(test_rolls, 64), pipeline(validation_rolls, 64)
    if config.tbptt_steps:  # validation needs no gradient: whole pieces, one chunk each
        validation = chunked_pieces(validation_rolls, config.batch_size, max(map(len, validation_rolls)), config.seed)
    else:
        validation = validation_batches

    seeds = [config.seed + k for k in range(config.seeds)]
    # The figures live in metrics alone; models and records (history, kept epoch) are what they are read from.
    metrics, units, models, records = {}, {}, {}, {}
    for cell in CELLS:
        units[cell] = units_for(cell, config.parameters)
        for seed in seeds:
            keras.utils.set_random_seed(seed)  # each seed: the same draws for every cell's weights and data order
            train, steps_per_epoch = training_data(config, train_rolls, seed)
            model, records[cell, seed] = fit_cell(run, config, cell, units[cell], train, validation,
                                                  steps_per_epoch, f"{cell}_seed{seed}")
            models[cell, seed] = model
            score = step_nll_scorer(model)
            metrics[f"nll_{cell}_seed{seed}"] = score(test_batches)
            metrics[f"validation_nll_{cell}_seed{seed}"] = score(validation_batches)
            metrics[f"best_epoch_{cell}_seed{seed}"] = records[cell, seed].exported["epoch"]
        metrics[f"parameters_{cell}"] = model.count_params()
    metrics = {**seed_summary(metrics, seeds), **metrics}  # the means first: the summary prints them first
    metrics["nll_marginal_baseline"] = marginal_nll(train_rolls, test_rolls)
    exported = min(CELLS, key=lambda cell: metrics[f"validation_nll_{cell}"])
    exported_seed = min(seeds, key=lambda seed: metrics[f"validation_nll_{exported}_seed{seed}"])

    # Every model continues the opening of the same held-out chorale, with the same seed.
    opening = test_rolls[0][: config.primer_steps]
    real = test_rolls[0][: config.primer_steps + config.generate_steps]
    rows = {f"held-out chorale {test_names[0]} (real)": real}
    for cell in CELLS:
        generated = generator_function(models[cell, seeds[0]])(opening, tf.constant(config.generate_steps),
                                                               tf.constant(config.seed))["roll"].numpy()
        piece = np.concatenate([opening, generated])
        rows[f"{cell} (seed {seeds[0]}): generated, test NLL {metrics[f'nll_{cell}_seed{seeds[0]}']:.2f}"] = piece
        chorales.roll_to_score(piece).write("midi", fp=os.path.join(run.workdir, f"generated_{cell}.mid"))
    draw_piano_rolls(os.path.join(run.workdir, "piano_rolls.png"), rows, config.primer_steps,
                     f"{config.primer_steps} steps of a held-out chorale"
                     f"{' (transposed to C major / C minor)' if config.keys == 'c' else ''}, then "
                     f"{config.generate_steps} sampled steps per model (sampling seed {config.seed})")
    draw_nll(os.path.join(run.workdir, "nll.png"), metrics, config, units, seeds)
    draw_validation_curves(os.path.join(run.workdir, "validation_nll.png"), records)
    print_comparison(metrics, units, seeds, (exported, exported_seed))
    return run.finish(serving_bundle(models[exported, exported_seed]), metrics, records[exported, exported_seed],
                      f"music, {exported} seed {exported_seed} (exported): training", {"loss": "NLL per step (nats)"})


def seed_summary(metrics, seeds):
    """Per cell, the mean over ``seeds`` of the test and validation NLLs (``nll_<cell>``,
    ``validation_nll_<cell>``) and the test NLL's standard deviation (``nll_<cell>_std``,
    0 for one seed)."""
    summary = {}
    for cell in CELLS:
        test = np.array([metrics[f"nll_{cell}_seed{seed}"] for seed in seeds])
        summary[f"nll_{cell}"] = float(test.mean())
        summary[f"nll_{cell}_std"] = float(test.std(ddof=1)) if len(seeds) > 1 else 0.0
        summary[f"validation_nll_{cell}"] = float(np.mean([metrics[f"validation_nll_{cell}_seed{seed}"]
                                                           for seed in seeds]))
    return summary


def print_comparison(metrics, units, seeds, exported):
    print(f"\ntest NLL per step (nats), mean ± std over {len(seeds)} seed{'s' if len(seeds) > 1 else ''} "
          f"({', '.join(map(str, seeds))}), each model at its best validation epoch")
    print(f"{'cell':>14}  {'units':>5}  {'weights':>7}  {'epochs':>11}  {'val NLL':>7}  {'test NLL':>15}  "
          f"{'Chung et al.':>12}")
    for cell in CELLS:
        chung = f"{CHUNG_2014[cell]:.2f}" if cell in CHUNG_2014 else "-"
        epochs = ",".join(f"{metrics[f'best_epoch_{cell}_seed{seed}']:.0f}" for seed in seeds)
        print(f"{cell:>14}  {units[cell]:5d}  {metrics[f'parameters_{cell}']:7.0f}  {epochs:>11}  "
              f"{metrics[f'validation_nll_{cell}']:7.3f}  "
              f"{metrics[f'nll_{cell}']:8.3f} ± {metrics[f'nll_{cell}_std']:.3f}  {chung:>12}")
    print(f"{'no memory':>14}  {'':5}  {'':7}  {'':11}  {'':7}  {metrics['nll_marginal_baseline']:8.3f}")
    print(ordering_verdict(metrics, seeds))
    print(f"exported: {exported[0]}, seed {exported[1]} (lowest mean validation NLL, then its best seed)")


def ordering_verdict(metrics, seeds=(0,)):
    """The claim the test NLLs carry, from the numbers: whether every gated unit's mean is
    below the tanh RNN's, as in Chung et al., and, with several seeds, whether each
    difference exceeds the seed-to-seed spread (the larger of the two standard
    deviations) and in how many seeds the gated unit is below."""
    order = sorted(CELLS, key=lambda cell: metrics[f"nll_{cell}"])
    ranking = " < ".join(f"{cell} {metrics[f'nll_{cell}']:.3f}" for cell in order)
    above = [cell for cell in CELLS if cell != "tanh" and metrics[f"nll_{cell}"] >= metrics["nll_tanh"]]
    mean = "mean " if len(seeds) > 1 else ""
    if above:
        claim = (f"ordering ({mean}test NLL per step): {ranking}: {', '.join(above)} not below the tanh RNN, "
                 "unlike Chung et al. 2014")
    else:
        claim = (f"ordering ({mean}test NLL per step): {ranking}: every gated unit below the tanh RNN, "
                 "as in Chung et al. 2014")
    if len(seeds) == 1:
        return f"{claim}. One seed has no spread: run --set seeds=3 before drawing a conclusion."
    within, counts = [], []
    for cell in CELLS[1:]:
        spread = max(metrics[f"nll_{cell}_std"], metrics["nll_tanh_std"])
        if abs(metrics["nll_tanh"] - metrics[f"nll_{cell}"]) <= spread:
            within.append(cell)
        below = sum(metrics[f"nll_{cell}_seed{seed}"] < metrics[f"nll_tanh_seed{seed}"] for seed in seeds)
        counts.append(f"{cell} {below}/{len(seeds)}")
    detail = f"seeds where each gated unit is below the tanh RNN: {', '.join(counts)}"
    if within:
        return (f"{claim}. For {', '.join(within)} the difference from tanh is within the seed-to-seed spread "
                f"(std): these seeds do not separate {'it' if len(within) == 1 else 'them'} from tanh; {detail}.")
    return f"{claim}. Every difference from tanh exceeds the seed-to-seed spread (std); {detail}."


def main(argv=None):
    return recipe.main(sys.modules[__name__], argv)


if __name__ == "__main__":
    raise SystemExit(main())
