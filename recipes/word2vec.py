"""Word vectors with word2vec (skip-gram or CBOW, negative sampling), side by side with gensim's.

`deepkit.models.Word2Vec` trains on the corpus; in the same run gensim 4's `Word2Vec`
trains on the same sentences with the same vector size, window, negatives, subsampling,
min_count, epochs and worker count, and both are judged by the same code: Spearman's
rank correlation (scipy) between cosine similarities and human ratings on WordSim-353
and SimLex-999, and 3CosAdd accuracy on the Google analogies (questions-words.txt),
each restricted to the pairs or questions whose words are all in the vocabulary
(coverage: the fraction kept). Words per second count the corpus's tokens times the
epochs over the training time (deepkit: `fit`, pipeline included; gensim: `train`).

Writes pca.png (the most frequent words' vectors projected on their first two principal
components, labelled), loss.png (the training loss along the batches), comparison.json
(both models' figures, and the nearest neighbours of `neighbours_of` under the cosine,
euclidean and dot metrics) and projector/ (vectors.tsv, metadata.tsv and
projector_config.pbtxt for TensorBoard's embedding projector). metrics.json:
`words_per_second`, `gensim_words_per_second`, `wordsim353_spearman`,
`gensim_wordsim353_spearman`, `simlex999_spearman`, `gensim_simlex999_spearman`,
`analogy_accuracy`, `gensim_analogy_accuracy` and the coverages. A resumed run that
trains no more epochs reports the figures of the run that trained. The SavedModel's
endpoints: serve (word ids -> vectors), lookup (words -> vectors and ids, -1 and a zero
vector for an unknown word) and similar(words, k) (the k nearest words and their cosines).

Offline default: gensim's head500.noblanks.cor (stemmed Wikipedia, 331k tokens);
online or your own: `--data tfds:<a text set>` or `--data text:<path>` (one sentence a line).
"""

import dataclasses
import json
import os
import sys
import time
from typing import ClassVar

import keras
import matplotlib
import numpy as np
import scipy.stats

from deepkit import data, recipe
from deepkit.models import Word2Vec

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

NAME = "word2vec"
TASK = "word vectors (vs gensim)"


@dataclasses.dataclass
class Config(recipe.RecipeConfig):
    DATA_KINDS: ClassVar = ("text",)  # what --data may name
    AFTER_TRAINING: ClassVar = ("compare_gensim", "workers", "neighbours_of", "pca_words")  # may change when resuming

    data: str = "head500"  # a text corpus of deepkit.data (head500 offline), text:<path> or tfds:<name>
    max_lines: int = 0  # read only this many lines of the corpus (0: all)
    mode: str = "skipgram"  # skipgram or cbow
    vector_size: int = 100  # dimension of the word vectors
    window: int = 5  # largest distance between centre and context words (reduced at random per centre)
    negative: int = 5  # negatives per example, drawn from unigram^ns_exponent
    ns_exponent: float = 0.75  # exponent of the negatives' unigram distribution
    sample: float = 1e-3  # subsampling threshold of frequent words (0: none)
    min_count: int = 5  # words rarer than this are dropped
    alpha: float = 0.025  # initial SGD learning rate, decaying linearly to min_alpha
    min_alpha: float = 1e-4  # final learning rate
    shared_negatives: bool = False  # skip-gram: one set of negatives per centre instead of per pair (faster, worse)
    epochs: int = 5  # passes over the corpus (gensim's default)
    batch_size: int = 256  # corpus words whose examples make one batch (larger batches overshoot frequent words)
    steps_per_execution: int = 16  # batches per call of the compiled train step
    compare_gensim: bool = True  # train gensim 4's Word2Vec on the same corpus in the same run
    workers: int = 2  # gensim's worker threads
    neighbours_of: tuple = ("war", "king", "music", "church")  # words whose nearest neighbours are printed
    pca_words: int = 60  # most frequent words drawn in pca.png

    def __post_init__(self):
        if self.mode not in ("skipgram", "cbow"):
            raise ValueError(f"mode must be skipgram or cbow, received {self.mode!r}")
        if self.max_lines < 0 or self.workers < 1 or self.pca_words < 2 or self.steps_per_execution < 1:
            raise ValueError("max_lines must be >= 0, workers and steps_per_execution >= 1 and pca_words >= 2")


def smoke():
    """Seconds-long: 20 lines of head500, eight dimensions, one epoch."""
    return Config(max_lines=20, vector_size=8, epochs=1, batch_size=512, pca_words=10)


