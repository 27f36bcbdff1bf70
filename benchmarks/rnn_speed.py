"""Speed of deepkit's recurrent layers against the Keras built-ins, measured in one run.

For each configuration (sequence length T, units U, dtype policy, XLA on/off) the
script builds the same small model around each layer (Input(T, D) -> RNN(U) ->
Dense(1), Adam, MSE on the last output), then times one training step
(``train_on_batch``: forward, backward, Adam) and one ``predict_on_batch``,
interleaving deepkit and Keras so that both see the same machine load, and
prints medians and the deepkit/Keras ratios. It also prints the fp32 matmul
peak of this machine measured in the same run (tf.matmul 2048x2048, best of 10),
the training step's achieved GFLOP/s (matmul FLOPs only, see `train_flops`),
which path each deepkit layer took ("fast" or "general (why)"), and the peak
memory of a training step.

Predict floor: the gate products of every step alone (``[x_t, h, 1]`` times one
``(features + units + 1, units)`` matrix per gate, the gates' products
concurrent, ``h`` = tanh of their sum) in one compiled ``tf.while_loop``, with
and without XLA as the configuration says, timed interleaved with the layers:
the matmul work a step cannot avoid, which no recurrent layer's predict beats by
much on the machine at hand.

Elementwise: the other half of a step, timed the same way: the cell's gate
activations and state update alone (the products replaced by fixed gate inputs,
each plus ``h`` so that the work stays inside the loop), less the time of a loop
with the same trip count doing one addition per step (the loop's own cost, which
the floor already holds). Under XLA a step's products and its elementwise work
run one after the other, so floor + elementwise is about what the plainest loop
takes there; without XLA TensorFlow's executor runs them beside each other and
the sum bounds nothing.

PyTorch: when PyTorch is installed (``pip install -e ".[bench]"``), the same
model around ``torch.nn.LSTM`` (for both LSTM pairs) or ``torch.nn.GRU`` is timed
in a child process (`torch_peer.py`), one call at a time between TensorFlow's,
so that the two frameworks never share a process's threads but do share the
machine's load; float32 only, and the same figures serve the XLA on and off rows
(PyTorch has no XLA here). ``nn.GRU`` has the reset gate after the recurrent
product (Keras' ``reset_after=True``). ``--no-torch`` skips it.

Pairs: PeepholeLSTM (peephole="diagonal", the default) vs keras.layers.LSTM,
RelevanceGRU vs keras.layers.GRU(reset_after=False), and PeepholeLSTM(peephole=None)
(the same maths as keras.layers.LSTM) vs keras.layers.LSTM. Batch 64, 32 features.

Memory: TensorFlow's default CPU allocator keeps no statistics
(`tf.config.experimental.get_memory_info` returns zeros), and the process RSS
hardly moves between steps (freed blocks stay mapped), so each layer is
measured in a fresh process run with `TF_CPU_ALLOCATOR_USE_BFC=true`: after two
warm-up steps the allocator's peak is reset, three more steps run, and the peak
bytes allocated above those allocated before them are reported (MiB).

Allocator: the timings use whichever CPU allocator the process was started with,
and the first lines say which. With TensorFlow's default one, a step compiled
by XLA gets its working buffer (the layers' saved activations) freshly mapped from
the operating system on every call, and first touching it costs page faults:
each row reports the minor page faults of a training step (deepkit/Keras, from
``getrusage``). ``TF_CPU_ALLOCATOR_USE_BFC=true`` keeps that memory between
steps (no faults), which makes both sides' XLA training steps faster, Keras'
more, so a run with it is the harder comparison for deepkit.

    python benchmarks/rnn_speed.py               # T=100, 400; U=128; fp32, mixed_bfloat16; XLA off, on
    python benchmarks/rnn_speed.py --quick       # T=100, U=128, fp32, XLA off; few repeats
    python benchmarks/rnn_speed.py --full        # adds U=512
    python benchmarks/rnn_speed.py --markdown    # also a markdown table (docs/performance.md)
    python benchmarks/rnn_speed.py --general     # also time deepkit forced onto the general path

Filters (repeatable): --family lstm|gru|lstm-no-peephole, --timesteps T, --units U, --policy P, --xla on|off.
Timings on a shared machine are noisy: compare the ratios, which are measured
interleaved in one process, and re-run when the load (`uptime`) is low.
"""

