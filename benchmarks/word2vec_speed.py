"""Speed and quality of deepkit's Word2Vec against gensim 4's, measured in one run.

For each mode (skip-gram, CBOW) both train on the same corpus (gensim's
head500.noblanks.cor by default) with the same vector size, window, negatives,
subsampling, min_count, epochs and learning rates, gensim with ``--workers`` threads;
deepkit's TensorFlow runs on the same CPUs. Words per second are the corpus's tokens
times the epochs over the training time (deepkit: ``fit`` with its tf.data pipeline;
gensim: ``train``), and both models are judged by the same code: Spearman's rho on
WordSim-353 over the covered pairs. The two run one after the other ``--repeats``
times, interleaved, so that both see the same machine load; the script prints each
run, the medians and the deepkit/gensim ratio of words per second (above 1: deepkit
is faster) and the difference of the Spearman rhos.

Target of the issue that asked for Word2Vec: skip-gram at >= 0.5x gensim's words per
second with a WordSim-353 rho >= gensim's - 0.02.

    python benchmarks/word2vec_speed.py                    # skipgram and cbow, 3 repeats
    python benchmarks/word2vec_speed.py --mode skipgram --repeats 1 --markdown
    python benchmarks/word2vec_speed.py --mode skipgram --shared-negatives   # one set of negatives per centre
"""

import argparse
import dataclasses
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import tensorflow as tf  # noqa: E402

from deepkit.recipes import word2vec as recipe  # noqa: E402
from machine import cpu_model  # noqa: E402  (benchmarks/, the script's folder)


def train_deepkit(config, corpus):
    model = recipe.build_model(config, corpus)
    train = model.dataset(corpus, batch_words=config.batch_size, seed=config.seed)
    model.compile(optimizer=model.linear_decay_sgd(config.epochs * len(train)),
                  steps_per_execution=config.steps_per_execution)
    started = time.perf_counter()
    model.fit(train, epochs=config.epochs, verbose=0)
    seconds = time.perf_counter() - started
    return model.vocabulary, model.vectors, sum(map(len, corpus)) * config.epochs / seconds


def wordsim(words, vectors):
    return recipe.word_pair_spearman(words, vectors, "wordsim353.tsv")[0]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", action="append", choices=["skipgram", "cbow"], help="repeatable; default both")
    parser.add_argument("--data", default="head500")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch-words", type=int, default=recipe.Config.batch_size)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--shared-negatives", action="store_true", help="deepkit's skip-gram: negatives per centre")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    args = parser.parse_args(argv)

    print(f"CPU: {cpu_model()}; TensorFlow {tf.__version__}; load average {os.getloadavg()[0]:.1f} at start")
    rows = []
    for mode in args.mode or ["skipgram", "cbow"]:
        config = dataclasses.replace(recipe.Config(), data=args.data, mode=mode, epochs=args.epochs,
                                     workers=args.workers, batch_size=args.batch_words,
                                     shared_negatives=args.shared_negatives)
        corpus = recipe.sentences(config)
        runs = []
        for repeat in range(args.repeats):
            words, vectors, ours = train_deepkit(config, corpus)
            our_rho = wordsim(words, vectors)
            words, vectors, theirs = recipe.train_gensim(config, corpus)
            their_rho = wordsim(words, vectors)
            runs.append((ours, theirs, our_rho, their_rho))
            print(f"{mode} run {repeat + 1}: deepkit {ours:,.0f} words/s rho {our_rho:.3f} | gensim {theirs:,.0f} "
                  f"words/s rho {their_rho:.3f} | ratio {ours / theirs:.2f} | load {os.getloadavg()[0]:.1f}", flush=True)
        ours, theirs, our_rho, their_rho = (statistics.median(column) for column in zip(*runs))
        ratio = statistics.median(run[0] / run[1] for run in runs)
        rows.append((mode, ours, theirs, ratio, our_rho, their_rho))

    header = ("mode", "deepkit words/s", "gensim words/s", "ratio", "deepkit WS353", "gensim WS353", "rho diff")
    lines = [(m, f"{a:,.0f}", f"{b:,.0f}", f"{r:.2f}", f"{x:.3f}", f"{y:.3f}", f"{x - y:+.3f}") for m, a, b, r, x, y in rows]
    if args.markdown:
        print("| " + " | ".join(header) + " |\n|" + "---|" * len(header))
        for line in lines:
            print("| " + " | ".join(line) + " |")
    else:
        print("".join(f"{h:>16}" for h in header))
        for line in lines:
            print("".join(f"{cell:>16}" for cell in line))
    print(f"medians of {args.repeats} interleaved runs, {args.epochs} epochs of {args.data}, gensim workers={args.workers}")


if __name__ == "__main__":
    sys.exit(main())
