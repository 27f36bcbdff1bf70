"""The contract a recipe module keeps, and the registry that finds the recipes.

Every module of the package ``deepkit.recipes`` (the repository's ``recipes/`` folder)
is a recipe: :func:`recipe_names` lists them without importing anything, and
:func:`load_recipe` imports one and checks with :func:`check_recipe` that it defines
what the runner (:mod:`deepkit.recipe`) and the command line need, naming what is
missing. Adding a recipe is adding a module; docs/adding_a_recipe.md walks through one.
"""

import ast
import dataclasses
import difflib
import importlib
import inspect
import os
import pkgutil
import re
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:  # deepkit.data imports TensorFlow; the registry must not (deepkit list)
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
    GENERATED_DATA: ClassVar["DatasetInfo | None"] = None  # the DatasetInfo of data the recipe makes itself

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
    check_recipe_name(name)
    return check_recipe(importlib.import_module(f"deepkit.recipes.{name}"), name)


def check_recipe_name(name):
    """``name`` if a recipe has it, else a ValueError suggesting the closest name and listing all."""
    names = recipe_names()
    if name not in names:
        close = difflib.get_close_matches(name, names, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise ValueError(f"unknown recipe {name!r}; {hint}recipes: {', '.join(names)}")
    return name


# === Reading a recipe without importing it ===
# `deepkit list` and `deepkit run <recipe> --help` read the recipes' sources, so that
# they answer without importing Keras and TensorFlow (seconds on a loaded machine).


def recipe_source(name):
    """The source text of recipe ``name`` (its module, or its package's ``__init__.py``)."""
    from deepkit import recipes

    for folder in recipes.__path__:
        for path in (os.path.join(folder, f"{name}.py"), os.path.join(folder, name, "__init__.py")):
            if os.path.isfile(path):
                with open(path, encoding="utf-8") as f:
                    return f.read()
    raise ValueError(f"recipe {name!r}: no source file in {list(recipes.__path__)}")


def _config_class(tree):
    return next((node for node in tree.body if isinstance(node, ast.ClassDef) and node.name == "Config"), None)


def recipe_summary(name):
    """``(task, default data, first docstring line)`` of recipe ``name``, read from its
    source; ``None`` where the source does not spell one as a literal (then import it)."""
    tree = ast.parse(recipe_source(name))
    doc = (ast.get_docstring(tree) or "").strip().splitlines()
    task = next((node.value.value for node in tree.body if isinstance(node, ast.Assign)
                 and [getattr(t, "id", None) for t in node.targets] == ["TASK"]
                 and isinstance(node.value, ast.Constant)), None)
    config, data = _config_class(tree), None
    if config is not None:
        data = next((node.value.value for node in config.body if isinstance(node, ast.AnnAssign)
                     and getattr(node.target, "id", None) == "data" and isinstance(node.value, ast.Constant)), None)
    return task, data, doc[0] if doc else None


FIELD_LINE = re.compile(r"    (\w+)\s*:")  # a field of a class body, not a docstring line


def field_lines(class_source, names, lines):
    """Adds to ``lines`` (name -> line) the field lines of ``class_source`` among ``names``."""
    for line in class_source.splitlines():
        match = FIELD_LINE.match(line)
        if match and match[1] in names and match[1] not in lines:
            lines[match[1]] = "  " + line.strip()
    return lines


def config_reference_from_source(name):
    """What ``deepkit.recipe.config_reference`` gives for recipe ``name``, from its source;
    ``None`` if its ``Config`` does not derive from ``recipe.RecipeConfig`` directly."""
    source = recipe_source(name)
    config = _config_class(ast.parse(source))
    if config is None or [ast.unparse(base) for base in config.bases] != ["recipe.RecipeConfig"]:
        return None
    own = [node.target.id for node in config.body
           if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
           and not ast.unparse(node.annotation).startswith("ClassVar")]
    inherited = [field.name for field in dataclasses.fields(RecipeConfig)]
    names = own + [n for n in inherited if n not in own]
    body = "\n".join(source.splitlines()[config.lineno - 1 : config.end_lineno])  # with the last line's comment
    lines = field_lines(body, names, {})
    lines = field_lines(inspect.getsource(RecipeConfig), names, lines)
    return f"config of {name} (set with --set KEY=VALUE or --config FILE):\n" + "\n".join(lines.values())


def config_defaults_from_source(name):
    """Field name -> default of recipe ``name``'s ``Config``, read from its source: the
    value where the default is a literal, ``None`` (not checked) where it is not;
    ``None`` for the whole if ``Config`` does not derive from ``recipe.RecipeConfig`` directly."""
    config = _config_class(ast.parse(recipe_source(name)))
    if config is None or [ast.unparse(base) for base in config.bases] != ["recipe.RecipeConfig"]:
        return None
    defaults = {field.name: field.default if field.default is not dataclasses.MISSING else None
                for field in dataclasses.fields(RecipeConfig)}
    for node in config.body:
        if (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
                and not ast.unparse(node.annotation).startswith("ClassVar")):
            try:
                defaults[node.target.id] = ast.literal_eval(node.value) if node.value is not None else None
            except ValueError:  # a call or a name: its type is known only once imported
                defaults[node.target.id] = None
    return defaults


def check_arguments_from_source(name, args):
    """Refuses, before the recipe (and TensorFlow) is imported, the parsed command line's
    unknown config keys, values of the wrong type and an unreadable ``--config``, with
    the messages :func:`deepkit.recipe.config_from_arguments` gives; the rest (a value
    the recipe's ``__post_init__`` refuses) is checked once it is imported."""
    from deepkit import config_values

    values = config_values.values_from_arguments(args)
    defaults = config_defaults_from_source(name)
    if defaults is not None:
        config_values.converted(defaults, values)
