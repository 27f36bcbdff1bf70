"""Seeing what convolutional networks see: class activation maps, Grad-CAM, Deep Dream, style transfer.

Heatmaps of where a classifier looks (:func:`class_activation_map` for a
global-average-pooling classifier, :func:`grad_cam` for any convolutional one,
:func:`overlay` to draw them), images made by gradient ascent on a network's layers
(:func:`deep_dream`) and images with one photograph's content and another's style
(:func:`style_transfer`, with its :func:`gram_matrix`). Images are float arrays in [0, 1];
:func:`skimage_image` loads scikit-image's bundled photographs and textures.
"""

from deepkit.vision.cam import class_activation_map, grad_cam, normalize_heatmaps, overlay, weighted_feature_sum  # noqa: F401
from deepkit.vision.dream import DreamResult, deep_dream, octave_sizes  # noqa: F401
from deepkit.vision.style import StyleResult, gram_matrix, style_transfer, total_variation_loss  # noqa: F401
from deepkit.vision.images import skimage_image  # noqa: F401