import argparse
import contextlib
import importlib.util
import itertools
import json
import os
import statistics
import subprocess
import sys
import time

try:
    import resource
except ImportError:  # not on Windows: page faults are then not reported
    resource = None

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from deepkit.layers import PeepholeLSTM, RelevanceGRU, fused  # noqa: E402
from machine import cpu_model  # noqa: E402  (benchmarks/, the script's folder)

BATCH, FEATURES = 64, 32

PAIRS = {
    "lstm": (
        ("PeepholeLSTM", lambda units: PeepholeLSTM(units)),
        ("keras.LSTM", lambda units: keras.layers.LSTM(units)),
    ),
    "gru": (
        ("RelevanceGRU", lambda units: RelevanceGRU(units)),
        ("keras.GRU(reset_after=False)", lambda units: keras.layers.GRU(units, reset_after=False)),
    ),
    # The same maths as keras.layers.LSTM: separates the loop's cost from the peepholes'.
    "lstm-no-peephole": (
        ("PeepholeLSTM(peephole=None)", lambda units: PeepholeLSTM(units, peephole=None)),
        ("keras.LSTM", lambda units: keras.layers.LSTM(units)),
    ),
}
GATES = {"lstm": 4, "gru": 3, "lstm-no-peephole": 4}
TORCH_FAMILY = {"lstm": "lstm", "gru": "gru", "lstm-no-peephole": "lstm"}
TORCH_NAME = {"lstm": "torch.nn.LSTM", "gru": "torch.nn.GRU"}


