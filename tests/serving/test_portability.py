"""A SavedModel holds no cuDNN-only op (CudnnRNN*) when exported inside portable_recurrent_layers,
even on a machine where Keras sees a GPU; the graph walk finds such ops where they are.

The GPU is simulated: Keras' TensorFlow backend asks `_is_gpu_available()` when it traces an
LSTM or GRU, and traces CudnnRNNV3 when the answer is yes; the op needs no kernel to be
traced, so a CPU machine writes exactly the graph a GPU machine would."""

import importlib

import keras
import numpy as np
import pytest
import tensorflow as tf

from deepkit import export, layers
from deepkit.serving.portability import cudnn_only_ops, graph_ops, portable_recurrent_layers
from deepkit.testing import serve_without_deepkit


@pytest.fixture
def gpu_visible_to_keras(monkeypatch):
    rnn = importlib.import_module("keras.src.backend.tensorflow.rnn")
    monkeypatch.setattr(rnn, "_is_gpu_available", lambda: True)


def recurrent_model():
    x = keras.Input((5, 3), name="x")
    hidden = keras.layers.LSTM(4, return_sequences=True)(x)
    hidden = layers.BRNN(keras.layers.GRU(3))(hidden)
    return keras.Model(x, keras.layers.Dense(1, name="y")(hidden))


def test_the_walk_finds_cudnn_ops_keras_traces_when_it_sees_a_gpu(gpu_visible_to_keras, tmp_path):
    path = str(tmp_path / "m")
    recurrent_model().export(path, verbose=False)  # Keras' own export, not deepkit's
    found = cudnn_only_ops(path)
    assert {op for _, op in found} == {"CudnnRNNV3"} and all(function for function, _ in found), found


def test_inside_portable_recurrent_layers_the_export_has_no_cudnn_op_and_serves(gpu_visible_to_keras, monkeypatch,
                                                                                 tmp_path):
    model = recurrent_model()
    x = np.random.default_rng(0).normal(size=(2, 5, 3)).astype("float32")
    with portable_recurrent_layers(model) as switched:
        assert len(switched) == 3  # the LSTM and the BRNN's two GRUs
        path = export.export_version(model, str(tmp_path), "m")
    assert cudnn_only_ops(path) == []
    assert "While" in set().union(*graph_ops(path).values())  # Keras' portable loop instead
    assert [layer.use_cudnn for layer in switched] == ["auto"] * 3  # restored for training
    served = serve_without_deepkit(path, [x], "serve")[0]  # on this CPU-only machine
    monkeypatch.undo()  # the model itself predicts on the CPU it really has
    np.testing.assert_allclose(served, model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)


def test_portable_recurrent_layers_finds_layers_in_export_bundles():
    model = recurrent_model()
    bundle = export.WithEndpoints(keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)]), track=[model])
    with portable_recurrent_layers(bundle) as switched:
        assert len(switched) == 3 and not any(layer.use_cudnn for layer in switched)


def test_graph_ops_says_which_folder_holds_no_savedmodel(tmp_path):
    with pytest.raises(FileNotFoundError, match="expected .*saved_model.pb"):
        graph_ops(str(tmp_path))


def test_tf_functions_are_walked_too(tmp_path):
    """A cuDNN op inside a nested tf.function (not the top-level graph) is found."""

    class WithCudnn(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec((2, 1, 3)), tf.TensorSpec((1, 1, 4)), tf.TensorSpec((None,))])
        def call(self, x, h, params):
            return tf.raw_ops.CudnnRNN(input=x, input_h=h, input_c=h, params=params, rnn_mode="lstm")[0]

    tf.saved_model.save(WithCudnn(), str(tmp_path))
    assert ("", "CudnnRNN") not in cudnn_only_ops(str(tmp_path))
    assert "CudnnRNN" in {op for _, op in cudnn_only_ops(str(tmp_path))}


def test_deepkit_export_itself_writes_no_cudnn_op_on_a_gpu_machine(gpu_visible_to_keras, tmp_path):
    path = export.export_version(recurrent_model(), str(tmp_path), "m")
    assert cudnn_only_ops(path) == []
