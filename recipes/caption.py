"""Caption images with a CNN encoder and a recurrent decoder (Show and Tell): digits to their names.

A `deepkit.models.ImageCaptioner`: a small CNN reads the image, a learned bridge from its
feature grid starts a recurrent decoder cell (Vinyals et al. 2015), which emits the
caption word by word; with `attention` the decoder also attends over the CNN's grid at
every word (Show, Attend and Tell). The decoder, teacher forcing, greedy and beam search
are `deepkit.models.Seq2Seq`'s. The offline default is `deepkit.data.digit_captions`:
images of two to four real `mnist_5k` digits side by side, captioned with their names
("seven two nine"); test captions use only digit images that training never showed.
Online, a TensorFlow Datasets captioning set such as `tfds:coco_captions` (needs its
download): images resized to `image_size` squares, the first caption of each image
lower-cased without punctuation, captions with words outside the `max_vocabulary`
commonest training words or longer than `max_caption_length` skipped. The last
`validation_percent` of the training captions are held out of training: the run keeps
the epoch with the lowest loss on them.

Writes captions.png (test images with their beam-search caption and the reference),
attention.png with attention (where each word of a few test captions looked) and
samples.txt (references, greedy and beam captions of test images). metrics.json:
`exact_match_greedy`, `exact_match_beam` (fractions of test captions equal to the
reference), `digit_accuracy` (beam captions word by word at each position, over the
longer of caption and reference: on digit_captions each word is a digit) and `bleu`
(sacrebleu's corpus BLEU, 13a tokens, of the beam captions). The SavedModel's `caption`
(also `serving_default`) takes float32 images in [0, 1], input `image` (batch, height,
width, channels), and returns `{"caption": strings (batch,)}`; `caption_greedy`,
`caption_beams`, `beam_search` and `greedy_search` (ids), and `serve` (teacher-forced
logits) beside it.
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
from deepkit.data import digit_captions
from deepkit.models import ImageCaptioner
from deepkit.models.seq2seq import build_vocabulary
from deepkit.recipes.translate import corpus_bleu, decode_all  # the same searches and BLEU as translation

NAME = "caption"
TASK = "image captioning: CNN + RNN"
CELLS = ("gru", "lstm", "peephole_lstm", "relevance_gru")


@dataclasses.dataclass
class Config(recipe.RecipeConfig):
    DATA_KINDS: ClassVar = ("captioned_images",)  # what --data may name
    AFTER_TRAINING: ClassVar = ("beam_width", "length_penalty", "shown")

    data: str = "digit_captions"  # digit_captions (generated from mnist_5k, offline) or a TFDS set, e.g. tfds:coco_captions
    train_examples: int = 8000  # training captions (digit_captions: drawn from mnist_5k's training digits)
    validation_percent: int = 10  # the last % of the training captions: not trained on, they pick the kept epoch
    test_examples: int = 1000  # test captions (digit_captions: drawn from mnist_5k's held-out test digits)
    min_digits: int = 2  # fewest digits per image (digit_captions)
    max_digits: int = 4  # most digits per image (digit_captions; the image is 28 x 28*max_digits)
    image_size: int = 96  # side of the square the images of a TFDS set are resized to
    max_vocabulary: int = 3000  # most caption words kept from a TFDS set's training captions
    max_caption_length: int = 16  # longest caption in words from a TFDS set (digit_captions: max_digits)
    filters: tuple = (16, 32, 32)  # channels of the CNN's 3x3 convolutions, each followed by 2x2 max pooling
    cell: str = "gru"  # decoder cell: gru, lstm, peephole_lstm or relevance_gru
    units: int = 128  # units of the decoder cell
    attention: str = "none"  # none (Show and Tell), bahdanau or luong (Show, Attend and Tell, over the CNN grid)
    embedding_dim: int = 16  # size of the word embeddings
    epochs: int = 6  # training epochs
    batch_size: int = 64  # captioned images per batch
    learning_rate: float = 3e-3  # Adam step size (gradients clipped to norm 1)
    beam_width: int = 4  # beams of the beam search and of the exported caption endpoint
    length_penalty: float = 0.0  # GNMT alpha of the beam search's final ranking (0: log probability)
    shown: int = 12  # test images in captions.png (and, with attention, 3 of them in attention.png)
    seed: int = 0  # random seed (data and weights)

    def __post_init__(self):
        if self.data != "digit_captions" and not self.data.startswith("tfds:"):
            raise ValueError(f"caption reads 'digit_captions' (generated, offline) or a TFDS captioning set "
                             f"('tfds:coco_captions'); received {self.data!r}")
        if self.cell not in CELLS:
            raise ValueError(f"cell must be one of {', '.join(CELLS)}; received {self.cell!r}")
        if self.attention not in ("none", "bahdanau", "luong"):
            raise ValueError(f"attention must be none, bahdanau or luong; received {self.attention!r}")
        for key in ("train_examples", "test_examples", "min_digits", "max_digits", "image_size", "max_vocabulary",
                    "max_caption_length", "units", "embedding_dim", "beam_width", "shown"):
            if getattr(self, key) < 1:
                raise ValueError(f"{key} must be >= 1, received {getattr(self, key)}")
        if not 0 < self.validation_percent < 100:
            raise ValueError(f"validation_percent must be in (0, 100), received {self.validation_percent}")
        if self.min_digits > self.max_digits:
            raise ValueError(f"min_digits must be <= max_digits, received {self.min_digits} > {self.max_digits}")
        if not self.filters or min(self.filters) < 1:
            raise ValueError(f"filters must be one or more positive channel counts, received {self.filters!r}")
        if self.length_penalty < 0:
            raise ValueError(f"length_penalty must be >= 0, received {self.length_penalty}")


def smoke():
    """Seconds-long: a few hundred captions, a tiny CNN and decoder, one epoch."""
    return Config(train_examples=256, test_examples=32, filters=(4, 8), units=16, embedding_dim=8, epochs=1,
                  beam_width=2, shown=4)


# === Data ===


def clean_captions(texts):
    """In the graph: captions lower-cased, everything but letters, digits and spaces removed,
    runs of spaces collapsed."""
    texts = tf.strings.lower(texts)
    texts = tf.strings.regex_replace(texts, r"[^a-z0-9 ]", " ")
    return tf.strings.strip(tf.strings.regex_replace(texts, r" +", " "))


def tfds_examples(dataset, size, image_size):
    """``(images float32 (n, image_size, image_size, 3) in [0, 1], captions [str])`` of the
    first ``size`` elements of a TFDS captioning dataset (``{"image": uint8 (H, W, 3),
    "captions": {"text": (k,) string}, ...}``, as ``coco_captions`` gives it): each image
    resized (aspect ratio not kept) and its first caption cleaned by :func:`clean_captions`."""
    def convert(features):
        if "image" not in features or "captions" not in features or "text" not in features["captions"]:
            raise ValueError(f"caption: expected a TFDS captioning set with features 'image' and "
                             f"'captions/text' (as tfds:coco_captions). Received features: {sorted(features)}")
        image = tf.image.convert_image_dtype(features["image"], tf.float32)
        image = tf.image.resize(image, (image_size, image_size))
        if image.shape[-1] == 1:
            image = tf.image.grayscale_to_rgb(image)
        return image, clean_captions(features["captions"]["text"][0])

    images, captions = [], []
    for image, text in dataset.take(size).map(convert).as_numpy_iterator():
        images.append(image)
        captions.append(text.decode("utf-8"))
    if not images:
        raise ValueError("caption: the TFDS captioning set gave no examples")
    return np.stack(images).astype("float32"), captions


def keep_captions(images, captions, vocabulary, max_length):
    """The examples whose caption is non-empty, at most ``max_length`` words, all in ``vocabulary``."""
    known = set(vocabulary)
    keep = [i for i, c in enumerate(captions) if 0 < len(c.split()) <= max_length and set(c.split()) <= known]
    return images[keep], [captions[i] for i in keep]


def captioned_images(config):
    """``{"train": (images, captions), "test": (images, captions)}`` (images float32 in [0,
    1]), the caption vocabulary, the longest caption in words, and the DatasetInfo."""
    if config.data == "digit_captions":
        splits = {}
        for split in ("train", "test"):
            examples = digit_captions.digit_captions(split, getattr(config, f"{split}_examples"), seed=config.seed,
                                                     min_digits=config.min_digits, max_digits=config.max_digits)
            splits[split] = (examples["image"].astype("float32") / 255.0, list(examples["caption"]))
        return splits, list(digit_captions.WORDS), config.max_digits, data.info("digit_captions")
    raw = {split: tfds_examples(data.load(config.data, split), getattr(config, f"{split}_examples"),
                                config.image_size) for split in ("train", "test")}
    short = [c for c in raw["train"][1] if 0 < len(c.split()) <= config.max_caption_length]
    vocabulary = build_vocabulary(short, "words", max_size=config.max_vocabulary)
    splits = {split: keep_captions(*raw[split], vocabulary, config.max_caption_length) for split in raw}
    if not splits["train"][1] or not splits["test"][1]:
        raise ValueError(f"caption: no {config.data} caption of at most {config.max_caption_length} words within "
                         f"the {config.max_vocabulary} commonest words; raise max_caption_length or max_vocabulary")
    return splits, vocabulary, config.max_caption_length, data.info(config.data)


# === Model ===


def image_encoder(config, channels):
    """The CNN: per entry of ``filters``, a 3x3 ReLU convolution and 2x2 max pooling."""
    stack = [keras.Input((None, None, channels), name="image")]
    for i, filters in enumerate(config.filters):
        stack += [keras.layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"conv_{i}"),
                  keras.layers.MaxPooling2D(2, name=f"pool_{i}")]
    return keras.Sequential(stack, name="image_encoder")


def decoder_cell(config):
    return {"gru": keras.layers.GRUCell, "lstm": keras.layers.LSTMCell, "peephole_lstm": layers.PeepholeLSTMCell,
            "relevance_gru": layers.RelevanceGRUCell}[config.cell](config.units)


def build_model(config, image_shape, vocabulary, max_length):
    model = ImageCaptioner(
        image_encoder(config, image_shape[-1]), decoder_cell(config), vocabulary,
        attention=None if config.attention == "none" else config.attention, embedding_dim=config.embedding_dim,
        max_target_length=max_length, beam_width=config.beam_width, length_penalty=config.length_penalty,
        name="caption",
    )
    model.build(((None,) + tuple(image_shape), (None, max_length + 1)))  # before BackupAndRestore reads weights
    model.compile(optimizer=keras.optimizers.Adam(config.learning_rate, clipnorm=1.0))
    return model


# === Evaluation ===


def word_accuracy(predictions, references):
    """Mean over captions of the words right at their position, over the longer of the two."""
    scores = []
    for prediction, reference in zip(predictions, references):
        p, r = prediction.split(), reference.split()
        scores.append(sum(a == b for a, b in zip(p, r)) / max(len(p), len(r), 1))
    return float(np.mean(scores))


# === Plots ===


def _show(axis, image):
    axis.imshow(image[..., 0] if image.shape[-1] == 1 else image, cmap="gray", vmin=0.0, vmax=1.0)
    axis.set_xticks([])
    axis.set_yticks([])


def caption_grid(path, images, captions, references, title):
    """Each image above its caption (green: equal to the reference, red: not) and the reference."""
    columns = 3 if images.shape[2] > 1.5 * images.shape[1] else 4
    rows = -(-len(images) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(3.6 * columns, 2.2 * rows), squeeze=False)
    for axis, image, caption, reference in zip(axes.flat, images, captions, references):
        _show(axis, image)
        axis.set_title(f"model: {caption or '(empty)'}", fontsize=9,
                       color="tab:green" if caption == reference else "tab:red")
        axis.set_xlabel(f"reference: {reference}", fontsize=8)
    for axis in list(axes.flat)[len(images):]:
        axis.axis("off")
    figure.suptitle(title)
    figure.tight_layout(rect=(0, 0, 1, 0.95))
    figure.savefig(path, dpi=110)
    plt.close(figure)


def attention_maps(path, model, images, captions, weights, title):
    """One row per image: the image, then each word's attention over the CNN grid, upsampled
    onto it and scaled by that word's largest weight."""
    grid = model.image_encoder.compute_output_shape((None,) + model.image_shape)[1:3]
    words = max(len(c.split()) for c in captions) + 1  # and <end>
    figure, axes = plt.subplots(len(images), words + 1, figsize=(2.4 * (words + 1), 1.4 * len(images) + 0.8),
                                squeeze=False)
    height, width = images.shape[1:3]
    for row, (image, caption, weight) in zip(axes, zip(images, captions, weights)):
        _show(row[0], image)
        row[0].set_title("test image", fontsize=8)
        shown = caption.split() + ["<end>"]
        for axis, word, step in zip(row[1:], shown, weight):
            _show(axis, image)
            heat = axis.imshow(step.reshape(grid) / max(float(step.max()), 1e-12), cmap="inferno", alpha=0.6,
                               vmin=0.0, vmax=1.0, extent=(-0.5, width - 0.5, height - 0.5, -0.5))
            axis.set_title(f"'{word}'", fontsize=8)
        for axis in row[1 + len(shown):]:
            axis.axis("off")
    figure.colorbar(heat, ax=axes[:, 1:].ravel().tolist(), label="attention weight / the word's largest (0-1)")
    figure.suptitle(title)
    figure.savefig(path, dpi=110)
    plt.close(figure)


