"""Next-character prediction and text generation with a peephole LSTM.

Many-to-many: from each window of `seq_length` characters the model predicts the
window shifted by one character. Generation feeds the model its own samples,
drawn from softmax(logits / temperature) at each of `temperatures`: low
temperatures repeat the likeliest phrases, high ones invent words.

Writes samples.txt (the generated text per temperature, also printed, made by the
same graph as the `generate` endpoint) and vocabulary.txt (the characters, one per
line in id order, a newline written as \\n). metrics.json: `test_loss` (nats per
character), `test_bits_per_char`, `test_accuracy` and `uniform_bits_per_char`
(guessing among the vocabulary), of the exported epoch (lowest validation loss).

The SavedModel serves two endpoints:

- `serving_default` (= `serve`): `char_ids`, int64 (batch, time), the ids of
  vocabulary.txt (line n is id n) -> `next_char_logits`, float32 (batch, time,
  vocabulary): the logits of the next character after each step.
- `generate`: `prompt`, string (); `num_chars`, int32 () >= 0; `temperature`,
  float32 () > 0; `seed`, int64 () -> `text`, string (): the prompt followed by
  `num_chars` characters drawn from softmax(logits / temperature), and `generated`,
  string (): those characters alone. The sampling is stateless: the same four inputs
  give the same text. A prompt character outside the vocabulary is read as the
  unknown token `[UNK]` (id 1), which the model never saw in training, so it
  conditions the continuation on nothing in particular; an empty prompt reads one
  `[UNK]`. The generated characters never include padding or `[UNK]`. A negative
  `num_chars` or a temperature <= 0 fails with InvalidArgumentError.

Truncated backpropagation through time (`tbptt_steps` > 0): the training text is read
as one stream, cut into `batch_size` rows that the model reads `tbptt_steps` characters
at a time with `stateful=True` layers (deepkit.tbptt), so each row's state carries from
one batch to the next while each gradient reaches back `tbptt_steps` characters only;
the states reset at every epoch. The validation loss that picks the exported epoch is
then the test text read the same way (state carried); `test_*` metrics are always those
of the stateless served model on `seq_length` windows from a zero state, so they compare
across the two modes. `clipnorm` rescales the whole gradient when its global norm
exceeds it (Keras' `global_clipnorm`, which keeps the gradient's direction; Keras'
`clipnorm` would clip each weight's gradient on its own and bend it).

Offline default: gensim's Lee corpus of Australian news ("lee_background",
about 360k characters).
"""

import dataclasses
import os
import sys
from typing import ClassVar

import keras
import numpy as np
import tensorflow as tf

from deepkit import best_epoch, data, recipe, tbptt
from deepkit.export import WithEndpoints
from deepkit.layers import PeepholeLSTM

NAME = "textgen"
TASK = "next-character generation"


@dataclasses.dataclass
class Config(recipe.RecipeConfig):
    DATA_KINDS: ClassVar = ("text",)  # what --data may name
    AFTER_TRAINING: ClassVar = ("temperatures", "sample_length", "prompt")  # may change when resuming

    data: str = "lee_background"  # a text corpus of deepkit.data (or text:<path>)
    seq_length: int = 80  # characters per training window
    embedding_dim: int = 32  # character vector size
    units: int = 256  # PeepholeLSTM units
    epochs: int = 20  # training epochs
    batch_size: int = 64  # windows per batch (with tbptt_steps: rows of the text read side by side)
    learning_rate: float = 3e-3  # Adam step size
    clipnorm: float = 1.0  # rescale the gradient when its global norm exceeds this (global_clipnorm); 0: never
    tbptt_steps: int = 0  # >0: truncated BPTT, batch_size stateful rows read this many characters per step; 0: windows
    temperatures: tuple = (0.2, 0.5, 1.0)  # sampling temperatures of the generated samples
    sample_length: int = 300  # characters generated per temperature
    prompt: str = "The government said "  # text the samples start from
    monitor: str = "val_loss"  # validation metric that picks the exported epoch
    monitor_mode: str = "min"  # min or max: which end of the monitor is best

    def __post_init__(self):
        if not self.temperatures or min(self.temperatures) <= 0:
            raise ValueError(f"temperatures must be one or more positive numbers, received {self.temperatures!r}")
        if self.clipnorm < 0 or self.tbptt_steps < 0:
            raise ValueError(f"clipnorm and tbptt_steps must be >= 0 (0: off), received clipnorm={self.clipnorm}, "
                             f"tbptt_steps={self.tbptt_steps}")
        best_epoch.selection(self)  # a bad monitor_mode is refused before anything runs


