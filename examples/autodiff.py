"""Reverse-mode automatic differentiation, worked by hand and by the frameworks.

The function is y = ln x1 + x1 x2 - sin x2 at (x1, x2) = (2, 5), the worked example of
Baydin et al. (2018), "Automatic differentiation in machine learning: a survey". The
script prints

1. the forward primal trace: every intermediate value v_i of the evaluation;
2. the reverse adjoint trace: v̄_i = dy/dv_i, from v̄_5 = 1 back to the inputs,
   each adjoint the sum over the uses of v_i of (adjoint of the use) x (local derivative);
3. the gradient from `tf.GradientTape`, from `keras.ops` on every Keras backend that is
   installed and can differentiate (TensorFlow, JAX, PyTorch; each in its own process,
   since Keras fixes its backend at import), and from central finite differences,
   (f(x + h e_i) - f(x - h e_i)) / 2h, whose error is O(h^2).

All must agree: dy/dx1 = 1/x1 + x2 = 5.5 and dy/dx2 = x1 - cos x2 = 1.7163.

Run:  python examples/autodiff.py
"""

import importlib.util
import json
import math
import os
import subprocess
import sys
import unicodedata

X1, X2 = 2.0, 5.0
EXACT = (1.0 / X1 + X2, X1 - math.cos(X2))


def primal_and_adjoint_traces(x1, x2):
    """The two traces as lists of (name, expression, value), in the order evaluated."""
    v = {-1: x1, 0: x2}
    v[1] = math.log(v[-1])
    v[2] = v[-1] * v[0]
    v[3] = math.sin(v[0])
    v[4] = v[1] + v[2]
    v[5] = v[4] - v[3]
    primal = [
        ("v_-1", "x1", v[-1]),
        ("v_0", "x2", v[0]),
        ("v_1", "ln v_-1", v[1]),
        ("v_2", "v_-1 * v_0", v[2]),
        ("v_3", "sin v_0", v[3]),
        ("v_4", "v_1 + v_2", v[4]),
        ("v_5", "v_4 - v_3", v[5]),
        ("y", "v_5", v[5]),
    ]

    bar = {5: 1.0}
    bar[4] = bar[5] * 1.0
    bar[3] = bar[5] * -1.0
    bar[1] = bar[4] * 1.0
    bar[2] = bar[4] * 1.0
    # v_0 is used by v_3 and by v_2, v_-1 by v_2 and by v_1: their adjoints accumulate.
    bar[0] = bar[3] * math.cos(v[0])
    bar_0_from_v3 = bar[0]
    bar[-1] = bar[2] * v[0]
    bar_m1_from_v2 = bar[-1]
    bar[0] = bar[0] + bar[2] * v[-1]
    bar[-1] = bar[-1] + bar[1] / v[-1]
    adjoint = [
        ("v̄_5", "ȳ", bar[5]),
        ("v̄_4", "v̄_5 * 1", bar[4]),
        ("v̄_3", "v̄_5 * (-1)", bar[3]),
        ("v̄_1", "v̄_4 * 1", bar[1]),
        ("v̄_2", "v̄_4 * 1", bar[2]),
        ("v̄_0", "v̄_3 * cos v_0", bar_0_from_v3),
        ("v̄_-1", "v̄_2 * v_0", bar_m1_from_v2),
        ("v̄_0", "v̄_0 + v̄_2 * v_-1", bar[0]),
        ("v̄_-1", "v̄_-1 + v̄_1 / v_-1", bar[-1]),
        ("x̄_2", "v̄_0", bar[0]),
        ("x̄_1", "v̄_-1", bar[-1]),
    ]
    return primal, adjoint


def f(x1, x2):
    return math.log(x1) + x1 * x2 - math.sin(x2)


def central_differences(x1, x2, h=1e-5):
    return (
        (f(x1 + h, x2) - f(x1 - h, x2)) / (2 * h),
        (f(x1, x2 + h) - f(x1, x2 - h)) / (2 * h),
    )


