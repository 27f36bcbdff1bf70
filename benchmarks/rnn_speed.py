"""Speed of deepkit's recurrent layers against the Keras built-ins, measured in one run.

For each configuration (sequence length T, units U, dtype policy, XLA on/off) the
script builds the same small model around each layer (Input(T, D) -> RNN(U) ->
Dense(1), Adam, MSE on the last output), then times one training step and one
predict call, interleaving deepkit and Keras so that both see the same machine
load, and prints medians and the deepkit/Keras ratios. It also prints the fp32
matmul peak of this machine measured in the same run and the training step's
achieved GFLOP/s, and (with --memory) the peak resident memory of training in a
separate process per layer.

Pairs: PeepholeLSTM vs keras.layers.LSTM, RelevanceGRU vs
keras.layers.GRU(reset_after=False).

    python benchmarks/rnn_speed.py             # T=100 and 400, U=128, fp32 and bf16, XLA off/on
    python benchmarks/rnn_speed.py --quick     # T=100, U=128, fp32, XLA off; few repeats
    python benchmarks/rnn_speed.py --full      # adds U=512
    python benchmarks/rnn_speed.py --markdown  # a table for README.md
"""

import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from deepkit.layers import PeepholeLSTM, RelevanceGRU  # noqa: E402

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
}
GATES = {"lstm": 4, "gru": 3}


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


def train_flops(family, timesteps, units, peephole=True):
    """FLOPs of one training step: forward GEMMs x 3 (forward, two backward GEMMs)."""
    gates = GATES[family]
    forward = 2 * BATCH * timesteps * (FEATURES + units) * gates * units
    return 3 * forward


def build(make_layer, timesteps, units, jit_compile):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((timesteps, FEATURES))
    layer = make_layer(units)
    outputs = keras.layers.Dense(1, dtype="float32")(layer(inputs))
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse", jit_compile=jit_compile)
    return model, layer


def execution_path(layer):
    """Which loop the layer runs: deepkit layers report their own; Keras' run its RNN loop."""
    describe = getattr(layer, "execution_path", None)
    if describe is not None:
        return describe() if callable(describe) else describe
    if isinstance(layer, (keras.layers.LSTM, keras.layers.GRU)):
        return "keras (no cuDNN on CPU)"
    return "general (keras.layers.RNN loop)"


def time_call(function, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return times


def bench_config(family, timesteps, units, policy, jit_compile, repeats):
    keras.config.set_dtype_policy(policy)
    try:
        rng = np.random.default_rng(0)
        x = rng.normal(size=(BATCH, timesteps, FEATURES)).astype("float32")
        y = rng.normal(size=(BATCH, 1)).astype("float32")
        entries = []
        for name, make_layer in PAIRS[family]:
            model, layer = build(make_layer, timesteps, units, jit_compile)
            for _ in range(2):  # trace / compile, warm up
                model.train_on_batch(x, y)
                model.predict_on_batch(x)
            entries.append({"name": name, "model": model, "layer": layer, "train": [], "predict": []})
        # Interleave: every repeat times each model once, so load changes hit both.
        for _ in range(repeats):
            for entry in entries:
                entry["train"] += time_call(lambda: entry["model"].train_on_batch(x, y), 1)
                entry["predict"] += time_call(lambda: entry["model"].predict_on_batch(x), 1)
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
                }
            )
        return results
    finally:
        keras.config.set_dtype_policy("float32")


