"""Ready-made recipes: each trains, evaluates, plots and exports a model for a task of the seeds.

Run one with ``deepkit run <name>`` or ``python -m recipes.<name>``; list them with
``deepkit list``.
"""

import importlib

RECIPES = ("sentiment", "textgen", "forecast", "timing", "autoencoder", "vae", "gan")


def load_recipe(name):
    """The module of recipe ``name``; ValueError naming the recipes if unknown."""
    if name not in RECIPES:
        raise ValueError(f"unknown recipe {name!r}; recipes: {', '.join(RECIPES)}")
    return importlib.import_module(f"recipes.{name}")
