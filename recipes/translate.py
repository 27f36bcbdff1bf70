"""Translate with an attention encoder-decoder: dates written the ways people write them, to ISO 8601.

A character-level `deepkit.models.Seq2Seq`: a bidirectional recurrent encoder (`BRNN`)
and a recurrent decoder cell with Bahdanau (or Luong) attention, trained with teacher
forcing, decoded greedily and by beam search in the graph. The offline default is the
generated date task of `deepkit.data.dates` ("3rd of March 1998", "tue 03/03/98" ...
-> "1998-03-03"; test dates never appear in training); online, a TensorFlow Datasets
translation set such as `tfds:ted_hrlr_translate/pt_to_en` (its first feature the
source, the second the target; pairs longer than the length limits are skipped).

Writes attention.png (the attention weights of a few test sentences: source characters
across, output characters down) and samples.txt (test sources, references, greedy and
beam outputs). metrics.json: `exact_match_greedy`, `exact_match_beam` (fractions of test
outputs equal to the reference), `character_accuracy` (beam output, per position, over
the longer of output and reference) and `bleu` (sacrebleu's corpus BLEU, 13a tokens, of
the beam outputs). The SavedModel's `translate` (also `serving_default`) takes strings
(batch,) and returns strings (batch,); `translate_greedy`, `translate_beams`,
`beam_search` and `greedy_search` (ids), and `serve` (teacher-forced logits) beside it.
"""

import dataclasses
import os
import sys
from typing import ClassVar

import keras
import matplotlib.pyplot as plt
import numpy as np
import tensorflow as tf

from deepkit import data, layers, recipe
from deepkit.data import dates
from deepkit.models import Seq2Seq
from deepkit.models.seq2seq import build_vocabulary

NAME = "translate"
TASK = "translation: seq2seq with attention"
CELLS = ("gru", "lstm", "peephole_lstm", "relevance_gru")


@dataclasses.dataclass
class Config(recipe.RecipeConfig):
    GENERATED_DATA: ClassVar = dates.INFO  # the default; a tfds: name reports its own (train_and_evaluate)
    AFTER_TRAINING: ClassVar = ("beam_width", "length_penalty", "heatmaps")

    data: str = "dates"  # dates (generated, offline) or a TFDS translation set, e.g. tfds:ted_hrlr_translate/pt_to_en
    train_examples: int = 20000  # training pairs (dates: drawn from the training days)
    test_examples: int = 2000  # test pairs (dates: drawn from the held-out days)
    cell: str = "gru"  # encoder layer and decoder cell: gru, lstm, peephole_lstm or relevance_gru
    encoder_units: int = 64  # units of each direction of the BRNN encoder
    decoder_units: int = 128  # units of the decoder cell
    attention: str = "bahdanau"  # bahdanau, luong or none
    embedding_dim: int = 32  # size of the character embeddings
    max_source_length: int = 32  # longest source, in characters
    max_target_length: int = 12  # longest output, in characters (the end token excluded)
    epochs: int = 3  # training epochs (one already gets most test dates right)
    batch_size: int = 64  # pairs per batch
    learning_rate: float = 3e-3  # Adam step size (gradients clipped to norm 1)
    beam_width: int = 4  # beams of the beam search and of the exported translate endpoint
    length_penalty: float = 0.0  # GNMT alpha of the beam search's final ranking (0: log probability)
    heatmaps: int = 4  # test sentences in attention.png
    seed: int = 0  # random seed (data and weights)

    def __post_init__(self):
        if self.data != "dates" and not self.data.startswith("tfds:"):
            raise ValueError(f"translate reads 'dates' (generated, offline) or a TFDS translation set "
                             f"('tfds:ted_hrlr_translate/pt_to_en'); received {self.data!r}")
        if self.cell not in CELLS:
            raise ValueError(f"cell must be one of {', '.join(CELLS)}; received {self.cell!r}")
        if self.attention not in ("bahdanau", "luong", "none"):
            raise ValueError(f"attention must be bahdanau, luong or none; received {self.attention!r}")
        for key in ("train_examples", "test_examples", "encoder_units", "decoder_units", "embedding_dim",
                    "max_source_length", "max_target_length", "beam_width", "heatmaps"):
            if getattr(self, key) < 1:
                raise ValueError(f"{key} must be >= 1, received {getattr(self, key)}")
        if self.length_penalty < 0:
            raise ValueError(f"length_penalty must be >= 0, received {self.length_penalty}")


