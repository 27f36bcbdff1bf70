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


def histograms(path, title, groups, xlabel, bins=20):
    """Overlaid histograms of ``{label: values}`` over a common range."""
    values = [np.asarray(v, "float64") for v in groups.values()]
    everything = np.concatenate(values) if values else np.zeros(1)
    edges = np.linspace(everything.min(), everything.max() + 1e-9, bins + 1)
    figure, axis = plt.subplots(figsize=(6, 3.5))
    for label, v in zip(groups, values):
        axis.hist(v, bins=edges, alpha=0.6, label=f"{label} ({len(v)})")
    axis.set_title(title, fontsize=9)
    axis.set_xlabel(xlabel)
    axis.set_ylabel("count")
    axis.legend()
    return _save(figure, path)


def forecasts(path, title, train, actual, predictions):
    """Two panels: the whole series with the forecasts, and the test part alone, where
    each of ``{label: values}`` (aligned with ``actual``) is drawn over the actual values."""
    steps = np.arange(len(train), len(train) + len(actual))
    figure, (whole, test) = plt.subplots(1, 2, figsize=(12, 3.6), gridspec_kw={"width_ratios": [3, 2]})
    whole.plot(np.arange(len(train)), train, color="0.6", label="training part")
    for axis in (whole, test):
        axis.plot(steps, actual, color="black", linewidth=1.6, label="actual (test part)")
        for index, (label, values) in enumerate(predictions.items()):
            axis.plot(steps, values, linestyle="-" if index == 0 else ":", label=label)
        axis.set_xlabel("step")
    whole.set_title(title, fontsize=9)
    test.set_title("test part", fontsize=9)
    whole.legend(fontsize=8)
    return _save(figure, path)
