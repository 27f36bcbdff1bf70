"""Every private TensorFlow name the fused path relies on exists and answers as expected.

``deepkit.layers.fused.tf_private`` falls back to conservative stand-ins when one
is missing (a slower loop shape, no windowed weight gradients); these tests make
such a fallback on the supported TensorFlow a failure instead of a silent slowdown.
"""

import numpy as np
import tensorflow as tf

from deepkit.layers.fused import tf_private


def test_every_private_tensorflow_import_is_found():
    missing = sorted(name for name, found in tf_private.FOUND.items() if not found)
    assert not missing, f"private TensorFlow names missing in TensorFlow {tf.__version__}: {missing}"


def test_the_record_of_imports_names_all_four_private_names():
    assert sorted(tf_private.FOUND) == [
        "tensorflow.compiler.tf2xla.python.xla.dynamic_update_slice",
        "tensorflow.python.eager.record.could_possibly_record",
        "tensorflow.python.eager.record.should_record_backprop",
        "tensorflow.python.ops.control_flow_util.GraphOrParentsInXlaContext",
    ]


def test_tape_queries_follow_the_recording_tape():
    x, y = tf.constant(1.0), tf.constant(2.0)
    assert not tf_private.tape_active()
    with tf.GradientTape() as tape:
        tape.watch(x)
        assert tf_private.tape_active()
        assert tf_private.needs_gradient(x)
        assert not tf_private.needs_gradient(y)


def test_compiled_by_xla_tells_jit_compiled_functions_apart():
    seen = {}

    def probe(key):
        seen[key] = tf_private.compiled_by_xla()
        return tf.constant(0.0)

    tf.function(lambda: probe("graph"))()
    tf.function(lambda: probe("xla"), jit_compile=True)()
    assert seen == {"graph": False, "xla": True}


def test_xla_dynamic_update_slice_writes_a_row_in_place():
    @tf.function(jit_compile=True)
    def write(buffer, row):
        return tf_private.xla_dynamic_update_slice(buffer, row[None], tf.constant([1, 0]))

    result = write(tf.zeros([3, 2]), tf.constant([4.0, 5.0]))
    np.testing.assert_array_equal(result, [[0, 0], [4, 5], [0, 0]])
