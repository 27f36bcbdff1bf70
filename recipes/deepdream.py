"""Deep Dream on a scikit-image photograph: what a network's low and high layers amplify.

`deepkit.vision.deep_dream` climbs the normalised gradient of the mean squared
activations of chosen layers, over an image pyramid of `octaves` octaves with the lost
detail re-injected after each. Online (`network="inception_v3"`) the network is
Keras' InceptionV3 with its ImageNet weights (downloaded by `keras.applications`), which
dreams in colour. Offline (`network="digit_cnn"`, the default) no ImageNet weights can be
had: the recipe trains the cnn_cam recipe's fully convolutional CNN on `data` for
`epochs` epochs (keeping its best epoch on the last `validation_percent` of the
training digits) and dreams with it on the grey photograph; its middle layer (conv2)
draws a fine hatching of short strokes, its last (conv3) longer digit-like strokes. The
run says which network it used.

Writes octaves.png (the photograph and the high-layer dream after each octave),
low_vs_high.png (the photograph, the dream of the low layers and the dream of the high
layers side by side) and dream_objective.png (the objective over the steps of every
octave). metrics.json: `low_layers_gain` and `high_layers_gain` (each dream's objective
at its last step over its value at its first step), and, offline, `classifier_test_accuracy`
of the CNN it dreams with. The SavedModel is that network, as it was trained or
downloaded: serve takes images (batch, H, W, channels) in [0, 1] (offline: 1 channel,
10 digit probabilities; online: 3 channels, InceptionV3's pooled features).
"""

import dataclasses
import os
import sys
from typing import ClassVar

import keras
import tensorflow as tf

from deepkit import data, recipe, vision
from deepkit.recipes import cnn_cam
from deepkit.vision import figures
from deepkit.vision.images import PHOTOGRAPHS, skimage_image

NAME = "deepdream"
TASK = "Deep Dream (gradient ascent)"
NETWORKS = {  # network: (default low layers, default high layers)
    "digit_cnn": (("conv2",), ("conv3",)),  # conv1 mostly brightens: bias-free ReLUs grow with intensity
    "inception_v3": (("mixed0", "mixed1"), ("mixed6", "mixed7")),
}


@dataclasses.dataclass
class Config(recipe.RecipeConfig):
    DATA_KINDS: ClassVar = ("images",)  # what --data may name
    AFTER_TRAINING: ClassVar = ("photo", "image_size", "low_layers", "high_layers", "octaves", "octave_scale",
                                "steps", "step_size")  # the dreams, not the network

    network: str = "digit_cnn"  # digit_cnn (trained here, offline) or inception_v3 (ImageNet weights, online)
    data: str = "mnist_5k"  # images the digit_cnn trains on: mnist_5k (offline), digits, tfds:mnist
    filters: tuple = (32, 64, 96)  # digit_cnn: channels of its three convolutions
    epochs: int = 4  # digit_cnn: training epochs (brief: it only has to have learnt strokes)
    batch_size: int = 64  # digit_cnn: images per batch
    photo: str = "astronaut"  # scikit-image photograph: astronaut, chelsea or coffee
    image_size: int = 224  # the photograph's shorter side after resizing (pixels)
    low_layers: tuple = ()  # layers of the low dream; () = the network's: conv2 / mixed0, mixed1
    high_layers: tuple = ()  # layers of the high dream; () = the network's: conv3 / mixed6, mixed7
    octaves: int = 3  # levels of the image pyramid
    octave_scale: float = 1.4  # size ratio of successive octaves
    steps: int = 20  # gradient-ascent steps per octave
    step_size: float = 0.004  # step of the normalised gradient, in pixel units
    validation_percent: int = 10  # digit_cnn: last % of the training digits held out to pick its epoch

    def __post_init__(self):
        data.held_out_splits(self.validation_percent)
        if self.network not in NETWORKS:
            raise ValueError(f"network must be one of {', '.join(NETWORKS)}, received {self.network!r}")
        if self.photo not in PHOTOGRAPHS:
            raise ValueError(f"photo must be one of {', '.join(PHOTOGRAPHS)}, received {self.photo!r}")


