"""The worked example of docs/adding_a_layer.md is a working layer on the shared bases.

It runs in a separate process: the example registers ``deepkit>MinimalGatedUnit``, which
would otherwise join this process's registry and fail the conformance test's "every
registered name is in a harness case".
"""

import pathlib
import re
import subprocess
import sys
import textwrap

ROOT = pathlib.Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "adding_a_layer.md"

CHECK = textwrap.dedent(
    """
    import sys
    import keras
    import numpy as np

    sys.path.insert(0, sys.argv[1])
    import minimal_gated_unit as mgu
    from tests.layers import numpy_reference as ref

    exec(open(sys.argv[2]).read(), vars(ref))  # the doc's NumPy step joins the reference

    B, T, D, U = 3, 6, 4, 5
    rng = np.random.default_rng(0)
    weights = [rng.normal(scale=0.5, size=s) for s in [(D, 2 * U), (U, 2 * U), (2 * U,)]]
    x = rng.normal(size=(B, T, D))
    for mask_kind in (None, "right", "left"):
        for go_backwards in (False, True):
            mask = ref.padding_mask(mask_kind, T, [T, 4, 2])
            layer = mgu.MinimalGatedUnit(U, return_sequences=True, go_backwards=go_backwards)
            layer.build((None, T, D))
            layer.set_weights([w.astype("float32") for w in weights])
            expected, _, _ = ref.minimal_gated_unit(x, weights, mask=mask, go_backwards=go_backwards)
            np.testing.assert_allclose(layer(x.astype("float32"), mask=mask), expected, rtol=1e-5, atol=1e-5)
    assert layer.execution_path().startswith("general"), layer.execution_path()
    assert [w.name for w in layer.weights] == ["kernel", "recurrent_kernel", "bias"]
    config = layer.get_config()
    assert type(layer).from_config(config).get_config() == config
    assert mgu.MinimalGatedUnit(U, dropout=0.25).dropout == 0.25
    for bad, message in (({"layer_norm": True}, "does not implement layer normalization"),
                         ({"use_cudnn": True}, "the minimal gated unit")):
        try:
            mgu.MinimalGatedUnit(U, **bad)
        except ValueError as error:
            assert message in str(error), error
        else:
            raise AssertionError(f"{bad} was accepted")
    print("ok")
    """
)


def python_blocks():
    return re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)


def test_the_worked_example_runs_and_equals_its_numpy_reference(tmp_path):
    layer_module, numpy_step = python_blocks()[:2]
    (tmp_path / "minimal_gated_unit.py").write_text(layer_module)
    (tmp_path / "numpy_step.py").write_text(numpy_step)
    result = subprocess.run(
        [sys.executable, "-c", CHECK, str(tmp_path), str(tmp_path / "numpy_step.py")],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert result.returncode == 0 and result.stdout.strip().endswith("ok"), result.stderr[-4000:]
