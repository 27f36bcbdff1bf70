"""Matplotlib figures the recipes write: training curves, image grids, scatter plots, series."""

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def _save(figure, path, top=1.0):
    figure.tight_layout(rect=(0, 0, 1, top))  # top < 1 keeps room for a suptitle
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
    return _save(figure, path, top=1 - 0.35 / figure.get_figheight())


def scatter_codes(codes, labels, path, title="2-D codes"):
    """Codes (N, 2) coloured by label; ``codes`` may be ``{panel title: codes}`` for side-by-side panels."""
    panels = codes if isinstance(codes, dict) else {title: codes}
    figure, axes = plt.subplots(1, len(panels), figsize=(4.3 * len(panels) + 0.8, 4.2), squeeze=False)
    for axis, (panel, points) in zip(axes[0], panels.items()):
        scattered = axis.scatter(points[:, 0], points[:, 1], c=labels, cmap="tab10", vmin=-0.5, vmax=9.5, s=6)
        axis.set_title(panel if len(panels) > 1 else title, fontsize=10)
    figure.colorbar(scattered, ax=list(axes[0]), label="label", ticks=range(10))
    if len(panels) > 1:
        figure.suptitle(title)
    figure.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(figure)
    return path


def series(path, title, lines, xlabel="step", log=False):
    """Lines given as ``{label: (x, y)}`` on one axis (``log``: logarithmic y axis)."""
    figure, axis = plt.subplots(figsize=(8, 3.5))
    for label, (x, y) in lines.items():
        axis.plot(x, y, label=label)
    if log:
        axis.set_yscale("log")
    axis.set_title(title)
    axis.set_xlabel(xlabel)
    axis.legend()
    return _save(figure, path)


def bar_panels(path, title, panels):
    """One panel of bars per ``{panel title: {bar label: value}}``, each bar labelled with its value."""
    figure, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.8), squeeze=False)
    for axis, (panel, values) in zip(axes[0], panels.items()):
        bars = axis.bar(range(len(values)), list(values.values()), color=[f"C{i % 2}" for i in range(len(values))])
        axis.bar_label(bars, fmt="%.3g", fontsize=8)
        axis.set_xticks(range(len(values)), [label.replace(" ", "\n", 1) for label in values], fontsize=8)
        axis.set_title(panel, fontsize=9)
        axis.margins(y=0.15)
    figure.suptitle(title)
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