def smoke():
    """Seconds-long: the 8x8 digits, one epoch, a 32-pixel photograph, two octaves of three steps."""
    return Config(data="digits", filters=(4, 8, 8), epochs=1, image_size=32, octaves=2, steps=3)


def inception_v3():
    """Keras' InceptionV3 with ImageNet weights (downloaded once by keras.applications)."""
    try:
        return keras.applications.InceptionV3(weights="imagenet", include_top=False, pooling="avg")
    except Exception as error:  # keras.applications reports a failed download in several ways
        raise RuntimeError(f"deepdream: could not load InceptionV3's ImageNet weights ({error}); offline, "
                           "use the default network=digit_cnn") from error


def inception_preprocess(x):
    """[0, 1] pixels to InceptionV3's [-1, 1]."""
    return x * 2.0 - 1.0


def digit_cnn(run, config):
    """The cnn_cam recipe's CNN, trained on ``config.data``; returns it and its test accuracy."""
    fit_split, validation_split = data.held_out_splits(config.validation_percent)
    arrays = {name: cnn_cam.images_and_labels(config.data, split)
              for name, split in (("train", fit_split), ("validation", validation_split), ("test", "test"))}
    train = data.batched(tf.data.Dataset.from_tensor_slices(arrays["train"]), config.batch_size, shuffle_seed=config.seed)
    validation = data.batched(tf.data.Dataset.from_tensor_slices(arrays["validation"]), 256)
    test = data.batched(tf.data.Dataset.from_tensor_slices(arrays["test"]), 256)
    model = cnn_cam.build_classifier(run.info.num_classes or 10, config.filters)
    history = run.fit(model, train, validation=validation)
    return model, history, model.evaluate(test, verbose=0)[1]


def train_and_evaluate(config, workdir):
    run = recipe.start(NAME, config, workdir)
    metrics = {}
    if config.network == "inception_v3":
        print("deepdream: dreaming with InceptionV3, ImageNet weights (online)")
        network, history, preprocess = inception_v3(), None, inception_preprocess
    else:
        print("deepdream: offline, no ImageNet weights: dreaming with a CNN trained here on "
              f"{config.data}, on the grey photograph (it knows strokes and digits, not objects)")
        network, history, metrics["classifier_test_accuracy"] = digit_cnn(run, config)
        preprocess = None
    image = skimage_image(config.photo, config.image_size, grey=network.inputs[0].shape[-1] == 1)
    low, high = NETWORKS[config.network]
    dreams = {}
    for label, layers in (("low", config.low_layers or low), ("high", config.high_layers or high)):
        dreams[label] = vision.deep_dream(network, image, list(layers), octaves=config.octaves,
                                          octave_scale=config.octave_scale, steps=config.steps,
                                          step_size=config.step_size, preprocess=preprocess)
        metrics[f"{label}_layers_gain"] = dreams[label].losses[-1, -1] / dreams[label].losses[0, 0]
        dreams[label] = (", ".join(layers), dreams[label])

    high_names, high_dream = dreams["high"]
    sizes = [f"octave {i + 1}: {o.shape[1]}x{o.shape[0]}" for i, o in enumerate(high_dream.octave_images)]
    figures.image_rows(os.path.join(run.workdir, "octaves.png"), f"Deep Dream of {high_names} ({network.name}), octave by octave",
                       {f"{config.photo}": [image] + high_dream.octave_images},
                       column_titles=["photograph"] + sizes, cell=2.4)
    figures.image_rows(os.path.join(run.workdir, "low_vs_high.png"), f"low vs high layers of {network.name}",
                       {config.photo: [image, dreams["low"][1].image, high_dream.image]},
                       column_titles=["photograph", f"low: {dreams['low'][0]}", f"high: {high_names}"], cell=3.2)
    figures.loss_curves(
        os.path.join(run.workdir, "dream_objective.png"), "objective over the gradient-ascent steps",
        {f"{label} ({names}), octave {o + 1}": dream.losses[o] for label, (names, dream) in dreams.items()
         for o in range(len(dream.losses))},
        xlabel="step within the octave", ylabel="sum of mean squared activations", log=False,
    )
    return run.finish(network, metrics, history)


def main(argv=None):
    return recipe.main(sys.modules[__name__], argv)


if __name__ == "__main__":
    raise SystemExit(main())
