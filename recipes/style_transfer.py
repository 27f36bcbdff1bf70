"""Neural style transfer between scikit-image's photographs and textures (Gatys et al. 2016).

`deepkit.vision.style_transfer` optimises the pixels, starting from the content
photograph, to match its feature maps in the content layers and the style image's Gram
matrices in the style layers, with a total-variation penalty. Online
(`network="vgg19"`) the features are VGG19's with its ImageNet weights (downloaded by
`keras.applications`), as in the paper. Offline (`network="random_convnet"`, the default)
there are no trained weights: the features come from a VGG-shaped convolutional network
with random weights (seeded), which Ustyuzhaninov et al. (2017) found to capture texture
well, but not the objects a trained network recognises, so content is kept as pixels and
edges rather than as things; the run prints that caveat. Nothing is trained either way.

Writes side_by_side.png (content, style and result), result.png (the result alone) and,
in place of training curves, training.png (the weighted content, style and
total-variation terms and their sum over the Adam steps on the pixels). metrics.json: `content_loss`, `style_loss`, `total_variation_loss` (the
weighted terms at the last step) and `style_loss_reduction` (the style term at the first
step over that at the last). The SavedModel is the style descriptor the transfer matched:
serve takes images (batch, H, W, 3) in [0, 1] and returns the Gram matrices of the style
layers, flattened and concatenated, (batch, sum of channels^2); model.keras is the same
model.
"""

import dataclasses
import os
import sys
from typing import ClassVar

import keras
from keras import ops

from deepkit import recipe, vision
from deepkit.data.dataset_info import DatasetInfo
from deepkit.vision import figures
from deepkit.vision.images import PHOTOGRAPHS, TEXTURES, skimage_image

NAME = "style_transfer"
TASK = "neural style transfer"
NETWORKS = {  # network: (content layers, style layers)
    "random_convnet": (("block3_conv1",), ("block1_conv1", "block2_conv1", "block3_conv1")),
    "vgg19": (("block5_conv2",), ("block1_conv1", "block2_conv1", "block3_conv1", "block4_conv1", "block5_conv1")),
}
CAVEAT = ("style_transfer: offline, no ImageNet weights: the features are those of a convolutional network with random "
          "weights (Ustyuzhaninov et al. 2017). They capture texture, not objects: the content is kept as edges and "
          "colours, not as the things a trained VGG19 recognises. Online: --set network=vgg19.")


@dataclasses.dataclass
class Config(recipe.RecipeConfig):
    GENERATED_DATA: ClassVar = DatasetInfo("skimage.data", "images", "scikit-image's bundled photographs and textures (offline)",
                                 "astronaut, chelsea, coffee (photographs); brick, grass, gravel (textures)")  # nothing from deepkit.data

    data: str = "skimage.data"  # the images come from scikit-image (see content and style)
    epochs: int = 1  # unused: nothing is trained (the pixels are optimised for `steps` steps)
    batch_size: int = 1  # unused: one image is optimised
    network: str = "random_convnet"  # random_convnet (random weights, offline) or vgg19 (ImageNet weights, online)
    content: str = "chelsea"  # content photograph: astronaut, chelsea or coffee
    style: str = "coffee"  # style image: a photograph or a texture (brick, grass, gravel)
    image_size: int = 128  # the shorter side of both images after resizing (pixels)
    content_weight: float = 1.0  # weight of the content term
    style_weight: float = 1e3  # weight of the style term
    total_variation_weight: float = 1.0  # weight of the total-variation term
    steps: int = 300  # Adam steps on the pixels
    learning_rate: float = 0.02  # Adam step size, in pixel units

    def __post_init__(self):
        if self.network not in NETWORKS:
            raise ValueError(f"network must be one of {', '.join(NETWORKS)}, received {self.network!r}")
        if self.content not in PHOTOGRAPHS:
            raise ValueError(f"content must be one of {', '.join(PHOTOGRAPHS)}, received {self.content!r}")
        if self.style not in PHOTOGRAPHS + TEXTURES:
            raise ValueError(f"style must be one of {', '.join(PHOTOGRAPHS + TEXTURES)}, received {self.style!r}")