def gradient_tape(x1, x2):
    import tensorflow as tf

    a = tf.Variable(x1, dtype=tf.float64)
    b = tf.Variable(x2, dtype=tf.float64)
    with tf.GradientTape() as tape:
        y = tf.math.log(a) + a * b - tf.sin(b)
    da, db = tape.gradient(y, [a, b])
    return float(da), float(db)


def keras_ops_gradient(backend, x1, x2):
    """dy/dx with y written in keras.ops and differentiated by `backend`'s own autodiff."""
    import keras
    from keras import ops

    assert keras.backend.backend() == backend, keras.backend.backend()

    def y_of(a, b):
        return ops.log(a) + a * b - ops.sin(b)

    if backend == "tensorflow":
        import tensorflow as tf

        a, b = tf.constant(x1, tf.float64), tf.constant(x2, tf.float64)
        with tf.GradientTape() as tape:
            tape.watch([a, b])
            y = y_of(a, b)
        grads = tape.gradient(y, [a, b])
    elif backend == "jax":
        import jax

        jax.config.update("jax_enable_x64", True)
        grads = jax.grad(y_of, argnums=(0, 1))(x1, x2)
    elif backend == "torch":
        import torch

        a = torch.tensor(x1, dtype=torch.float64, requires_grad=True)
        b = torch.tensor(x2, dtype=torch.float64, requires_grad=True)
        y_of(a, b).backward()
        grads = (a.grad, b.grad)
    else:
        raise ValueError(f"no autodiff for Keras backend {backend!r}")
    return tuple(float(g) for g in grads)


BACKENDS = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}


def installed_backends():
    return [name for name, module in BACKENDS.items() if importlib.util.find_spec(module)]


def keras_ops_gradient_in_child(backend):
    """Run keras_ops_gradient in a fresh interpreter whose KERAS_BACKEND is `backend`."""
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
    code = (
        "import json, sys; sys.path.insert(0, sys.argv[1]); import autodiff; "
        f"print(json.dumps(autodiff.keras_ops_gradient({backend!r}, {X1}, {X2})))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, os.path.dirname(os.path.abspath(__file__))],
        env=env, capture_output=True, text=True, check=True,
    )
    return tuple(json.loads(result.stdout.strip().splitlines()[-1]))


def padded(text, width):
    """`text` left-aligned in `width` columns; combining marks (the bar of v̄) take none."""
    shown = sum(not unicodedata.combining(character) for character in text)
    return text + " " * max(width - shown, 0)


def main():
    primal, adjoint = primal_and_adjoint_traces(X1, X2)
    print(f"y = ln x1 + x1 x2 - sin x2 at (x1, x2) = ({X1:g}, {X2:g})\n")
    print("Forward primal trace")
    for name, expression, value in primal:
        print(f"  {name:<5} = {expression:<12} = {value:8.3f}")
    print("\nReverse adjoint trace (v̄_i = dy/dv_i)")
    for name, expression, value in adjoint:
        print(f"  {padded(name, 5)} = {padded(expression, 20)} = {value:8.3f}")

    rows = [("by hand (the adjoint trace)", (adjoint[-1][2], adjoint[-2][2]))]
    rows.append(("tf.GradientTape", gradient_tape(X1, X2)))
    for backend in installed_backends():
        rows.append((f"keras.ops, {backend} backend", keras_ops_gradient_in_child(backend)))
    rows.append(("central differences, h = 1e-5", central_differences(X1, X2)))

    print("\nGradient")
    print(f"  {'method':<32} {'dy/dx1':>10} {'dy/dx2':>10}   max |error|")
    for method, (d1, d2) in rows:
        error = max(abs(d1 - EXACT[0]), abs(d2 - EXACT[1]))
        print(f"  {method:<32} {d1:10.6f} {d2:10.6f}   {error:.1e}")
    worst = max(max(abs(d1 - EXACT[0]), abs(d2 - EXACT[1])) for _, (d1, d2) in rows)
    if worst > 1e-6:
        raise SystemExit(f"the methods disagree with 1/x1 + x2 and x1 - cos x2 by {worst:.1e}")
    print(f"\nAll agree with dy/dx1 = 1/x1 + x2 = {EXACT[0]:g} and dy/dx2 = x1 - cos x2 = {EXACT[1]:.4f}.")


if __name__ == "__main__":
    main()