def smoke():
    """Seconds-long: a few hundred dates, tiny layers, one epoch."""
    # ISO dates are 10 characters: the decoder, which every traced function unrolls, gets
    # no more target steps than that.
    return Config(train_examples=256, test_examples=32, encoder_units=8, decoder_units=16, embedding_dim=8,
                  max_target_length=10, epochs=1, beam_width=2, heatmaps=2)


def translation_pairs(config):
    """``{"train": (sources, targets), "test": (sources, targets)}`` and the DatasetInfo."""
    if config.data == "dates":
        return {split: dates.date_pairs(split, getattr(config, f"{split}_examples"), seed=config.seed)
                for split in ("train", "test")}, dates.INFO
    pairs = {}
    for split, size in (("train", config.train_examples), ("test", config.test_examples)):
        arrays = data.split_arrays(config.data, split)
        source_key, target_key = list(arrays)[:2]
        texts = [(s.decode("utf-8").strip(), t.decode("utf-8").strip())
                 for s, t in zip(arrays[source_key], arrays[target_key])]
        texts = [(s, t) for s, t in texts
                 if 0 < len(s) <= config.max_source_length and len(t) <= config.max_target_length][:size]
        pairs[split] = ([s for s, _ in texts], [t for _, t in texts])
    return pairs, data.info(config.data)


def recurrent(config, units, cell=False, **kwargs):
    if config.cell == "gru":
        return keras.layers.GRUCell(units) if cell else keras.layers.GRU(units, **kwargs)
    if config.cell == "lstm":
        return keras.layers.LSTMCell(units) if cell else keras.layers.LSTM(units, **kwargs)
    if config.cell == "peephole_lstm":
        return layers.PeepholeLSTMCell(units) if cell else layers.PeepholeLSTM(units, **kwargs)
    return layers.RelevanceGRUCell(units) if cell else layers.RelevanceGRU(units, **kwargs)


def build_model(config, source_vocabulary, target_vocabulary):
    encoder = layers.BRNN(recurrent(config, config.encoder_units, return_sequences=True, return_state=True))
    model = Seq2Seq(
        encoder, recurrent(config, config.decoder_units, cell=True), source_vocabulary, target_vocabulary,
        attention=None if config.attention == "none" else config.attention, embedding_dim=config.embedding_dim,
        max_source_length=config.max_source_length, max_target_length=config.max_target_length,
        beam_width=config.beam_width, length_penalty=config.length_penalty, name="translate",
    )
    model.build(((None, config.max_source_length), (None, config.max_target_length + 1)))  # BackupAndRestore
    model.compile(optimizer=keras.optimizers.Adam(config.learning_rate, clipnorm=1.0))
    return model


def known_pairs(model, sources, targets):
    """The pairs whose characters are all in the model's vocabularies (an online test set
    may hold characters the training set never showed)."""
    source_set, target_set = set(model.source_vocabulary), set(model.target_vocabulary)
    keep = [i for i, (s, t) in enumerate(zip(sources, targets)) if set(s) <= source_set and set(t) <= target_set]
    return [sources[i] for i in keep], [targets[i] for i in keep]


def decode_all(model, source_ids, batch=500):
    """Greedy outputs, beam outputs and the beam search's attention weights of every source."""
    greedy, beam, weights = [], [], []
    for start in range(0, len(source_ids), batch):
        chunk = source_ids[start : start + batch]
        greedy.append(model.decode_ids(model.greedy_search(chunk)["ids"].numpy()))
        found = model.beam_search(chunk)
        beam.append(model.decode_ids(found["ids"].numpy()[:, 0]))
        if "attention" in found:
            weights.append(found["attention"].numpy()[:, 0])
    return np.concatenate(greedy), np.concatenate(beam), np.concatenate(weights) if weights else None


def character_accuracy(predictions, references):
    """Mean over pairs of the characters right at their position, over the longer of the two."""
    scores = [sum(a == b for a, b in zip(p, r)) / max(len(p), len(r), 1) for p, r in zip(predictions, references)]
    return float(np.mean(scores))


