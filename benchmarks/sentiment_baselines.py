"""The strongest linear sentiment baselines on the sentiment recipe's own splits.

How far above a unigram bag of words can a model trained from scratch get on the
recipe's offline corpus (`rotten_tomatoes`, Rotten Tomatoes snippets)? This script
fits, with scikit-learn, on exactly the texts the recipe fits on (the first 90 % of
the training split), picks each model's regularisation strength on the recipe's
validation texts (the last 10 %) and prints the test accuracy of:

- logistic regression on which words (unigrams) or which words and word pairs
  (unigrams + bigrams) a text contains;
- NB-SVM (Wang & Manning 2012): a linear SVM on those features scaled by their naive
  Bayes log-count ratios, its weights interpolated with their mean (beta);
- NB-LR: logistic regression on the same scaled features.

Wang & Manning's NB-SVM with bigrams is the strongest model on sentence polarity that
uses no pretrained word vectors in their table (79.4 % on Pang & Lee's MR).

    python benchmarks/sentiment_baselines.py
    python benchmarks/sentiment_baselines.py --markdown

Reference:
    Wang & Manning, *Baselines and bigrams: simple, good sentiment and topic
    classification*, ACL 2012.
"""

import argparse
import os
import re
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
from sklearn.feature_extraction.text import CountVectorizer  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.svm import LinearSVC  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from deepkit import data  # noqa: E402
from recipes import sentiment  # noqa: E402

LR_STRENGTHS = (0.1, 0.3, 1.0, 3.0, 10.0)
SVM_STRENGTHS = (0.003, 0.01, 0.03, 0.1, 0.3, 1.0)
BETAS = (0.25, 1.0)
PUNCTUATION = re.compile(r"[!\"#$%&()*+,\-./:;<=>?@\[\\\]^_`{|}~']")  # what Keras' TextVectorization strips


def standardized(text):
    """Lower case without punctuation, as the recipe's TextVectorization reads a text."""
    return PUNCTUATION.sub("", text.lower())


def recipe_splits(config):
    """(fit, validation, test) pairs of texts and 0/1 labels, the recipe's own."""
    fit_split, validation_split = data.held_out_splits(config.validation_percent)
    return tuple(sentiment.texts_and_labels(config, split) for split in (fit_split, validation_split, "test"))


def naive_bayes_ratios(features, labels):
    """Log-count ratios r = log((p / |p|_1) / (q / |q|_1)), p and q smoothed by 1."""
    positive = 1 + np.asarray(features[labels == 1].sum(axis=0)).ravel()
    negative = 1 + np.asarray(features[labels == 0].sum(axis=0)).ravel()
    return np.log((positive / positive.sum()) / (negative / negative.sum()))


def best_on_validation(candidates):
    """The (validation accuracy, setting, test accuracy) with the highest validation accuracy."""
    return max(candidates, key=lambda candidate: candidate[0])


def logistic_regression(fit, validation, test):
    def scored(strength):
        model = LogisticRegression(C=strength, max_iter=3000).fit(*fit)
        return model.score(*validation), f"C={strength}", model.score(*test)
    return best_on_validation(scored(strength) for strength in LR_STRENGTHS)


def nb_svm(fit, validation, test):
    def scored(strength, beta):
        svm = LinearSVC(C=strength, max_iter=5000).fit(*fit)
        weights = (1 - beta) * np.abs(svm.coef_).mean() + beta * svm.coef_.ravel()
        accuracy = lambda features, labels: np.mean(((features @ weights + svm.intercept_) > 0) == labels)  # noqa: E731
        return accuracy(*validation), f"C={strength}, beta={beta}", accuracy(*test)
    return best_on_validation(scored(strength, beta) for strength in SVM_STRENGTHS for beta in BETAS)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    args = parser.parse_args(argv)
    config = sentiment.Config()
    (fit_texts, fit_labels), (val_texts, val_labels), (test_texts, test_labels) = recipe_splits(config)
    print(f"{config.data}: {len(fit_texts)} texts to fit, {len(val_texts)} to choose, {len(test_texts)} to test")
    rows = []
    for ngrams, name in (((1, 1), "unigrams"), ((1, 2), "unigrams + bigrams")):
        vectorizer = CountVectorizer(ngram_range=ngrams, binary=True, preprocessor=standardized, token_pattern=r"\S+")
        fit_x = vectorizer.fit_transform(fit_texts)
        val_x, test_x = vectorizer.transform(val_texts), vectorizer.transform(test_texts)
        ratios = naive_bayes_ratios(fit_x, fit_labels)
        scaled = [x.multiply(ratios).tocsr() for x in (fit_x, val_x, test_x)]
        plain_sets = ((fit_x, fit_labels), (val_x, val_labels), (test_x, test_labels))
        scaled_sets = tuple(zip(scaled, (fit_labels, val_labels, test_labels)))
        rows.append((f"logistic regression, {name}", *logistic_regression(*plain_sets)))
        rows.append((f"NB-SVM, {name}", *nb_svm(*scaled_sets)))
        rows.append((f"NB-LR, {name}", *logistic_regression(*scaled_sets)))
    if args.markdown:
        print("\n| model | chosen | validation | test |\n|---|---|---|---|")
        for name, validation, setting, test in rows:
            print(f"| {name} | {setting} | {validation:.3f} | {test:.3f} |")
    else:
        for name, validation, setting, test in rows:
            print(f"{name:36s} {setting:18s} validation {validation:.3f}  test {test:.3f}")


if __name__ == "__main__":
    main()