# === The recipe ===


def train_and_evaluate(config, workdir):
    splits, vocabulary, max_length, info = captioned_images(config)
    run = recipe.start(NAME, config, workdir, info=info)
    (train_images, train_captions), (test_images, test_captions) = splits["train"], splits["test"]
    model = build_model(config, train_images.shape[1:], vocabulary, max_length)

    # The kept epoch is picked on captions held out of training, never on the test captions.
    cut = len(train_captions) - max(1, len(train_captions) * config.validation_percent // 100)
    target_in, target_out = model.encode_target(train_captions)
    train = tf.data.Dataset.from_tensor_slices(((train_images[:cut], target_in[:cut]), target_out[:cut]))
    train = data.batched(train, config.batch_size, shuffle_seed=config.seed)
    validation = tf.data.Dataset.from_tensor_slices(((train_images[cut:], target_in[cut:]), target_out[cut:]))
    history = run.fit(model, train, validation=validation.batch(256))

    greedy, beam, weights = decode_all(model, test_images)
    references = np.array(test_captions, dtype=object)
    metrics = {
        "exact_match_greedy": np.mean(greedy == references),
        "exact_match_beam": np.mean(beam == references),
        "digit_accuracy": word_accuracy(beam, test_captions),
        "bleu": corpus_bleu(beam, test_captions),
    }
    with open(os.path.join(run.workdir, "samples.txt"), "w", encoding="utf-8") as f:
        f.write("reference\tgreedy\tbeam\n")
        for row in zip(test_captions[:50], greedy[:50], beam[:50]):
            f.write("\t".join(row) + "\n")
    shown = slice(0, min(config.shown, len(test_images)))
    caption_grid(os.path.join(run.workdir, "captions.png"), test_images[shown], beam[shown], test_captions[shown],
                 f"test images{' (digit images unseen in training)' if config.data == 'digit_captions' else ''}: "
                 f"beam-search caption (width {config.beam_width}), "
                 f"green = exact match")
    if weights is not None:
        few = slice(0, min(3, len(test_images)))
        attention_maps(os.path.join(run.workdir, "attention.png"), model, test_images[few], beam[few], weights[few],
                       f"{config.attention} attention over the CNN grid, per word of the beam caption")
    return run.finish(model, metrics, history, plots_units={
        "loss": "cross-entropy (nats per word)",
        "masked_token_accuracy": "words right (fraction, teacher-forced)",
    })


def main(argv=None):
    return recipe.main(sys.modules[__name__], argv)


if __name__ == "__main__":
    raise SystemExit(main())
