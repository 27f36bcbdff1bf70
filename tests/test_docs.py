"""The examples in README.md and in the public docstrings run and print what they claim."""

import doctest
import pathlib
import re

import keras
import numpy as np
import pytest

import deepkit

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def readme_python_blocks():
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


@pytest.mark.parametrize("block", readme_python_blocks())
def test_readme_example_runs(block):
    exec(compile(block, "README.md", "exec"), {})


PUBLIC_PACKAGES = ("layers", "losses", "models", "data")


def public_objects():
    for package in PUBLIC_PACKAGES:
        module = getattr(deepkit, package, None)
        if module is None:
            continue
        for name in getattr(module, "__all__", []):
            yield f"{module.__name__}.{name}", getattr(module, name)


@pytest.mark.parametrize("name, obj", list(public_objects()), ids=lambda v: v if isinstance(v, str) else "")
def test_docstring_examples(name, obj):
    globs = {"np": np, "keras": keras, "deepkit": deepkit}
    for package in PUBLIC_PACKAGES:
        module = getattr(deepkit, package, None)
        globs.update({n: getattr(module, n) for n in getattr(module, "__all__", [])})
    finder = doctest.DocTestFinder(recurse=False)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in finder.find(obj, name, globs=globs):
        runner.run(test)
    assert runner.failures == 0, f"{name}: {runner.failures} docstring example(s) failed"
