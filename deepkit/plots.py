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


# y-axis labels of the metrics Keras logs under these names, when a recipe gives none.
METRIC_LABELS = {
    "loss": "training loss",
    "accuracy": "accuracy (fraction correct)",
    "mae": "mean absolute error",
    "mse": "mean squared error",
}


def training_curves(history, path, title="training", units=None, exported=None):
    """One panel per logged metric, the loss first: its training and validation curves
    against the epoch, and a dotted line at the epoch whose weights were kept.

    Args:
        history: ``{name: [value per epoch]}``; ``val_<name>`` is drawn in ``<name>``'s panel.
        path: The PNG to write.
        title: The figure's title.
        units: ``{name: y-axis label}`` (with the unit, e.g. ``"cross-entropy (nats per
            character)"``); names not given get ``METRIC_LABELS``' label or their own name.
        exported: The ``{"epoch", "monitor", ...}`` of the kept epoch (a
            :class:`deepkit.recipe.TrainingRecord`'s ``exported``), or None.
    """
    units = {**METRIC_LABELS, **(units or {})}
    names = [k for k in history if not k.startswith("val_")]
    names = sorted(names, key=lambda name: (name != "loss", names.index(name)))  # loss first, then as logged
    figure, axes = plt.subplots(1, len(names), figsize=(max(4 * len(names), 8), 3.7), squeeze=False)
    for axis, name in zip(axes[0], names):
        epochs = range(1, len(history[name]) + 1)
        axis.plot(epochs, history[name], color="C0", marker="." if len(history[name]) < 3 else None,
                  label="training batches (mean over the epoch)")
        if f"val_{name}" in history:
            axis.plot(range(1, len(history[f"val_{name}"]) + 1), history[f"val_{name}"], color="C1",
                      marker="." if len(history[name]) < 3 else None, label="validation data (end of epoch)")
        if exported and exported.get("value") is not None:
            axis.axvline(exported["epoch"], color="0.3", linestyle=":",
                         label=f"kept: epoch {exported['epoch']} (best {exported['monitor']})")
        axis.set_title(name)
        axis.set_xlabel("epoch")
        axis.set_ylabel(units.get(name, name))
        axis.xaxis.get_major_locator().set_params(integer=True)
    # One legend for all panels, below them, where it hides no curve.
    handles, labels = axes[0][0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=8, frameon=False)
    figure.suptitle(title)
    figure.tight_layout(rect=(0, 0.09, 1, 1))
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


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


def scatter_codes(codes, labels, path, title="2-D codes", axis_labels=("code 1", "code 2"), colour_label="label"):
    """Codes (N, 2) coloured by label; ``codes`` may be ``{panel title: codes}`` for side-by-side panels.

    Args:
        axis_labels: The x and y axis labels (the two code units).
        colour_label: What the colours stand for (the colour bar's label).
    """
    panels = codes if isinstance(codes, dict) else {title: codes}
    figure, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels) + 0.8, 4.2), squeeze=False)
    figure.subplots_adjust(wspace=0.32)  # room for each panel's y label
    for axis, (panel, points) in zip(axes[0], panels.items()):
        scattered = axis.scatter(points[:, 0], points[:, 1], c=labels, cmap="tab10", vmin=-0.5, vmax=9.5, s=6)
        axis.set_title(panel if len(panels) > 1 else title, fontsize=10)
        axis.set_xlabel(axis_labels[0])
        axis.set_ylabel(axis_labels[1])
    figure.colorbar(scattered, ax=list(axes[0]), label=colour_label, ticks=range(10))
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


def histograms(path, title, groups, xlabel, bins=20, ylabel="count", threshold=None):
    """Overlaid histograms of ``{label: values}`` over a common range; the legend gives
    each group's size, and ``threshold`` (if given) is drawn as a dashed line."""
    values = [np.asarray(v, "float64") for v in groups.values()]
    everything = np.concatenate(values) if values else np.zeros(1)
    edges = np.linspace(everything.min(), everything.max() + 1e-9, bins + 1)
    figure, axis = plt.subplots(figsize=(6, 3.5))
    for label, v in zip(groups, values):
        axis.hist(v, bins=edges, alpha=0.6, label=f"{label} ({len(v)})")
    if threshold is not None:
        axis.axvline(threshold, color="black", linestyle="--", linewidth=1, label=f"decision threshold {threshold:g}")
    axis.set_title(title, fontsize=9)
    axis.set_xlabel(xlabel)
    axis.set_ylabel(ylabel)
    axis.legend(fontsize=8)
    return _save(figure, path)


def forecasts(path, title, train, actual, predictions, ylabel="value", time=None):
    """Two panels: the whole series with the forecasts, and the test part alone, where
    each of ``{label: values}`` (aligned with ``actual``) is drawn over the actual values.

    Args:
        ylabel: The series' unit, e.g. ``"yearly mean sunspot number"``.
        time: The x position (e.g. the year) of every step of ``train`` then ``actual``;
            None: the step number.
    """
    steps = np.arange(len(train) + len(actual)) if time is None else np.asarray(time)
    before, after = steps[: len(train)], steps[len(train) :]
    figure, (whole, test) = plt.subplots(1, 2, figsize=(12, 3.8), gridspec_kw={"width_ratios": [3, 2]})
    whole.plot(before, train, color="0.6", label="training part (actual)")
    for axis in (whole, test):
        axis.plot(after, actual, color="black", linewidth=1.6, label="test part (actual)")
        for index, (label, values) in enumerate(predictions.items()):
            axis.plot(after, values, color=f"C{index}", linestyle="-" if index == 0 else ":", label=label)
        axis.set_xlabel("step" if time is None else "year")
        axis.set_ylabel(ylabel)
    whole.set_title(title, fontsize=9)
    test.set_title("test part", fontsize=9)
    whole.legend(fontsize=8)
    return _save(figure, path)