class TorchPeer:
    """PyTorch in a child process (`torch_peer.py`), timing one call per request."""

    def __init__(self):
        script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "torch_peer.py")
        self.process = subprocess.Popen(
            [sys.executable, script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1
        )
        self.about = self._read()

    @classmethod
    def start(cls, wanted):
        """A peer, or ``None`` with the reason when PyTorch is not wanted or not installed."""
        if not wanted:
            return None, "skipped (--no-torch)"
        if importlib.util.find_spec("torch") is None:
            return None, 'not installed (pip install -e ".[bench]")'
        peer = cls()
        about = peer.about
        return peer, f"{about['torch']}, {about['threads']} threads, oneDNN {'on' if about['mkldnn'] else 'off'}"

    def _read(self):
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the PyTorch peer exited with code {self.process.wait()}")
        return json.loads(line)

    def _ask(self, **request):
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        return self._read()

    def setup(self, family, timesteps, units):
        self._ask(op="setup", family=family, timesteps=timesteps, units=units, batch=BATCH, features=FEATURES)

    def time(self, op):
        return self._ask(op=op)["seconds"]

    def close(self):
        self.process.stdin.close()
        self.process.wait()


def matmul_peak_gflops(size=2048, repeats=10):
    a = tf.random.normal((size, size))
    b = tf.random.normal((size, size))
    matmul = tf.function(lambda a, b: tf.matmul(a, b))
    matmul(a, b).numpy()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        matmul(a, b).numpy()
        times.append(time.perf_counter() - start)
    return 2 * size**3 / min(times) / 1e9


def train_flops(family, timesteps, units):
    """Matmul FLOPs of one training step: the forward products x·W and h·U, and the
    two backward products of each (input/state gradient and weight gradient)."""
    forward = 2 * BATCH * timesteps * (FEATURES + units) * GATES[family] * units
    return 3 * forward


def predict_floor(family, timesteps, units, jit_compile, dtype):
    """A function running only the gate products of ``timesteps`` steps (see the module docstring)."""
    rng = np.random.default_rng(1)
    x = tf.constant(rng.normal(size=(timesteps, BATCH, FEATURES)), dtype)
    weights = [
        tf.constant(rng.normal(scale=0.05, size=(FEATURES + units + 1, units)), dtype) for _ in range(GATES[family])
    ]

    ones = tf.ones((BATCH, 1), dtype)

    def step(t, h):
        x_h = tf.concat([x[t], h, ones], axis=-1)
        return (tf.tanh(tf.add_n([tf.matmul(x_h, w) for w in weights])),)

    return _compiled_loop(step, timesteps, 1, units, jit_compile, dtype)


def _compiled_loop(step, timesteps, state_count, units, jit_compile, dtype):
    """A function running ``state = step(t, *state)`` ``timesteps`` times in one
    ``tf.while_loop`` (compiled by XLA or not), from ``state_count`` zero
    ``(batch, units)`` states, and fetching the first state."""

    @tf.function(jit_compile=jit_compile)
    def loop():
        state = (tf.zeros((BATCH, units), dtype),) * state_count
        return tf.while_loop(
            lambda t, *state: t < timesteps,
            lambda t, *state: (t + 1, *step(t, *state)),
            (0, *state),
            parallel_iterations=1,
        )[1]

    return lambda: loop().numpy()


def _cell_elementwise(family, gate_inputs, peephole, h, c):
    """One step of the family's cell without its products: ``gate_inputs`` stand for
    them (each plus ``h``, which keeps the step's work inside the loop)."""
    if family == "gru":
        z_u, z_r, z_c = gate_inputs
        update, relevance = tf.sigmoid(z_u + h), tf.sigmoid(z_r + h)
        return update * tf.tanh(z_c + relevance * h) + (1 - update) * h, c
    z_i, z_f, z_c, z_o = (z + h for z in gate_inputs)
    if family == "lstm":  # diagonal peepholes
        z_i, z_f = z_i + c * peephole[0], z_f + c * peephole[1]
    c = tf.sigmoid(z_f) * c + tf.sigmoid(z_i) * tf.tanh(z_c)
    if family == "lstm":
        z_o = z_o + c * peephole[2]
    return tf.sigmoid(z_o) * tf.tanh(c), c


def predict_elementwise(family, timesteps, units, jit_compile, dtype):
    """Two functions: ``timesteps`` steps of the cell's elementwise work alone, and
    the same loop doing one addition per step (see the module docstring)."""
    rng = np.random.default_rng(2)
    gate_inputs = tuple(tf.constant(rng.normal(size=(BATCH, units)), dtype) for _ in range(GATES[family]))
    peephole = tuple(tf.constant(rng.normal(scale=0.1, size=(units,)), dtype) for _ in range(3))

    cell = _compiled_loop(
        lambda t, h, c: _cell_elementwise(family, gate_inputs, peephole, h, c), timesteps, 2, units, jit_compile, dtype
    )
    empty = _compiled_loop(lambda t, h, c: (h + 1, c), timesteps, 2, units, jit_compile, dtype)
    return cell, empty


def minor_page_faults():
    """Minor page faults of this process so far (``nan`` where ``getrusage`` is missing)."""
    if resource is None:
        return float("nan")
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def allocator_description():
    if os.environ.get("TF_CPU_ALLOCATOR_USE_BFC", "").lower() in ("1", "true"):
        return "BFC (TF_CPU_ALLOCATOR_USE_BFC=true: memory kept between steps)"
    return "TensorFlow's default (XLA's per-step buffers freshly mapped; TF_CPU_ALLOCATOR_USE_BFC=true keeps them)"


def build(make_layer, timesteps, units, jit_compile):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((timesteps, FEATURES))
    layer = make_layer(units)
    outputs = keras.layers.Dense(1, dtype="float32")(layer(inputs))
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse", jit_compile=jit_compile)
    return model, layer


def execution_path(layer):
    """Which loop the layer ran: deepkit layers report their own; Keras' run its RNN loop."""
    describe = getattr(layer, "execution_path", None)
    if describe is not None:
        return describe()
    return "keras loop (no cuDNN on CPU)"


def bench_config(family, timesteps, units, policy, jit_compile, repeats, with_general, peer=None):
    """Medians of the deepkit / Keras (/ general path) models, the predict floor and
    elementwise loops, and, when ``peer`` is given and the policy is float32, PyTorch's
    model, all timed interleaved ``repeats`` times."""
    keras.config.set_dtype_policy(policy)
    try:
        rng = np.random.default_rng(0)
        x = rng.normal(size=(BATCH, timesteps, FEATURES)).astype("float32")
        y = rng.normal(size=(BATCH, 1)).astype("float32")
        (ours_name, make_ours), theirs = PAIRS[family]
        variants = [(ours_name, make_ours, False), (theirs[0], theirs[1], False)]
        if with_general:
            variants.append((f"{ours_name} (general)", make_ours, True))
        entries = []
        for name, make_layer, general in variants:
            with fused.general_path() if general else contextlib.nullcontext():
                model, layer = build(make_layer, timesteps, units, jit_compile)
                for _ in range(2):  # trace / compile, warm up
                    model.train_on_batch(x, y)
                    model.predict_on_batch(x)
            entries.append({"name": name, "model": model, "layer": layer, "train": [], "predict": [], "faults": 0})
        compute_dtype = keras.config.dtype_policy().compute_dtype
        loops = {"floor": predict_floor(family, timesteps, units, jit_compile, compute_dtype)}
        loops["elementwise"], loops["empty"] = predict_elementwise(family, timesteps, units, jit_compile, compute_dtype)
        loop_times = {name: [] for name in loops}
        for run_loop in loops.values():
            run_loop()  # trace / compile
        if policy != "float32":
            peer = None  # PyTorch's CPU RNNs are compared in float32 only
        torch_times = {"train": [], "predict": []}
        if peer is not None:
            peer.setup(TORCH_FAMILY[family], timesteps, units)
        # Interleave: every repeat times each model once, so load changes hit all of them.
        for _ in range(repeats):
            for name, run_loop in loops.items():
                start = time.perf_counter()
                run_loop()
                loop_times[name].append(time.perf_counter() - start)
            for entry in entries:
                faults = minor_page_faults()
                start = time.perf_counter()
                entry["model"].train_on_batch(x, y)
                entry["train"].append(time.perf_counter() - start)
                entry["faults"] += minor_page_faults() - faults
                start = time.perf_counter()
                entry["model"].predict_on_batch(x)
                entry["predict"].append(time.perf_counter() - start)
            if peer is not None:
                for op, times in torch_times.items():
                    times.append(peer.time(op))
        flops = train_flops(family, timesteps, units)
        results = []
        for entry in entries:
            train_ms = statistics.median(entry["train"]) * 1e3
            results.append(
                {
                    "layer": entry["name"],
                    "path": execution_path(entry["layer"]),
                    "train_ms": train_ms,
                    "predict_ms": statistics.median(entry["predict"]) * 1e3,
                    "train_gflops": flops / (train_ms / 1e3) / 1e9,
                    "train_page_faults": entry["faults"] / repeats,
                }
            )
        loop_ms = {name: statistics.median(times) * 1e3 for name, times in loop_times.items()}
        torch_ms = None
        if peer is not None:
            torch_ms = {
                "layer": TORCH_NAME[TORCH_FAMILY[family]],
                **{f"{op}_ms": statistics.median(times) * 1e3 for op, times in torch_times.items()},
            }
        return results, loop_ms["floor"], max(loop_ms["elementwise"] - loop_ms["empty"], 0.0), torch_ms
    finally:
        keras.config.set_dtype_policy("float32")


_MEMORY_PROBE = """
import os, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
sys.path.insert(0, {here!r})
import numpy as np, keras, tensorflow as tf, rnn_speed

keras.config.set_dtype_policy({policy!r})
rng = np.random.default_rng(0)
x = rng.normal(size=(rnn_speed.BATCH, {timesteps}, rnn_speed.FEATURES)).astype("float32")
y = rng.normal(size=(rnn_speed.BATCH, 1)).astype("float32")
model, _ = rnn_speed.build(rnn_speed.PAIRS[{family!r}][{index}][1], {timesteps}, {units}, {jit_compile})
for _ in range(2):
    model.train_on_batch(x, y)
before = tf.config.experimental.get_memory_info("CPU:0")["current"]
tf.config.experimental.reset_memory_stats("CPU:0")
for _ in range(3):
    model.train_on_batch(x, y)
print((tf.config.experimental.get_memory_info("CPU:0")["peak"] - before) / 2**20)
"""


def peak_memory_mb(family, index, timesteps, units, policy, jit_compile):
    """Peak TensorFlow-allocated memory (MiB) of a training step above what was
    allocated before it, in a fresh process whose CPU allocator keeps statistics."""
    code = _MEMORY_PROBE.format(
        here=os.path.dirname(os.path.abspath(__file__)),
        policy=policy,
        timesteps=timesteps,
        family=family,
        index=index,
        units=units,
        jit_compile=jit_compile,
    )
    env = dict(os.environ, TF_CPU_ALLOCATOR_USE_BFC="true")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    if result.returncode != 0:
        return float("nan")
    return float(result.stdout.strip().splitlines()[-1])


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="T=100, U=128, fp32, XLA off, 5 repeats")
    parser.add_argument("--full", action="store_true", help="also U=512")
    parser.add_argument("--repeats", type=int, default=None, help="interleaved repeats per configuration")
    parser.add_argument(
        "--memory",
        choices=("none", "fp32", "all"),
        default=None,
        help="peak memory of a training step for no, the fp32, or all configurations "
        "(default: fp32; none with --quick)",
    )
    parser.add_argument("--general", action="store_true", help="also time deepkit forced onto the general path")
    parser.add_argument("--markdown", action="store_true", help="also print a markdown table")
    parser.add_argument("--no-torch", action="store_true", help="do not time PyTorch even if it is installed")
    parser.add_argument("--json", help="write the results to this file")
    parser.add_argument("--family", choices=tuple(PAIRS), action="append", help="only this pair (repeatable)")
    parser.add_argument("--timesteps", type=int, action="append", help="only these T (repeatable)")
    parser.add_argument("--units", type=int, action="append", help="only these U (repeatable)")
    parser.add_argument("--policy", action="append", help="only these dtype policies (repeatable)")
    parser.add_argument("--xla", choices=("on", "off"), action="append", help="only XLA on/off (repeatable)")
    return parser.parse_args(argv)