def smoke():
    """Seconds-long: short windows, eight units, one epoch, short samples."""
    return Config(seq_length=20, embedding_dim=4, units=8, epochs=1, sample_length=20)


def corpus(name, split):
    """The documents of a split, joined by newlines."""
    return "\n".join(text.decode("utf-8") for text in data.split_arrays(name, split)["text"])


def build_model(config, vocabulary_size):
    """Embedding -> PeepholeLSTM -> Dense logits at every step."""
    ids = keras.Input((None,), dtype="int64", name="char_ids")
    embedded = keras.layers.Embedding(vocabulary_size, config.embedding_dim, name="char_embedding")(ids)
    hidden = PeepholeLSTM(config.units, return_sequences=True, name="lstm")(embedded)
    logits = keras.layers.Dense(vocabulary_size, name="next_char_logits")(hidden)
    return compiled(keras.Model(ids, logits, name="char_model"), config)


def compiled(model, config):
    """``model`` compiled for next-character cross-entropy, with Adam and global-norm clipping."""
    model.compile(
        optimizer=keras.optimizers.Adam(config.learning_rate, global_clipnorm=config.clipnorm or None),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


def fit_truncated(run, model, config, train_ids, validation_ids):
    """Trains ``model`` by truncated BPTT (see the module docstring): a stateful copy reads
    each id stream as ``batch_size`` rows, ``tbptt_steps`` ids per batch; ``model`` then
    holds the copy's weights (of the exported epoch). Returns what ``run.fit`` returns."""
    layouts = [tbptt.stream_batches(ids[:-1], ids[1:], config.batch_size, config.tbptt_steps)
               for ids in (train_ids, validation_ids)]
    trainer = compiled(tbptt.stateful_copy(model, config.batch_size), config)
    history = run.fit(trainer, layouts[0].dataset, validation=layouts[1].dataset,
                      callbacks=[tbptt.ResetStates(*layouts)])
    tbptt.copy_trained(trainer, model)
    return history


def build_stepper(model):
    """``[char_ids (batch, time), h, c] -> [logits after the last step, h, c]``: the trained
    layers of ``model`` (its LSTM's weights copied into one that returns its state), so
    that generation reads the prompt once and then one character per step."""
    lstm = model.get_layer("lstm")
    stepping = PeepholeLSTM.from_config(
        {**lstm.get_config(), "return_sequences": False, "return_state": True, "name": "lstm_stepper"}
    )
    ids = keras.Input((None,), dtype="int64", name="char_ids")
    h = keras.Input((lstm.units,), name="h")
    c = keras.Input((lstm.units,), name="c")
    hidden, h_out, c_out = stepping(model.get_layer("char_embedding")(ids), initial_state=[h, c])
    logits = model.get_layer("next_char_logits")(hidden)
    stepper = keras.Model([ids, h, c], [logits, h_out, c_out], name="char_stepper")
    stepping.set_weights(lstm.get_weights())
    return stepper


GENERATE_SIGNATURE = [
    tf.TensorSpec((), tf.string, name="prompt"),
    tf.TensorSpec((), tf.int32, name="num_chars"),
    tf.TensorSpec((), tf.float32, name="temperature"),
    tf.TensorSpec((), tf.int64, name="seed"),
]


def build_generator(model, vocabulary):
    """The ``generate`` endpoint as a ``tf.function`` of :data:`GENERATE_SIGNATURE`, and the
    layers it uses (to track in the SavedModel). See the module docstring for its contract."""
    stepper = build_stepper(model)
    # Ids as the vectorizer gives them: 0 padding (""), 1 unknown ("[UNK]"), then the characters.
    lookup = keras.layers.StringLookup(vocabulary=list(vocabulary[2:]), mask_token="", oov_token="[UNK]",
                                       num_oov_indices=1, output_mode="int", name="char_lookup")
    lookup(tf.constant([""]))  # built, so that the SavedModel can track it
    characters = tf.constant([str(token) for token in vocabulary])
    never = tf.constant([-np.inf, -np.inf] + [0.0] * (len(vocabulary) - 2), tf.float32)  # padding, [UNK]
    units = model.get_layer("lstm").units

    @tf.function(input_signature=GENERATE_SIGNATURE)
    def generate(prompt, num_chars, temperature, seed):
        tf.debugging.assert_non_negative(num_chars, message="generate: num_chars must be >= 0")
        tf.debugging.assert_positive(temperature, message="generate: temperature must be > 0")
        ids = tf.cast(lookup(tf.strings.unicode_split(prompt, "UTF-8")), tf.int64)
        ids = tf.cond(tf.size(ids) > 0, lambda: ids, lambda: tf.constant([1], tf.int64))
        zeros = tf.zeros((1, units))
        logits, h, c = stepper([ids[None], zeros, zeros], training=False)

        def step(i, logits, h, c, drawn):
            scaled = logits / temperature + never
            choice = tf.random.stateless_categorical(scaled, 1, seed=tf.stack([seed, tf.cast(i, tf.int64)]))
            logits, h, c = stepper([choice, h, c], training=False)
            return i + 1, logits, h, c, drawn.write(i, choice[0, 0])

        drawn = tf.TensorArray(tf.int64, size=0, dynamic_size=True, element_shape=())
        *_, drawn = tf.while_loop(lambda i, *_: i < num_chars, step, [tf.constant(0), logits, h, c, drawn])
        generated = tf.strings.reduce_join(tf.gather(characters, drawn.stack()))
        return {"text": prompt + generated, "generated": generated}

    return generate, [stepper, lookup]


def generate(generator, config):
    """One sample per temperature, drawn by the ``generate`` graph (seed ``config.seed``)."""
    return {
        t: generator(tf.constant(config.prompt), tf.constant(config.sample_length, tf.int32),
                     tf.constant(t, tf.float32), tf.constant(config.seed, tf.int64))["text"].numpy().decode("utf-8")
        for t in config.temperatures
    }


def write_vocabulary(path, vocabulary):
    """One token per line in id order (the first line is empty, the padding token; the second
    is ``[UNK]``); a backslash, newline, carriage return and tab are written as \\\\, \\n, \\r and \\t."""
    escapes = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
    with open(path, "w", encoding="utf-8") as f:
        for token in vocabulary:
            f.write("".join(escapes.get(char, char) for char in str(token)) + "\n")


def train_and_evaluate(config, workdir):
    run = recipe.start(NAME, config, workdir)
    train_text, test_text = corpus(config.data, "train"), corpus(config.data, "test")
    vectorizer = data.text_vectorizer([train_text], split="character", standardize=None)
    vocabulary = vectorizer.get_vocabulary()

    train_ids, test_ids = (vectorizer(tf.constant([text]))[0].numpy() for text in (train_text, test_text))

    def windows(ids, seed):
        return data.batched(data.char_sequences(ids, config.seq_length), config.batch_size, shuffle_seed=seed)

    train, test = windows(train_ids, config.seed), windows(test_ids, None)
    model = build_model(config, len(vocabulary))
    if config.tbptt_steps:
        history = fit_truncated(run, model, config, train_ids, test_ids)
    else:
        history = run.fit(model, train, validation=test)
    loss, accuracy = model.evaluate(test, verbose=0)

    generator, used = build_generator(model, vocabulary)
    samples = generate(generator, config)
    with open(os.path.join(workdir, "samples.txt"), "w") as f:
        for temperature, text in samples.items():
            block = f"--- temperature {temperature} ---\n{text}\n"
            f.write(block + "\n")
            print(block)
    write_vocabulary(os.path.join(workdir, "vocabulary.txt"), vocabulary)
    metrics = {
        "test_loss": loss,
        "test_bits_per_char": loss / np.log(2),
        "test_accuracy": accuracy,
        "uniform_bits_per_char": np.log2(len(vocabulary)),
    }
    served = WithEndpoints(model, {"generate": (generator, GENERATE_SIGNATURE)}, track=used)
    units = {"loss": "cross-entropy (nats per character)", "accuracy": "next-character accuracy (fraction)"}
    return run.finish(served, metrics, history, plots_units=units)


def main(argv=None):
    return recipe.main(sys.modules[__name__], argv)


if __name__ == "__main__":
    raise SystemExit(main())
