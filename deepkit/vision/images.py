"""Photographs and textures for the vision recipes, from scikit-image's bundled data.

``skimage.data`` ships its images inside the package, so they load without a network:
the photographs ``astronaut``, ``chelsea`` and ``coffee`` (RGB) and the textures
``brick``, ``grass`` and ``gravel`` (grey). scikit-image is imported only when called.
"""

import numpy as np
import tensorflow as tf

PHOTOGRAPHS = ("astronaut", "chelsea", "coffee")
TEXTURES = ("brick", "grass", "gravel")
LUMINANCE = np.array([[0.299], [0.587], [0.114]], "float32")  # ITU-R BT.601 weights of R, G, B


def skimage_image(name, shorter_side, grey=False):
    """The scikit-image photograph or texture ``name``, resized (antialiased) so that its
    shorter side is ``shorter_side`` pixels: (H, W, 1) when ``grey``, else (H, W, 3) (a
    grey texture as three equal channels), float32 in [0, 1].

    Raises:
        ValueError: for a name that is not one of :data:`PHOTOGRAPHS` or :data:`TEXTURES`.
        ImportError: when scikit-image is not installed (``pip install deepkit[data]``).
    """
    if name not in PHOTOGRAPHS + TEXTURES:
        raise ValueError(f"skimage_image: expected one of {', '.join(PHOTOGRAPHS + TEXTURES)}. Received: name={name!r}")
    import skimage.data

    image = getattr(skimage.data, name)().astype("float32") / 255.0
    image = image[..., None] if image.ndim == 2 else image
    if grey and image.shape[-1] == 3:
        image = image @ LUMINANCE
    elif not grey and image.shape[-1] == 1:
        image = np.repeat(image, 3, axis=-1)
    scale = shorter_side / min(image.shape[:2])
    size = (round(image.shape[0] * scale), round(image.shape[1] * scale))
    return tf.image.resize(image, size, antialias=True).numpy().clip(0, 1)