def configurations(args):
    if args.quick:
        timesteps, units, policies, xla = (100,), (128,), ("float32",), (False,)
    else:
        timesteps, units = (100, 400), ((128, 512) if args.full else (128,))
        policies, xla = ("float32", "mixed_bfloat16"), (False, True)
    timesteps = args.timesteps or timesteps
    units = args.units or units
    policies = args.policy or policies
    xla = [x == "on" for x in args.xla] if args.xla else xla
    return list(itertools.product(timesteps, units, policies, xla))


def format_line(row):
    ours, theirs = row["ours"], row["theirs"]
    memory = ""
    if "ours_mem_mb" in row:
        memory = f"  step peak mem {row['ours_mem_mb']:.0f}/{row['theirs_mem_mb']:.0f} MB"
    general = ""
    if "general" in row:
        times = row["general"]
        general = f"  [general path: train {times['train_ms']:.1f} ms, predict {times['predict_ms']:.1f} ms]"
    return (
        f"{ours['layer']:>27} vs {theirs['layer']:<28} T={row['T']:<4} U={row['U']:<4} {row['policy']:<15} "
        f"xla={'on ' if row['xla'] else 'off'}  train {ours['train_ms']:7.1f}/{theirs['train_ms']:7.1f} ms "
        f"= {row['train_ratio']:.2f}x  predict {ours['predict_ms']:6.1f}/{theirs['predict_ms']:6.1f} ms "
        f"= {row['predict_ratio']:.2f}x (floor {row['predict_floor_ms']:.1f} ms = "
        f"{row['predict_floor_ratio']:.2f}x, + elementwise {row['predict_elementwise_ms']:.1f} ms = "
        f"{row['predict_bound_ratio']:.2f}x)  {ours['train_gflops']:5.1f} GFLOP/s "
        f"({100 * row['peak_fraction']:.0f}% of peak)  path: {ours['path']}  page faults/train step "
        f"{ours['train_page_faults']:.0f}/{theirs['train_page_faults']:.0f}{memory}{general}{torch_part(row)}"
    )


