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


EXAMPLES = README.parent / "examples"


def test_autodiff_example_traces_the_notes_table():
    import importlib.util

    spec = importlib.util.spec_from_file_location("autodiff", EXAMPLES / "autodiff.py")
    autodiff = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(autodiff)
    primal, adjoint = autodiff.primal_and_adjoint_traces(2.0, 5.0)
    values = {name: value for name, _, value in primal}
    assert values["y"] == pytest.approx(11.652, abs=1e-3)
    assert values["v_3"] == pytest.approx(-0.959, abs=1e-3)
    adjoints = {name: value for name, _, value in adjoint}
    assert adjoints["x̄_1"] == pytest.approx(5.5)
    assert adjoints["x̄_2"] == pytest.approx(1.716, abs=1e-3)
    assert autodiff.central_differences(2.0, 5.0) == pytest.approx(autodiff.EXACT, abs=1e-8)


def test_autodiff_example_runs_and_every_method_agrees(capsys):
    import runpy

    # As `python examples/autodiff.py` (its __main__), in this process: TensorFlow is
    # already imported here; the example starts its own interpreter per Keras backend.
    runpy.run_path(str(EXAMPLES / "autodiff.py"), run_name="__main__")  # SystemExit if the methods disagree
    printed = capsys.readouterr().out
    assert "keras.ops, tensorflow backend" in printed
    assert "All agree with dy/dx1 = 1/x1 + x2 = 5.5" in printed