def sentences(config):
    """The corpus as lists of tokens, one per line (gensim's LineSentence)."""
    texts = data.split_arrays(config.data, "all")["text"]
    if config.max_lines:
        texts = texts[: config.max_lines]
    return [text.decode("utf-8").split() for text in texts]


# === Evaluation, the same code for both models ===


def _benchmark_file(name):
    from gensim.test.utils import datapath

    return datapath(name)


def word_pair_spearman(words, vectors, file_name):
    """Spearman's rho between cosines and human ratings over the pairs whose words are in
    the vocabulary (compared in lower case), and the fraction of pairs kept."""
    index = _lower_index(words)
    unit = _unit(vectors)
    ours, theirs, total = [], [], 0
    with open(_benchmark_file(file_name), encoding="utf-8") as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            a, b, score = line.split("\t")[:3]
            total += 1
            if a.lower() in index and b.lower() in index:
                ours.append(float(unit[index[a.lower()]] @ unit[index[b.lower()]]))
                theirs.append(float(score))
    rho = scipy.stats.spearmanr(ours, theirs).statistic if len(ours) > 2 else 0.0  # 0 when nothing is covered
    return float(rho), len(ours) / max(total, 1)


def analogy_accuracy(words, vectors):
    """3CosAdd accuracy on questions-words.txt (``b - a + c``, the three excluded) over the
    questions whose four words are in the vocabulary, and the fraction of questions kept."""
    index = _lower_index(words)
    questions, total = [], 0
    with open(_benchmark_file("questions-words.txt"), encoding="utf-8") as f:
        for line in f:
            if line.startswith(":") or not line.strip():
                continue
            total += 1
            quad = [word.lower() for word in line.split()]
            if all(word in index for word in quad):
                questions.append([index[word] for word in quad])
    if not questions:
        return 0.0, 0.0  # 0 when nothing is covered
    unit, questions = _unit(vectors), np.array(questions)
    correct = 0
    for chunk in np.array_split(questions, max(1, len(questions) // 512)):
        scores = (unit[chunk[:, 1]] - unit[chunk[:, 0]] + unit[chunk[:, 2]]) @ unit.T
        rows = np.arange(len(chunk))[:, None]
        scores[rows, chunk[:, :3]] = -np.inf
        correct += int(np.sum(scores.argmax(1) == chunk[:, 3]))
    return correct / len(questions), len(questions) / total


def _lower_index(words):
    index = {}
    for i, word in enumerate(words):  # most frequent first: a lower-cased clash keeps the commonest
        index.setdefault(word.lower(), i)
    return index


def _unit(vectors):
    vectors = np.asarray(vectors, "float64")
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


def scores(words, vectors):
    """The three benchmarks' figures of one model."""
    wordsim, wordsim_coverage = word_pair_spearman(words, vectors, "wordsim353.tsv")
    simlex, simlex_coverage = word_pair_spearman(words, vectors, "simlex999.txt")
    analogy, analogy_coverage = analogy_accuracy(words, vectors)
    return {
        "wordsim353_spearman": wordsim, "wordsim353_coverage": wordsim_coverage,
        "simlex999_spearman": simlex, "simlex999_coverage": simlex_coverage,
        "analogy_accuracy": analogy, "analogy_coverage": analogy_coverage,
    }


# === Training ===


class BatchLosses(keras.callbacks.Callback):
    """The running epoch loss after each execution of the train step, for loss.png."""

    def __init__(self):
        super().__init__()
        self.losses, self.epoch = [], 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        self.losses.append((self.epoch, batch, float(logs["loss"])))


def train_gensim(config, corpus):
    """gensim 4's Word2Vec on the same corpus and settings; its vectors and words per second."""
    from gensim.models import Word2Vec as GensimWord2Vec

    model = GensimWord2Vec(
        vector_size=config.vector_size, window=config.window, negative=config.negative, hs=0,
        ns_exponent=config.ns_exponent, sample=config.sample, min_count=config.min_count, alpha=config.alpha,
        min_alpha=config.min_alpha, sg=int(config.mode == "skipgram"), workers=config.workers, seed=config.seed,
    )
    model.build_vocab(corpus)
    started = time.perf_counter()
    model.train(corpus, total_examples=len(corpus), epochs=config.epochs)
    seconds = time.perf_counter() - started
    raw_words = sum(map(len, corpus)) * config.epochs
    return model.wv.index_to_key, model.wv.vectors, raw_words / seconds


def neighbours(model, config):
    found = [word for word in config.neighbours_of if word in model.index] or model.vocabulary[10:12]
    return {
        word: {metric: [w for w, _ in model.most_similar(word, 5, metric)] for metric in ("cosine", "euclidean", "dot")}
        for word in found
    }


# === Plots ===


def plot_pca(model, count, path):
    count = min(count, len(model.vocabulary))
    vectors = model.vectors[:count] - model.vectors[:count].mean(0)
    _, _, components = np.linalg.svd(vectors, full_matrices=False)
    points = vectors @ components[:2].T
    figure, axis = plt.subplots(figsize=(8, 7))
    axis.scatter(points[:, 0], points[:, 1], s=8, color="tab:blue")
    for word, (x, y) in zip(model.vocabulary, points):
        axis.annotate(word, (x, y), fontsize=8, xytext=(2, 2), textcoords="offset points")
    axis.set_xlabel("first principal component")
    axis.set_ylabel("second principal component")
    axis.set_title(f"the {count} most frequent words, PCA of their vectors")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def plot_losses(losses, steps_per_execution, path):
    figure, axis = plt.subplots(figsize=(8, 3.5))
    epochs = sorted({epoch for epoch, _, _ in losses})
    for epoch in epochs:
        points = [(batch + 1, loss) for e, batch, loss in losses if e == epoch]
        axis.plot(*zip(*points), label=f"epoch {epoch + 1}")
    axis.set_xlabel("batch of the epoch")
    axis.set_ylabel("loss per example (running mean of the epoch)")
    axis.set_title(f"training loss, logged every {steps_per_execution} batches")
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


# === The recipe ===


def build_model(config, corpus):
    model = Word2Vec(
        mode=config.mode, vector_size=config.vector_size, window=config.window, negative=config.negative,
        ns_exponent=config.ns_exponent, sample=config.sample, min_count=config.min_count, alpha=config.alpha,
        min_alpha=config.min_alpha, shared_negatives=config.shared_negatives, seed=config.seed,
    )
    model.build_vocabulary(corpus)
    return model


def train_and_evaluate(config, workdir):
    run = recipe.start(NAME, config, workdir)
    corpus = sentences(config)
    model = build_model(config, corpus)
    train = model.dataset(corpus, batch_words=config.batch_size, seed=config.seed)
    model.compile(optimizer=model.linear_decay_sgd(config.epochs * len(train)),
                  steps_per_execution=config.steps_per_execution)
    losses = BatchLosses()
    started = time.perf_counter()
    history = run.fit(model, train, callbacks=[losses])
    seconds = time.perf_counter() - started

    comparison_path = os.path.join(run.workdir, "comparison.json")
    if history.epochs_this_run or not os.path.exists(comparison_path):
        comparison = {"words_per_second": sum(map(len, corpus)) * history.epochs_this_run / seconds}
        if config.compare_gensim:
            words, vectors, speed = train_gensim(config, corpus)
            comparison.update({"gensim_words_per_second": speed, **{f"gensim_{k}": v for k, v in scores(words, vectors).items()}})
        if losses.losses:
            plot_losses(losses.losses, config.steps_per_execution, os.path.join(run.workdir, "loss.png"))
    else:  # resumed after the last epoch: the figures of the run that trained
        with open(comparison_path) as f:
            comparison = {k: v for k, v in json.load(f).items() if k != "neighbours"}
    comparison.update(scores(model.vocabulary, model.vectors))
    comparison["vocabulary_size"] = len(model.vocabulary)
    plot_pca(model, config.pca_words, os.path.join(run.workdir, "pca.png"))
    model.export_projector(os.path.join(run.workdir, "projector"))
    found = neighbours(model, config)
    with open(comparison_path, "w") as f:
        json.dump({**comparison, "neighbours": found}, f, indent=2)
    print_side_by_side(comparison, found)
    return run.finish(model, comparison, history)


def print_side_by_side(comparison, found):
    rows = [("words/second", "words_per_second", "{:,.0f}")]
    for name in ("wordsim353_spearman", "simlex999_spearman", "analogy_accuracy"):
        rows.append((name, name, "{:.3f}"))
        rows.append((name.rsplit("_", 1)[0] + " coverage", name.rsplit("_", 1)[0] + "_coverage", "{:.1%}"))
    print(f"\n{'':26}{'deepkit':>12}{'gensim':>12}")
    for label, key, form in rows:
        theirs = comparison.get(f"gensim_{key}")
        print(f"{label:26}{form.format(comparison[key]):>12}{form.format(theirs) if theirs is not None else '-':>12}")
    for word, by_metric in found.items():
        for metric, words in by_metric.items():
            print(f"nearest to {word!r} ({metric}): {', '.join(words)}")


def main(argv=None):
    return recipe.main(sys.modules[__name__], argv)


if __name__ == "__main__":
    raise SystemExit(main())
