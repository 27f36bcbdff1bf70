"""The contract a recipe module keeps, and the registry that finds the recipes.

Every module of the package ``deepkit.recipes`` (the repository's ``recipes/`` folder)
is a recipe: :func:`recipe_names` lists them without importing anything, and
:func:`load_recipe` imports one and checks with :func:`check_recipe` that it defines
what the runner (:mod:`deepkit.recipe`) and the command line need, naming what is
missing. Adding a recipe is adding a module; docs/adding_a_recipe.md walks through one.
"""

import dataclasses
import importlib
import pkgutil
from typing import ClassVar

from deepkit.data.dataset_info import DatasetInfo


@dataclasses.dataclass(kw_only=True)
class RecipeConfig:
    """The fields and class variables the runner reads from every recipe's config.

    A recipe's ``Config`` is a dataclass deriving from this class. It must give
    ``data``, ``epochs`` and ``batch_size`` its own defaults (they have none here) and
    may redeclare ``seed`` and ``export_dir``; every field it adds has a default and a
    comment on its line (``deepkit run <recipe> --help`` prints those lines). Its
    ``__post_init__`` may refuse values with a ValueError that says what is wrong;
    ``epochs`` and ``batch_size`` below 1 and a negative ``seed`` are refused by
    ``deepkit.recipe.override``. ``epochs`` and ``export_dir`` may change when a run resumes.

    Class variables (override them in the recipe's ``Config``):

    - ``DATA_KINDS``: the kinds of ``deepkit.data`` datasets ``--data`` may name, e.g.
      ``("images",)`` (user ``csv:``/``npz:`` files, of kind ``table``, always pass);
      ``()``, the default, accepts every kind.
    - ``AFTER_TRAINING``: the fields that only change the evaluation after training
      (sampling temperatures, plot sizes), which may change when a run resumes; default ``()``.
    - ``GENERATED_DATA``: for a recipe that makes its own data, its ``DatasetInfo``
      (reported in metrics.json); ``config.data`` is then not looked up in
      ``deepkit.data``. Default ``None``: ``config.data`` names a ``deepkit.data`` dataset.
    """

    DATA_KINDS: ClassVar[tuple] = ()  # kinds of deepkit.data datasets --data may name; () accepts every kind
    AFTER_TRAINING: ClassVar[tuple] = ()  # fields that may change when a run resumes (besides epochs, export_dir)
    GENERATED_DATA: ClassVar[DatasetInfo | None] = None  # the DatasetInfo of data the recipe makes itself

    data: str  # the dataset: a name of deepkit.data (see deepkit.data.list_datasets())
    epochs: int  # training epochs (a finished run trains on to this many)
    batch_size: int  # examples per training batch
    seed: int = 0  # random seed
    export_dir: str = "saved_models"  # SavedModels go to <export_dir>/<recipe>/<version>/


# What a recipe module defines besides its docstring (deepkit.recipe's docstring says what each is).
RECIPE_PARTS = ("NAME", "TASK", "Config", "smoke", "train_and_evaluate")


def check_recipe(module, name=None):
    """``module`` if it keeps a recipe's contract, else a TypeError naming all it lacks: a
    docstring, the parts in ``RECIPE_PARTS`` (``smoke`` and ``train_and_evaluate``
    callable), a ``Config`` that is a dataclass deriving from :class:`RecipeConfig` with a
    default for every field, and (when ``name`` is given) ``NAME == name``."""
    problems = [f"no {part}" for part in RECIPE_PARTS if not hasattr(module, part)]
    problems += [f"{part} is not callable" for part in ("smoke", "train_and_evaluate")
                 if hasattr(module, part) and not callable(getattr(module, part))]
    if not (module.__doc__ or "").strip():
        problems.append("no module docstring (deepkit list prints its first line)")
    config = getattr(module, "Config", None)
    if config is not None:
        if not (isinstance(config, type) and issubclass(config, RecipeConfig) and dataclasses.is_dataclass(config)):
            problems.append("Config is not a dataclass deriving from deepkit.recipe.RecipeConfig")
        else:
            missing = [field.name for field in dataclasses.fields(config)
                       if field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING]
            if missing:
                problems.append(f"Config gives no default to {', '.join(missing)}")
    if name is not None and hasattr(module, "NAME") and module.NAME != name:
        problems.append(f"NAME is {module.NAME!r}, not the module's name {name!r}")
    if problems:
        raise TypeError(
            f"recipe module {module.__name__}: {'; '.join(problems)}. A recipe defines a docstring, "
            "NAME, TASK, Config (a dataclass deriving from deepkit.recipe.RecipeConfig), smoke() "
            "and train_and_evaluate(config, workdir); see docs/adding_a_recipe.md"
        )
    return module


# === The registry ===


def recipe_names():
    """The names of the recipes, sorted: every module (or package) of ``deepkit.recipes``
    whose name does not start with an underscore. Nothing is imported."""
    from deepkit import recipes

    return tuple(sorted(info.name for info in pkgutil.iter_modules(recipes.__path__) if not info.name.startswith("_")))


def load_recipe(name):
    """The module ``deepkit.recipes.<name>``, checked by :func:`check_recipe`; ValueError
    naming the recipes if there is none of that name."""
    names = recipe_names()
    if name not in names:
        raise ValueError(f"unknown recipe {name!r}; recipes: {', '.join(names)}")
    return check_recipe(importlib.import_module(f"deepkit.recipes.{name}"), name)
