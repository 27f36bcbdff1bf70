"""The recipe contract and the registry: every module of deepkit.recipes is a recipe that
keeps the contract, a module that does not is refused with all it lacks named, and a new
module is listed, run and tested without being registered anywhere (the worked example
of docs/adding_a_recipe.md)."""

import dataclasses
import importlib
import pathlib
import re
import sys
import types

import pytest

import deepkit.recipes
from deepkit import cli, recipe
from deepkit.recipe import RecipeConfig, check_recipe, load_recipe, recipe_names
from tests.recipes.test_recipes import check_smoke_run

GUIDE = pathlib.Path(__file__).resolve().parents[2] / "docs" / "adding_a_recipe.md"


@pytest.mark.parametrize("name", recipe_names())
def test_every_recipe_keeps_the_contract(name):
    module = load_recipe(name)
    assert module.__name__ == f"deepkit.recipes.{name}" and module.NAME == name
    assert isinstance(module.Config(), RecipeConfig) and isinstance(module.smoke(), module.Config)


def test_the_registry_lists_the_modules_of_the_recipes_folder():
    folder = pathlib.Path(__file__).resolve().parents[2] / "recipes"
    assert recipe_names() == tuple(sorted(p.stem for p in folder.glob("*.py") if not p.stem.startswith("_")))


def module_with(**parts):
    module = types.ModuleType("deepkit.recipes.broken", "A recipe that misses parts.")
    for key, value in parts.items():
        setattr(module, key, value)
    return module


@dataclasses.dataclass
class GoodConfig(RecipeConfig):
    data: str = "digits"  # a dataset
    epochs: int = 1  # epochs
    batch_size: int = 8  # batch size


def test_a_module_missing_parts_is_refused_naming_each():
    with pytest.raises(TypeError, match=r"recipe module deepkit\.recipes\.broken: no TASK; no smoke\. A recipe"):
        check_recipe(module_with(NAME="broken", Config=GoodConfig, train_and_evaluate=lambda c, w: {}))
    with pytest.raises(TypeError, match="no module docstring"):
        check_recipe(types.ModuleType("deepkit.recipes.bare"))


def test_a_config_outside_the_contract_is_refused():
    @dataclasses.dataclass
    class Plain:
        data: str = "digits"

    @dataclasses.dataclass
    class NoEpochs(RecipeConfig):
        data: str = "digits"  # a dataset

    parts = dict(NAME="broken", TASK="t", smoke=lambda: None, train_and_evaluate=lambda c, w: {})
    with pytest.raises(TypeError, match="Config is not a dataclass deriving from deepkit.recipe.RecipeConfig"):
        check_recipe(module_with(Config=Plain, **parts))
    with pytest.raises(TypeError, match="Config gives no default to epochs, batch_size"):
        check_recipe(module_with(Config=NoEpochs, **parts))
    with pytest.raises(TypeError, match="NAME is 'broken', not the module's name 'other'"):
        check_recipe(module_with(Config=GoodConfig, **parts), "other")
    assert check_recipe(module_with(Config=GoodConfig, **parts), "broken").NAME == "broken"


def test_inherited_fields_keep_their_defaults_and_are_documented():
    config = GoodConfig()
    assert (config.seed, config.export_dir) == (0, "saved_models")
    assert GoodConfig.DATA_KINDS == () and GoodConfig.AFTER_TRAINING == () and GoodConfig.GENERATED_DATA is None
    module = module_with(NAME="broken", Config=GoodConfig)
    lines = recipe.config_reference(module).splitlines()[1:]
    assert [line.split(":")[0].strip() for line in lines] == ["data", "epochs", "batch_size", "seed", "export_dir"]
    assert "  seed: int = 0  # random seed" in lines


def worked_example():
    """The recipe module of docs/adding_a_recipe.md: its first Python block."""
    return re.findall(r"```python\n(.*?)```", GUIDE.read_text(), flags=re.S)[0]


@pytest.fixture
def example_recipe(tmp_path, monkeypatch):
    """The worked example as a module of deepkit.recipes, found by the registry."""
    folder = tmp_path / "more_recipes"
    folder.mkdir()
    (folder / "digit_classifier.py").write_text(worked_example())
    monkeypatch.setattr(deepkit.recipes, "__path__", [*deepkit.recipes.__path__, str(folder)])
    importlib.invalidate_caches()
    yield "digit_classifier"
    sys.modules.pop("deepkit.recipes.digit_classifier", None)


def test_the_worked_example_in_adding_a_recipe_is_a_recipe_the_tests_cover(example_recipe, tmp_path, capsys):
    assert example_recipe in recipe_names()
    assert cli.main(["list"]) == 0
    assert re.search(r"^digit_classifier +image classification +digits +Classify", capsys.readouterr().out, re.M)
    check_smoke_run(load_recipe(example_recipe), tmp_path / "smoke")
    assert (tmp_path / "smoke" / "run" / "mistakes.png").exists()