def torch_text(row, template, missing):
    """``template`` filled with the row's PyTorch figures (``layer``, ``train`` and
    ``predict`` ms, deepkit's ``train_ratio`` and ``predict_ratio`` to them), or
    ``missing`` where PyTorch was not measured."""
    torch_ms = row.get("torch")
    if torch_ms is None:
        return missing
    return template.format(
        layer=torch_ms["layer"],
        train=f"{torch_ms['train_ms']:.1f}",
        predict=f"{torch_ms['predict_ms']:.1f}",
        train_ratio=f"{row['train_ratio_torch']:.2f}x",
        predict_ratio=f"{row['predict_ratio_torch']:.2f}x",
    )


def torch_part(row):
    template = "  | {layer}: train {train} ms (deepkit {train_ratio}), predict {predict} ms (deepkit {predict_ratio})"
    return torch_text(row, template, "")


TRAIN_TARGET, PREDICT_TARGET = 0.67, 1.3


def target_lines(rows):
    """The speed targets, judged on the float32 rows without XLA: training step at
    most ``TRAIN_TARGET`` x Keras', predict at most ``PREDICT_TARGET`` x PyTorch's."""
    lines = [
        f"targets (float32, XLA off): train <= {TRAIN_TARGET}x Keras, predict <= {PREDICT_TARGET}x PyTorch"
    ]
    for row in rows:
        if row["xla"] or row["policy"] != "float32":
            continue
        train = "met" if row["train_ratio"] <= TRAIN_TARGET else "MISSED"
        if "torch" in row:
            predict = "met" if row["predict_ratio_torch"] <= PREDICT_TARGET else "MISSED"
            predict = f"predict {row['predict_ratio_torch']:.2f}x {row['torch']['layer']} {predict}"
        else:
            predict = "predict vs PyTorch not measured"
        lines.append(
            f"  {row['ours']['layer']:>27} T={row['T']:<4} U={row['U']:<4} train {row['train_ratio']:.2f}x "
            f"{row['theirs']['layer']} {train}; {predict}"
        )
    return lines


