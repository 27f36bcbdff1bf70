"""PyTorch's CPU LSTM / GRU, timed one call at a time on request: the peer of `rnn_speed.py`.

`rnn_speed.py` starts this script as a child process, so that PyTorch's and
TensorFlow's thread pools never share a process, and asks it for one timed call
at a time between its own, so that both frameworks see the same machine load.
The protocol is one JSON object per line on stdin, one answer per line on stdout:

    {"op": "setup", "family": "lstm" | "gru", "timesteps": T, "units": U,
     "batch": B, "features": D}                     -> {"ready": true}
    {"op": "train"}    one training step             -> {"seconds": s}
    {"op": "predict"}  one forward pass, no autograd  -> {"seconds": s}

The model is the one `rnn_speed.py` builds around each Keras layer: an
``nn.LSTM`` or ``nn.GRU`` (batch first, one layer) reading ``(B, T, D)``, a
linear head on the last output, MSE against fixed targets, Adam(1e-3). Its first
line announces the PyTorch version, its thread count and whether oneDNN
(mkldnn) is available. ``nn.GRU`` applies the reset gate after the recurrent
product (Keras' ``reset_after=True``), the only GRU PyTorch has.
"""

import json
import sys
import time

import torch


class Peer:
    def __init__(self, family, timesteps, units, batch, features):
        torch.manual_seed(0)
        recurrent = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[family]
        self.rnn = recurrent(features, units, batch_first=True)
        self.head = torch.nn.Linear(units, 1)
        self.optimizer = torch.optim.Adam([*self.rnn.parameters(), *self.head.parameters()], lr=1e-3)
        self.x = torch.randn(batch, timesteps, features)
        self.y = torch.randn(batch, 1)
        for _ in range(3):  # warm up the allocator and oneDNN's primitive cache
            self.train()
            self.predict()

    def train(self):
        self.optimizer.zero_grad()
        outputs, _ = self.rnn(self.x)
        loss = torch.mean((self.head(outputs[:, -1]) - self.y) ** 2)
        loss.backward()
        self.optimizer.step()

    def predict(self):
        with torch.no_grad():
            outputs, _ = self.rnn(self.x)
            return self.head(outputs[:, -1])


def answer(message):
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def main():
    answer(
        {
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "mkldnn": bool(torch.backends.mkldnn.is_available()),
        }
    )
    peer = None
    for line in sys.stdin:
        request = json.loads(line)
        if request["op"] == "setup":
            peer = Peer(
                request["family"], request["timesteps"], request["units"], request["batch"], request["features"]
            )
            answer({"ready": True})
        elif request["op"] in ("train", "predict"):
            run = getattr(peer, request["op"])
            start = time.perf_counter()
            run()
            answer({"seconds": time.perf_counter() - start})
        else:
            answer({"error": f"unknown op {request['op']!r}: expected setup, train or predict"})


if __name__ == "__main__":
    main()
