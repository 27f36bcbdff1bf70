"""Matplotlib figures of deepkit.vision's results: rows of images (photographs, heatmap
overlays) with a label on each row and a title on each column, and loss curves over steps.
The vision recipes draw their plots with these; grey-only grids live in deepkit.plots."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def image_rows(path, title, rows, column_titles=None, cell=1.5, boxes=None, points=None):
    """One row of images per ``rows`` item (``{row label: [image, ...]}``), grey or RGB in [0, 1].

    ``boxes`` and ``points`` (``{row label: [(top, left, bottom, right) or (y, x), ...]}``)
    draw a rectangle / a cross on the images of that row.
    """
    labels = list(rows)
    columns = max(len(images) for images in rows.values())
    first = np.asarray(next(iter(rows.values()))[0])
    height = cell * first.shape[0] / first.shape[1] + 0.3  # rows as tall as the images are, plus a title line
    figure, axes = plt.subplots(len(labels), columns, figsize=(cell * columns + 0.8, height * len(labels) + 0.5),
                                squeeze=False)
    for r, label in enumerate(labels):
        for c in range(columns):
            axis = axes[r, c]
            axis.set_xticks([])
            axis.set_yticks([])
            if c >= len(rows[label]):
                axis.axis("off")
                continue
            image = np.clip(np.asarray(rows[label][c], "float32"), 0, 1)
            image = image[..., 0] if image.ndim == 3 and image.shape[-1] == 1 else image
            axis.imshow(image, cmap="gray" if image.ndim == 2 else None, vmin=0, vmax=1)
            if boxes and label in boxes:
                top, left, bottom, right = boxes[label][c]
                axis.add_patch(matplotlib.patches.Rectangle((left - 0.5, top - 0.5), right - left, bottom - top,
                                                            fill=False, edgecolor="lime", linewidth=1.2))
            if points and label in points:
                y, x = points[label][c]
                axis.plot([x], [y], marker="x", color="white", markersize=7, markeredgewidth=2)
            if c == 0:
                axis.set_ylabel(label, fontsize=8)
            if r == 0 and column_titles:
                axis.set_title(column_titles[c], fontsize=8)
    figure.suptitle(title, fontsize=10)
    figure.tight_layout(rect=(0, 0, 1, 1 - 0.45 / figure.get_figheight()))
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def loss_curves(path, title, curves, xlabel="step", ylabel="loss", log=True):
    """``{label: values}`` over their index, on one axis (logarithmic y by default)."""
    figure, axis = plt.subplots(figsize=(7, 3.6))
    for label, values in curves.items():
        values = np.asarray(values, "float64")
        axis.plot(np.arange(1, len(values) + 1), values, label=label)
    if log:
        axis.set_yscale("log")
    axis.set_xlabel(xlabel)
    axis.set_ylabel(ylabel)
    axis.set_title(title)
    axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
