"""Next-character prediction and text generation with a peephole LSTM.

Many-to-many: from each window of `seq_length` characters the model predicts the
window shifted by one character. Generation feeds the model its own samples,
drawn from softmax(logits / temperature) at each of `temperatures`: low
temperatures repeat the likeliest phrases, high ones invent words.

Writes samples.txt (the generated text per temperature, also printed) and
vocabulary.txt (the characters, one per line in id order, a newline written as \\n). metrics.json: `test_loss`,
`test_bits_per_char`, `test_accuracy` and `uniform_bits_per_char` (guessing among the
vocabulary). The SavedModel's serve maps character ids, (batch, time), to
next-character logits at every step, (batch, time, vocabulary).

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

from deepkit import data, recipe
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
    batch_size: int = 64  # windows per batch
    learning_rate: float = 3e-3  # Adam step size
    temperatures: tuple = (0.2, 0.5, 1.0)  # sampling temperatures of the generated samples
    sample_length: int = 300  # characters generated per temperature
    prompt: str = "The government said "  # text the samples start from

    def __post_init__(self):
        if not self.temperatures or min(self.temperatures) <= 0:
            raise ValueError(f"temperatures must be one or more positive numbers, received {self.temperatures!r}")


def smoke():
    """Seconds-long: short windows, eight units, one epoch, short samples."""
    return Config(seq_length=20, embedding_dim=4, units=8, epochs=1, sample_length=20)


def corpus(name, split):
    """The documents of a split, joined by newlines."""
    return "\n".join(text.decode("utf-8") for text in data.split_arrays(name, split)["text"])


def build_model(config, vocabulary_size, sampling_batch=None):
    """Embedding -> PeepholeLSTM -> Dense logits at every step. With ``sampling_batch`` the
    same network is stateful, for generating one character at a time."""
    stateful = sampling_batch is not None
    ids = keras.Input(batch_shape=(sampling_batch, None), dtype="int64", name="char_ids")
    embedded = keras.layers.Embedding(vocabulary_size, config.embedding_dim)(ids)
    hidden = PeepholeLSTM(config.units, return_sequences=True, stateful=stateful)(embedded)
    logits = keras.layers.Dense(vocabulary_size, name="next_char_logits")(hidden)
    model = keras.Model(ids, logits, name="char_sampler" if stateful else "char_model")
    if not stateful:
        model.compile(
            optimizer=keras.optimizers.Adam(config.learning_rate, clipnorm=1.0),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
        )
    return model


def generate(model, config, vocabulary):
    """One sample per temperature, all in one batch: the stateful copy of ``model`` reads the
    prompt once, then each drawn character, carrying its LSTM state from step to step."""
    sampler = build_model(config, len(vocabulary), sampling_batch=len(config.temperatures))
    sampler.set_weights(model.get_weights())
    index = {char: i for i, char in enumerate(vocabulary)}
    prompt = [index.get(char, 1) for char in config.prompt] or [1]
    temperatures = np.array(config.temperatures, "float64")[:, None]
    rng = np.random.default_rng(config.seed)
    step_input, drawn = np.array([prompt] * len(temperatures)), []
    for _ in range(config.sample_length):
        logits = np.asarray(sampler(step_input, training=False))[:, -1].astype("float64")
        logits[:, :2] = -np.inf  # never emit padding or the out-of-vocabulary token
        weights = np.exp((logits - logits.max(1, keepdims=True)) / temperatures)
        choice = [rng.choice(len(row), p=row / row.sum()) for row in weights]
        drawn.append(choice)
        step_input = np.array(choice)[:, None]
    return {
        t: config.prompt + "".join(vocabulary[i] for i in column)
        for t, column in zip(config.temperatures, np.array(drawn).T)
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

    def windows(text, seed):
        ids = vectorizer(tf.constant([text]))[0].numpy()
        return data.batched(data.char_sequences(ids, config.seq_length), config.batch_size, shuffle_seed=seed)

    train, test = windows(train_text, config.seed), windows(test_text, None)
    model = build_model(config, len(vocabulary))
    history = run.fit(model, train, validation=test)
    loss, accuracy = model.evaluate(test, verbose=0)

    samples = generate(model, config, vocabulary)
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
    return run.finish(model, metrics, history)


def main(argv=None):
    return recipe.main(sys.modules[__name__], argv)


if __name__ == "__main__":
    raise SystemExit(main())