def torch_cells(row):
    return torch_text(row, "{train} / {predict} | {train_ratio}, {predict_ratio}", "- | -")


def markdown_table(rows, peak):
    lines = [
        f"fp32 matmul peak measured in the same run: {peak:.0f} GFLOP/s. Ratios are deepkit / Keras "
        "(below 1 = deepkit faster); times are medians of interleaved repeats.",
        "",
        "| layer vs Keras | T | U | policy | XLA | train ms (deepkit / Keras) | train ratio | "
        "predict ms (deepkit / Keras) | predict ratio | predict floor ms (x Keras) | "
        "floor + elementwise ms (x Keras) | train GFLOP/s (% of peak) | "
        "train step peak MB (deepkit / Keras) | PyTorch train / predict ms | deepkit / PyTorch train, predict | path |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        ours, theirs = row["ours"], row["theirs"]
        memory = "-"
        if "ours_mem_mb" in row:
            memory = f"{row['ours_mem_mb']:.0f} / {row['theirs_mem_mb']:.0f}"
        lines.append(
            f"| {ours['layer']} vs {theirs['layer']} | {row['T']} | {row['U']} | {row['policy']} | "
            f"{'on' if row['xla'] else 'off'} | {ours['train_ms']:.1f} / {theirs['train_ms']:.1f} | "
            f"{row['train_ratio']:.2f}x | {ours['predict_ms']:.1f} / {theirs['predict_ms']:.1f} | "
            f"{row['predict_ratio']:.2f}x | "
            f"{row['predict_floor_ms']:.1f} ({row['predict_floor_ratio']:.2f}x) | "
            f"{row['predict_floor_ms'] + row['predict_elementwise_ms']:.1f} ({row['predict_bound_ratio']:.2f}x) | "
            f"{ours['train_gflops']:.0f} ({100 * row['peak_fraction']:.0f}%) | "
            f"{memory} | {torch_cells(row)} | {ours['path']} |"
        )
    return "\n".join(lines)


def main(argv=None):
    args = parse_args(argv)
    repeats = args.repeats or (5 if args.quick else 10)
    memory = args.memory or ("none" if args.quick else "fp32")
    grid = configurations(args)
    families = args.family or tuple(PAIRS)

    peer, peer_description = TorchPeer.start(not args.no_torch)
    peak = matmul_peak_gflops()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"CPU: {cpu_model()}")
    print(f"machine: {os.cpu_count()} CPU threads, TensorFlow {tf.__version__}, Keras {keras.__version__}, "
          f"load average {load:.2f} at start")
    print(f"CPU allocator: {allocator_description()}")
    print(f"fp32 matmul peak (tf.matmul 2048x2048, same run): {peak:.0f} GFLOP/s")
    print(f"PyTorch (child process): {peer_description}")
    print(f"batch {BATCH}, features {FEATURES}, medians of {repeats} interleaved repeats\n", flush=True)

    rows = []
    for family, (timesteps, units, policy, jit_compile) in itertools.product(families, grid):
        results, floor_ms, elementwise_ms, torch_ms = bench_config(
            family, timesteps, units, policy, jit_compile, repeats, args.general, peer
        )
        ours, theirs = results[:2]
        row = {
            "family": family,
            "T": timesteps,
            "U": units,
            "policy": policy,
            "xla": jit_compile,
            "ours": ours,
            "theirs": theirs,
            "train_ratio": ours["train_ms"] / theirs["train_ms"],
            "predict_ratio": ours["predict_ms"] / theirs["predict_ms"],
            "predict_floor_ms": floor_ms,
            "predict_floor_ratio": floor_ms / theirs["predict_ms"],
            "predict_elementwise_ms": elementwise_ms,
            "predict_bound_ratio": (floor_ms + elementwise_ms) / theirs["predict_ms"],
            "peak_fraction": ours["train_gflops"] / peak,
        }
        if args.general:
            row["general"] = results[2]
        if torch_ms is not None:
            row["torch"] = torch_ms
            row["train_ratio_torch"] = ours["train_ms"] / torch_ms["train_ms"]
            row["predict_ratio_torch"] = ours["predict_ms"] / torch_ms["predict_ms"]
        if memory == "all" or (memory == "fp32" and policy == "float32"):
            row["ours_mem_mb"] = peak_memory_mb(family, 0, timesteps, units, policy, jit_compile)
            row["theirs_mem_mb"] = peak_memory_mb(family, 1, timesteps, units, policy, jit_compile)
        rows.append(row)
        print(format_line(row), flush=True)

    if peer is not None:
        peer.close()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"\nload average {load:.2f} at the end")
    print("\n".join(target_lines(rows)))
    if args.markdown:
        print()
        print(markdown_table(rows, peak))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"cpu": cpu_model(), "torch": peer_description, "matmul_peak_gflops": peak, "cpu_allocator": allocator_description(), "rows": rows}, f, indent=2)


if __name__ == "__main__":
    main()
