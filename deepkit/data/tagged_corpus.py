"""Tagged sentences (one tag per word) for sequence tagging: the offline corpus and ``tfds:conll2003``.

The offline default, ``hironsan_ner``, is the named-entity corpus that the pip package
``hironsancorpus`` ships (its data file is read; the package is never imported). Like
every offline dataset it is a dict of arrays, one element per sentence, words and tags
joined by single spaces; :func:`tagged_sentences` gives any tagged dataset, TFDS'
CoNLL-2003 included, as lists of words and of tag names.
"""

import importlib.util
import os

import numpy as np

HIRONSAN_FILE = os.path.join("corpus", "iob_sents.txt")


def hironsan_path():
    """The path of ``iob_sents.txt`` inside the installed ``hironsancorpus`` package.

    Raises:
        ImportError: When the package is not installed, naming the extra that installs it.
    """
    spec = importlib.util.find_spec("hironsan")
    if spec is None or not spec.submodule_search_locations:
        from deepkit.data.offline import require  # offline imports this module: import here, not at the top

        require("hironsan", "hironsancorpus")  # raises the ImportError that names the package
    return os.path.join(spec.submodule_search_locations[0], HIRONSAN_FILE)


def read_iob_columns(path):
    """Sentences of a CoNLL-style file: one token per line, tab-separated columns, the word
    first and the IOB2 tag last; a blank line ends a sentence.

    Args:
        path: The file (UTF-8).

    Returns:
        ``(words, tags)``: two lists with one list of strings per sentence.

    Raises:
        ValueError: On a line with fewer than two columns, naming the file and line.
    """
    words, tags, sentence_words, sentence_tags = [], [], [], []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line.strip():
                if sentence_words:
                    words.append(sentence_words)
                    tags.append(sentence_tags)
                sentence_words, sentence_tags = [], []
                continue
            columns = line.split("\t")
            if len(columns) < 2:
                raise ValueError(
                    f"deepkit.data: {path}, line {number}: expected tab-separated columns, the word first and "
                    f"the tag last. Received: {line[:60]!r}"
                )
            sentence_words.append(columns[0])
            sentence_tags.append(columns[-1])
    if sentence_words:
        words.append(sentence_words)
        tags.append(sentence_tags)
    return words, tags


def load_hironsan_ner():
    """hironsancorpus' ``iob_sents.txt``: 500 Japanese sentences, MeCab-segmented, IOB2 named entities.

    The file's columns are the word, its character type, eight MeCab part-of-speech
    and reading fields (six for unknown words), and the IOB2 tag. The entity types
    are IREX's: ``ART`` (artifact), ``DAT`` (date), ``LOC``, ``MON`` (money),
    ``ORG``, ``PER`` (percentage), ``PSN`` (person) and ``TIM`` (time).

    Returns:
        ``{"tokens": bytes, "tags": bytes}`` object arrays, one element per sentence,
        words and tags joined by single spaces (no word of the file holds a space).
    """
    words, tags = read_iob_columns(hironsan_path())
    return {
        "tokens": np.array([" ".join(sentence).encode("utf-8") for sentence in words], dtype=object),
        "tags": np.array([" ".join(sentence).encode("utf-8") for sentence in tags], dtype=object),
    }


def _decoded(value):
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _tfds_sentences(name, split):
    """``tfds:conll2003``-style data: ``tokens`` (words) and ``ner`` (ClassLabel ids) per sentence."""
    import tensorflow_datasets as tfds

    from deepkit.data.tfds_source import load_tfds

    dataset = load_tfds(name, split)
    builder = tfds.builder(name)
    feature = "ner" if "ner" in builder.info.features else "tags"
    names = builder.info.features[feature].feature.names
    words, tags = [], []
    for example in dataset.as_numpy_iterator():
        words.append([_decoded(word) for word in example["tokens"]])
        tags.append([names[int(tag)] for tag in example[feature]])
    return words, tags


def tagged_sentences(name, split="train", max_sentences=0):
    """The sentences of a tagged dataset as words and tag names.

    Args:
        name: An offline tagged dataset (``"hironsan_ner"``) or ``"tfds:conll2003"``
            (any TFDS dataset with ``tokens`` and a ``ner`` sequence of class labels).
        split: ``"train"``, ``"test"`` or ``"all"``, optionally sliced (``"train[:90%]"``);
            for TFDS, its own splits (CoNLL-2003's ``"train"``, ``"dev"``, ``"test"``).
        max_sentences: Keep only the first N sentences (0: all of them).

    Returns:
        ``(words, tags)``: lists of lists of strings, the same length per sentence.

    Raises:
        ValueError: When a sentence has more or fewer tags than words.

    Example:

    >>> words, tags = tagged_sentences("hironsan_ner", "test")
    >>> len(words), len(words[0]) == len(tags[0])
    (100, True)
    """
    if name.startswith("tfds:"):
        words, tags = _tfds_sentences(name[len("tfds:"):], split)
    else:
        from deepkit.data.load import split_arrays  # load imports offline, which imports this module

        arrays = split_arrays(name, split)
        if "tokens" not in arrays or "tags" not in arrays:
            raise ValueError(
                f"deepkit.data: {name!r} is not a tagged dataset: expected the features 'tokens' and 'tags'. "
                f"Received: {sorted(arrays)}"
            )
        words = [_decoded(sentence).split(" ") for sentence in arrays["tokens"]]
        tags = [_decoded(sentence).split(" ") for sentence in arrays["tags"]]
    if max_sentences:
        words, tags = words[:max_sentences], tags[:max_sentences]
    for index, (sentence_words, sentence_tags) in enumerate(zip(words, tags)):
        if len(sentence_words) != len(sentence_tags):
            raise ValueError(
                f"deepkit.data: {name!r} sentence {index}: expected one tag per word. "
                f"Received: {len(sentence_words)} words, {len(sentence_tags)} tags"
            )
    return words, tags


def tag_set(tags):
    """The tags of ``tags`` (lists of tag names), ``"O"`` first, then sorted by entity type and B before I.

    Example:

    >>> tag_set([["B-LOC", "O"], ["B-PER", "I-PER", "I-LOC"]])
    ['O', 'B-LOC', 'I-LOC', 'B-PER', 'I-PER']
    """
    found = {tag for sentence in tags for tag in sentence}
    rest = sorted(found - {"O"}, key=lambda tag: (tag.partition("-")[2], tag.partition("-")[0]))
    return (["O"] if "O" in found else []) + rest
