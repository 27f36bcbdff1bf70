"""tfds:<name> goes to TensorFlow Datasets, and fails within seconds, naming the offline alternative,
when the data is not prepared and the network is missing. The real download is never called."""

import os
import socket
import time

import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

import deepkit.data as data
from deepkit.data import tfds_source


@pytest.fixture
def offline_network(monkeypatch):
    monkeypatch.setattr(tfds_source, "network_available", lambda timeout=2.0: False)


@pytest.fixture
def no_download(monkeypatch):
    """Any attempt to download fails the test."""

    def forbidden(*args, **kwargs):
        raise AssertionError("the test tried to download a TFDS dataset")

    monkeypatch.setattr(tfds.core.DatasetBuilder, "download_and_prepare", forbidden)


@pytest.mark.parametrize("name, alternative", [("mnist", "mnist_5k"), ("imdb_reviews", "polarity")])
def test_offline_tfds_fails_fast_naming_the_offline_alternative(offline_network, no_download, tmp_path, name,
                                                               alternative):
    start = time.perf_counter()
    with pytest.raises(ConnectionError, match=rf"'tfds:{name}' is not prepared.*offline dataset '{alternative}'"):
        data.load(f"tfds:{name}", data_dir=str(tmp_path))
    assert time.perf_counter() - start < 5
    assert os.listdir(tmp_path) == []  # no empty dataset folder left behind


def test_real_probe_with_deepkit_offline_set_fails_fast_too(monkeypatch, no_download, tmp_path):
    monkeypatch.setenv("DEEPKIT_OFFLINE", "1")
    start = time.perf_counter()
    with pytest.raises(ConnectionError, match="cannot be downloaded"):
        data.load("tfds:mnist", data_dir=str(tmp_path))
    assert time.perf_counter() - start < 5


def test_probe_answers_within_its_timeout_even_when_connecting_hangs(monkeypatch):
    monkeypatch.delenv("DEEPKIT_OFFLINE", raising=False)

    def hang(*args, **kwargs):
        time.sleep(3)
        raise TimeoutError("timed out")  # what a real connect does in the end

    monkeypatch.setattr(socket, "create_connection", hang)
    start = time.perf_counter()
    assert tfds_source.network_available(timeout=0.3) is False
    assert time.perf_counter() - start < 1.5


def test_probe_reports_a_refused_connection_as_offline(monkeypatch):
    monkeypatch.delenv("DEEPKIT_OFFLINE", raising=False)

    def refuse(*args, **kwargs):
        raise ConnectionRefusedError("refused")

    monkeypatch.setattr(socket, "create_connection", refuse)
    assert tfds_source.network_available() is False


def test_prepared_data_loads_without_probing_the_network(monkeypatch, tmp_path):
    def probe(timeout=2.0):
        raise AssertionError("probed the network although the data is prepared")

    monkeypatch.setattr(tfds_source, "network_available", probe)
    monkeypatch.setattr(tfds.core.DatasetBuilder, "is_prepared", lambda self: True)
    with tfds.testing.mock_data(num_examples=3):
        ds = data.load("tfds:mnist", "test", data_dir=str(tmp_path))
        assert {k: (tuple(v.shape), v.dtype) for k, v in ds.element_spec.items()} == {
            "image": ((28, 28, 1), tf.uint8), "label": ((), tf.int64)
        }
        assert len(list(ds)) == 3


def test_tfds_elements_match_the_offline_layout(monkeypatch, tmp_path):
    monkeypatch.setattr(tfds_source, "network_available", lambda timeout=2.0: True)
    with tfds.testing.mock_data(num_examples=2):
        online = data.load("tfds:imdb_reviews", "train", data_dir=str(tmp_path)).element_spec
    offline = data.load("polarity").element_spec
    assert {k: (v.shape, v.dtype) for k, v in online.items()} == {k: (v.shape, v.dtype) for k, v in offline.items()}


def test_tfds_info():
    mnist = data.info("tfds:mnist")
    assert (mnist.kind, mnist.num_classes, mnist.offline) == ("images", 10, False)
    assert data.info("tfds:some_other_dataset").kind is None
