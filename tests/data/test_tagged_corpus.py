"""The offline tagged corpus (hironsancorpus' file, read as data) and the tagged-sentence readers."""

import numpy as np
import pytest

from deepkit import data
from deepkit.data import tagged_corpus


def test_hironsan_ner_has_the_files_500_sentences_with_one_iob2_tag_per_word():
    words, tags = data.tagged_sentences("hironsan_ner", "all")
    assert len(words) == 500 and sum(map(len, words)) == 15520
    assert all(len(w) == len(t) for w, t in zip(words, tags))
    assert words[0][:3] == ["2005", "年", "7"] and tags[0][:3] == ["B-DAT", "I-DAT", "I-DAT"]
    types = {tag.split("-", 1)[1] for sentence in tags for tag in sentence if tag != "O"}
    assert types == {"ART", "DAT", "LOC", "MON", "ORG", "PER", "PSN", "TIM"}
    assert sum(tag.startswith("B-") for sentence in tags for tag in sentence) == 1282


def test_entities_start_with_a_b_tag_as_iob2_requires_but_for_two_slips_of_the_file():
    """Two artifact names go "O I-ART" in the source file; the loader keeps the file as
    it is (seqeval, in its default mode, reads such an I- as the start of an entity)."""
    _, tags = data.tagged_sentences("hironsan_ner", "all")
    slips = [
        (previous, tag)
        for sentence in tags
        for previous, tag in zip(["O"] + sentence[:-1], sentence)
        if tag.startswith("I-") and previous[2:] != tag[2:]
    ]
    assert slips == [("O", "I-ART"), ("O", "I-ART")]


def test_train_and_test_split_the_sentences_80_20_without_overlap():
    train, _ = data.tagged_sentences("hironsan_ner", "train")
    test, _ = data.tagged_sentences("hironsan_ner", "test")
    assert (len(train), len(test)) == (400, 100)
    everything = sorted(" ".join(s) for s in train + test)
    assert everything == sorted(" ".join(s) for s in data.tagged_sentences("hironsan_ner", "all")[0])


def test_the_dataset_is_described_with_its_source_and_licence():
    info = data.info("hironsan_ner")
    assert info.kind == "tagged_text" and info.offline
    assert "hironsancorpus" in info.source and "MIT" in info.source


def test_max_sentences_keeps_the_first_ones():
    words, tags = data.tagged_sentences("hironsan_ner", "train", max_sentences=7)
    assert len(words) == len(tags) == 7
    assert words == data.tagged_sentences("hironsan_ner", "train")[0][:7]


def test_tag_set_puts_o_first_then_b_before_i_by_entity_type():
    assert data.tag_set([["I-ORG", "O", "B-ORG", "B-DAT"]]) == ["O", "B-DAT", "B-ORG", "I-ORG"]
    assert data.tag_set([["NN", "DT", "VB"]]) == ["DT", "NN", "VB"]  # part-of-speech tags: sorted


def test_a_dataset_without_tags_is_refused_naming_the_features():
    with pytest.raises(ValueError, match=r"expected the features 'tokens' and 'tags'.*\['label', 'text'\]"):
        data.tagged_sentences("polarity", "test")


def test_read_iob_columns_reads_words_and_last_column_and_refuses_a_one_column_line(tmp_path):
    path = tmp_path / "tiny.tsv"
    path.write_text("Kyoto\tX\tB-LOC\nis\tY\tO\n\nhot\tZ\tO\n", encoding="utf-8")
    assert tagged_corpus.read_iob_columns(path) == ([["Kyoto", "is"], ["hot"]], [["B-LOC", "O"], ["O"]])
    path.write_text("Kyoto B-LOC\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"line 1: expected tab-separated columns.*Received: 'Kyoto B-LOC'"):
        tagged_corpus.read_iob_columns(path)


def test_loading_as_arrays_gives_space_joined_utf8_sentences():
    arrays = data.load_arrays("hironsan_ner", "test")
    assert arrays["tokens"].dtype == object and isinstance(arrays["tokens"][0], bytes)
    lengths = [len(t.split(b" ")) for t in arrays["tokens"]]
    assert lengths == [len(t.split(b" ")) for t in arrays["tags"]]
    assert np.all(np.array(lengths) > 0)


def test_tfds_conll2003_is_read_through_its_tokens_and_ner_features(monkeypatch):
    """TFDS' mock data (no network) goes through the TFDS reader up to the per-sentence
    check: it draws the lengths of `tokens` and `ner` independently, which the reader refuses."""
    tfds = pytest.importorskip("tensorflow_datasets")
    from deepkit.data import tfds_source

    monkeypatch.setattr(tfds_source, "network_available", lambda timeout=2.0: True)
    with tfds.testing.mock_data(num_examples=3, policy=tfds.testing.MockPolicy.USE_CODE):
        with pytest.raises(ValueError, match=r"'tfds:conll2003' sentence 0: expected one tag per word"):
            data.tagged_sentences("tfds:conll2003", "dev")