def corpus_bleu(predictions, references):
    """sacrebleu's corpus BLEU (13a tokens, 0-100) of one reference per output."""
    try:
        import sacrebleu  # imported here: `deepkit list` loads every recipe, and BLEU is only this one's
    except ImportError as error:
        raise ImportError("deepkit.data: the translate recipe scores BLEU with sacrebleu; "
                          "pip install 'deepkit[data]' (or sacrebleu)") from error
    return sacrebleu.corpus_bleu(list(predictions), [list(references)]).score


def attention_heatmaps(path, sources, outputs, weights, title):
    """One panel per sentence: the weight each output character (down) gave each source character (across)."""
    count = len(sources)
    columns = min(2, count)
    rows = -(-count // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(6.5 * columns, 3.2 * rows), squeeze=False)
    for axis, source, output, weight in zip(axes.flat, sources, outputs, weights):
        shown_out = (list(output) + ["<end>"])[: weight.shape[0]]  # no <end> row when cut at max length
        image = axis.imshow(weight[: len(shown_out), : len(source)], cmap="viridis", vmin=0.0, vmax=1.0,
                            aspect="auto")
        axis.set_xticks(range(len(source)), [c if c != " " else "␣" for c in source], fontsize=7)
        axis.set_yticks(range(len(shown_out)), shown_out, fontsize=7)
        axis.set_xlabel("source character")
        axis.set_ylabel("output character")
        axis.set_title(f"{source!r} -> {output!r}", fontsize=9)
        figure.colorbar(image, ax=axis, label="attention weight (0-1)")
    for axis in list(axes.flat)[count:]:
        axis.axis("off")
    figure.suptitle(title)
    figure.tight_layout(rect=(0, 0, 1, 0.95))
    figure.savefig(path, dpi=110)
    plt.close(figure)


def train_and_evaluate(config, workdir):
    pairs, info = translation_pairs(config)
    run = recipe.start(NAME, config, workdir, info=info)
    (train_sources, train_targets), (test_sources, test_targets) = pairs["train"], pairs["test"]
    model = build_model(config, build_vocabulary(train_sources), build_vocabulary(train_targets))
    test_sources, test_targets = known_pairs(model, test_sources, test_targets)

    source_ids = model.encode_source(train_sources)
    target_in, target_out = model.encode_target(train_targets)
    train = tf.data.Dataset.from_tensor_slices(((source_ids, target_in), target_out))
    train = data.batched(train, config.batch_size, shuffle_seed=config.seed)
    test_ids = model.encode_source(test_sources)
    test_in, test_out = model.encode_target(test_targets)
    test = tf.data.Dataset.from_tensor_slices(((test_ids, test_in), test_out)).batch(256)
    history = run.fit(model, train, validation=test)

    greedy, beam, weights = decode_all(model, test_ids)
    metrics = {
        "exact_match_greedy": np.mean(greedy == np.array(test_targets, dtype=object)),
        "exact_match_beam": np.mean(beam == np.array(test_targets, dtype=object)),
        "character_accuracy": character_accuracy(beam, test_targets),
        "bleu": corpus_bleu(beam, test_targets),
    }
    with open(os.path.join(run.workdir, "samples.txt"), "w", encoding="utf-8") as f:
        f.write("source\treference\tgreedy\tbeam\n")
        for row in zip(test_sources[:50], test_targets[:50], greedy[:50], beam[:50]):
            f.write("\t".join(row) + "\n")
    if weights is not None:
        shown = slice(0, min(config.heatmaps, len(test_sources)))
        attention_heatmaps(
            os.path.join(run.workdir, "attention.png"), test_sources[shown], beam[shown], weights[shown],
            f"{config.attention} attention of the beam search's best output, test sentences",
        )
    return run.finish(model, metrics, history, plots_units={
        "loss": "cross-entropy (nats per target character)",
        "masked_token_accuracy": "target characters right (fraction, teacher-forced)",
    })


def main(argv=None):
    return recipe.main(sys.modules[__name__], argv)


if __name__ == "__main__":
    raise SystemExit(main())