def peak_memory_mb(family, index, timesteps, units, policy, steps=5):
    """Peak RSS (MB) of building the model and `steps` training steps, above the RSS the
    process had before the model existed, measured in a fresh process."""
    code = f"""
import os, resource, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
sys.path.insert(0, {os.path.dirname(os.path.abspath(__file__))!r})
import numpy as np, keras, rnn_speed
keras.config.set_dtype_policy({policy!r})
x = np.random.default_rng(0).normal(size=(rnn_speed.BATCH, {timesteps}, rnn_speed.FEATURES)).astype("float32")
y = np.zeros((rnn_speed.BATCH, 1), "float32")
before = int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1024
model, _ = rnn_speed.build(rnn_speed.PAIRS[{family!r}][{index}][1], {timesteps}, {units}, False)
for _ in range({steps}):
    model.train_on_batch(x, y)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print((after - before) / 1024)
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if result.returncode != 0:
        return float("nan")
    return float(result.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="T=100, U=128, fp32, XLA off, 5 repeats")
    parser.add_argument("--full", action="store_true", help="also U=512")
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--memory", action="store_true", help="also measure peak memory (subprocesses)")
    parser.add_argument("--markdown", action="store_true", help="print a markdown table")
    parser.add_argument("--json", help="write the results to this file")
    parser.add_argument("--family", choices=tuple(PAIRS), action="append", help="only this pair (repeatable)")
    parser.add_argument("--timesteps", type=int, action="append", help="only these T (repeatable)")
    parser.add_argument("--units", type=int, action="append", help="only these U (repeatable)")
    parser.add_argument("--policy", action="append", help="only these dtype policies (repeatable)")
    parser.add_argument("--xla", choices=("on", "off"), action="append", help="only XLA on/off (repeatable)")
    args = parser.parse_args(argv)

    if args.quick:
        grid = [(100, 128, "float32", False)]
        repeats = args.repeats or 5
    else:
        units = (128, 512) if args.full else (128,)
        grid = [
            (t, u, p, j)
            for t, u, p, j in itertools.product((100, 400), units, ("float32", "mixed_bfloat16"), (False, True))
        ]
        repeats = args.repeats or 10
    if args.timesteps or args.units or args.policy or args.xla:
        grid = [
            (t, u, p, j)
            for t, u, p, j in itertools.product(
                args.timesteps or (100, 400),
                args.units or (128,),
                args.policy or ("float32",),
                [x == "on" for x in args.xla] if args.xla else (False, True),
            )
        ]
    families = args.family or tuple(PAIRS)

    peak = matmul_peak_gflops()
    print(f"machine: {os.cpu_count()} CPU threads, TensorFlow {tf.__version__}, Keras {keras.__version__}")
    print(f"fp32 matmul peak (tf.matmul 2048x2048, same run): {peak:.0f} GFLOP/s")
    print(f"batch {BATCH}, features {FEATURES}, medians of {repeats} interleaved repeats\n")

    rows = []
    for family, (timesteps, units, policy, jit_compile) in itertools.product(families, grid):
        ours, theirs = bench_config(family, timesteps, units, policy, jit_compile, repeats)
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
            "peak_fraction": ours["train_gflops"] / peak,
        }
        if args.memory and policy == "float32" and not jit_compile:
            row["ours_mem_mb"] = peak_memory_mb(family, 0, timesteps, units, policy)
            row["theirs_mem_mb"] = peak_memory_mb(family, 1, timesteps, units, policy)
        rows.append(row)
        memory = ""
        if "ours_mem_mb" in row:
            memory = f"  peak mem {row['ours_mem_mb']:.1f}/{row['theirs_mem_mb']:.1f} MB"
        print(
            f"{ours['layer']:>13} vs {theirs['layer']:<28} T={timesteps:<4} U={units:<4} {policy:<15} "
            f"xla={'on ' if jit_compile else 'off'}  train {ours['train_ms']:7.1f}/{theirs['train_ms']:7.1f} ms "
            f"= {row['train_ratio']:.2f}x  predict {ours['predict_ms']:6.1f}/{theirs['predict_ms']:6.1f} ms "
            f"= {row['predict_ratio']:.2f}x  {ours['train_gflops']:5.1f} GFLOP/s "
            f"({100 * row['peak_fraction']:.0f}% of peak)  path: {ours['path']}{memory}",
            flush=True,
        )

    if args.markdown:
        print("\n| layer vs Keras | T | U | policy | XLA | train ms (deepkit / Keras) | ratio | "
              "predict ms | ratio | GFLOP/s (% peak) | path |")
        print("|---|---|---|---|---|---|---|---|---|---|---|")
        for row in rows:
            ours, theirs = row["ours"], row["theirs"]
            print(
                f"| {ours['layer']} vs {theirs['layer']} | {row['T']} | {row['U']} | {row['policy']} | "
                f"{'on' if row['xla'] else 'off'} | {ours['train_ms']:.1f} / {theirs['train_ms']:.1f} | "
                f"{row['train_ratio']:.2f}x | {ours['predict_ms']:.1f} / {theirs['predict_ms']:.1f} | "
                f"{row['predict_ratio']:.2f}x | {ours['train_gflops']:.0f} ({100 * row['peak_fraction']:.0f}%) | "
                f"{ours['path']} |"
            )
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"matmul_peak_gflops": peak, "rows": rows}, f, indent=2)


if __name__ == "__main__":
    main()
