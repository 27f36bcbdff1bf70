"""The parts of `benchmarks/rnn_speed.py` that decide what it reports: the PyTorch
peer's protocol and the verdict on the speed targets (the timings themselves are
the benchmark's business, never a test's)."""

import os
import sys

import pytest

BENCHMARKS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks")
sys.path.insert(0, BENCHMARKS)

import rnn_speed  # noqa: E402  (benchmarks/ is not a package)


def _row(train_ratio, predict_ratio_torch=None, xla=False, policy="float32"):
    row = {
        "T": 100,
        "U": 128,
        "xla": xla,
        "policy": policy,
        "ours": {"layer": "PeepholeLSTM"},
        "theirs": {"layer": "keras.LSTM"},
        "train_ratio": train_ratio,
    }
    if predict_ratio_torch is not None:
        row["torch"] = {"layer": "torch.nn.LSTM", "train_ms": 10.0, "predict_ms": 5.0}
        row["train_ratio_torch"] = train_ratio
        row["predict_ratio_torch"] = predict_ratio_torch
    return row


def test_targets_are_judged_on_float32_rows_without_xla_only():
    lines = rnn_speed.target_lines(
        [
            _row(0.60, 1.20),
            _row(0.70, 1.40),
            _row(0.90, 2.0, xla=True),
            _row(0.90, None, policy="mixed_bfloat16"),
            _row(0.50),
        ]
    )
    assert len(lines) == 4  # the heading and the three float32 rows without XLA
    assert "train 0.60x keras.LSTM met; predict 1.20x torch.nn.LSTM met" in lines[1]
    assert "train 0.70x keras.LSTM MISSED; predict 1.40x torch.nn.LSTM MISSED" in lines[2]
    assert lines[3].endswith("predict vs PyTorch not measured")


def test_the_markdown_cells_say_when_pytorch_was_not_measured():
    assert rnn_speed.torch_cells(_row(0.6)) == "- | -"
    assert rnn_speed.torch_cells(_row(0.6, 1.25)) == "10.0 / 5.0 | 0.60x, 1.25x"


def test_no_torch_skips_the_peer_and_says_why():
    peer, reason = rnn_speed.TorchPeer.start(False)
    assert peer is None and reason == "skipped (--no-torch)"


def test_the_pytorch_peer_times_one_call_per_request():
    pytest.importorskip("torch")
    peer, description = rnn_speed.TorchPeer.start(True)
    try:
        assert "threads" in description
        for family in ("lstm", "gru"):
            peer.setup(family, timesteps=3, units=4)
            assert peer.time("train") > 0 and peer.time("predict") > 0
        assert "unknown op" in peer._ask(op="sing")["error"]
    finally:
        peer.close()
