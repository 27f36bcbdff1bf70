"""Matplotlib figures the recipes write: training curves, image grids, scatter plots, series."""

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def _save(figure, path):
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def training_curves(history, path, title="training"):
    """One panel per metric, training and validation curves together."""
    names = [k for k in history if not k.startswith("val_")]
    figure, axes = plt.subplots(1, len(names), figsize=(4 * len(names), 3.2), squeeze=False)
    for axis, name in zip(axes[0], names):
        axis.plot(range(1, len(history[name]) + 1), history[name], label="train")
        if f"val_{name}" in history:
            axis.plot(range(1, len(history[f"val_{name}"]) + 1), history[f"val_{name}"], label="validation")
        axis.set_title(name)
        axis.set_xlabel("epoch")
        axis.legend()
    figure.suptitle(title)
    return _save(figure, path)


def image_grid(images, path, title="", columns=None, row_titles=None):
    """A grid of grey images (N, H, W) or (N, H, W, 1) with values in [0, 1]."""
    images = np.asarray(images)
    images = images.reshape(images.shape[:3]) if images.ndim == 4 else images
    columns = columns or int(math.ceil(math.sqrt(len(images))))
    rows = int(math.ceil(len(images) / columns))
    figure, axes = plt.subplots(rows, columns, figsize=(1.2 * columns, 1.2 * rows + 0.4), squeeze=False)
    for index, axis in enumerate(axes.flat):
        axis.axis("off")
        if index < len(images):
            axis.imshow(images[index], cmap="gray", vmin=0.0, vmax=1.0)
    if row_titles:
        for row, text in enumerate(row_titles):
            axes[row, 0].set_title(text, fontsize=8, loc="left")
    figure.suptitle(title)
    return _save(figure, path)


def scatter_codes(codes, labels, path, title="2-D codes"):
    """Codes (N, 2) coloured by label."""
    figure, axis = plt.subplots(figsize=(5, 4.5))
    points = axis.scatter(codes[:, 0], codes[:, 1], c=labels, cmap="tab10", s=6)
    figure.colorbar(points, ax=axis, label="label")
    axis.set_title(title)
    return _save(figure, path)


def series(path, title, lines, xlabel="step"):
    """Lines given as ``{label: (x, y)}`` on one axis."""
    figure, axis = plt.subplots(figsize=(8, 3.5))
    for label, (x, y) in lines.items():
        axis.plot(x, y, label=label)
    axis.set_title(title)
    axis.set_xlabel(xlabel)
    axis.legend()
    return _save(figure, path)


def bars(path, title, values, ylabel):
    """A bar per entry of ``{label: value}``."""
    figure, axis = plt.subplots(figsize=(max(4, 1.3 * len(values)), 3.5))
    axis.bar(list(values), list(values.values()))
    axis.set_title(title)
    axis.set_ylabel(ylabel)
    return _save(figure, path)