def smoke():
    """Seconds-long: 24-pixel images, five steps."""
    return Config(image_size=24, steps=5)


def random_convnet(seed, channels=(32, 64, 128)):
    """Three VGG-shaped blocks of 3x3 ReLU convolutions with He-normal random weights, named
    like VGG19's layers; reads [0, 1] pixels centred at 0.5."""
    x = image_input = keras.Input((None, None, 3), name="image")
    x = keras.layers.Rescaling(2.0, offset=-1.0, name="centre")(x)
    for block, width in enumerate(channels, start=1):
        if block > 1:
            x = keras.layers.AveragePooling2D(2, name=f"block{block - 1}_pool")(x)
        for index in (1, 2):
            initializer = keras.initializers.HeNormal(seed=seed * 10 + block * 2 + index)
            x = keras.layers.Conv2D(width, 3, padding="same", activation="relu", kernel_initializer=initializer,
                                    name=f"block{block}_conv{index}")(x)
    return keras.Model(image_input, x, name="random_convnet")


def vgg19():
    """Keras' VGG19 with ImageNet weights (downloaded once by keras.applications)."""
    try:
        return keras.applications.VGG19(weights="imagenet", include_top=False)
    except Exception as error:  # keras.applications reports a failed download in several ways
        raise RuntimeError(f"style_transfer: could not load VGG19's ImageNet weights ({error}); offline, "
                           "use the default network=random_convnet") from error


def vgg19_preprocess(x):
    return keras.applications.vgg19.preprocess_input(x * 255.0)


def style_descriptor(network, style_layers, preprocess):
    """image -> the Gram matrices of ``style_layers``, flattened and concatenated."""
    image_input = keras.Input((None, None, 3), name="image")
    extractor = keras.Model(network.inputs[0], [network.get_layer(name).output for name in style_layers])
    maps = extractor(preprocess(image_input) if preprocess else image_input)
    grams = [ops.reshape(vision.gram_matrix(m), (-1, m.shape[-1] ** 2)) for m in maps]
    return keras.Model(image_input, ops.concatenate(grams, axis=-1), name="style_descriptor")


def train_and_evaluate(config, workdir):
    run = recipe.start(NAME, config, workdir)
    content, style = skimage_image(config.content, config.image_size), skimage_image(config.style, config.image_size)
    if config.network == "vgg19":
        print("style_transfer: VGG19 features, ImageNet weights (online)")
        network, preprocess = vgg19(), vgg19_preprocess
    else:
        print(CAVEAT)
        network, preprocess = random_convnet(config.seed), None
    content_layers, style_layers = NETWORKS[config.network]
    result = vision.style_transfer(content, style, network, content_layers, style_layers,
                                   content_weight=config.content_weight, style_weight=config.style_weight,
                                   total_variation_weight=config.total_variation_weight, steps=config.steps,
                                   learning_rate=config.learning_rate, preprocess=preprocess)

    figures.image_rows(os.path.join(run.workdir, "side_by_side.png"),
                       f"style transfer with {network.name} features ({config.steps} steps)",
                       {f"{config.image_size} px": [content, style, result.image]},
                       column_titles=[f"content: {config.content}", f"style: {config.style}", "result"], cell=3.2)
    figures.image_rows(os.path.join(run.workdir, "result.png"), f"{config.content} in the style of {config.style}",
                       {network.name: [result.image]}, cell=5.0)
    figures.loss_curves(os.path.join(run.workdir, "training.png"), "weighted loss terms over the optimisation of the pixels",
                        {name.replace("_", " "): values for name, values in result.losses.items()},
                        xlabel="Adam step", ylabel="weighted loss (log scale)")
    metrics = {
        "content_loss": result.losses["content"][-1],
        "style_loss": result.losses["style"][-1],
        "total_variation_loss": result.losses["total_variation"][-1],
        "style_loss_reduction": result.losses["style"][0] / max(result.losses["style"][-1], 1e-30),
    }
    return run.finish(style_descriptor(network, style_layers, preprocess), metrics)


def main(argv=None):
    return recipe.main(sys.modules[__name__], argv)


if __name__ == "__main__":
    raise SystemExit(main())
