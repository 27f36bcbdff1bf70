"""textgen's vocabulary.txt: one token per line, in id order, readable back into the vocabulary."""

import numpy as np

from deepkit.recipes import textgen


def test_vocabulary_file_has_one_token_per_line_in_id_order(tmp_path):
    vocabulary = [np.str_(token) for token in ["", "[UNK]", "e", " ", "\n", "\\", "\t", "é"]]
    path = tmp_path / "vocabulary.txt"
    textgen.write_vocabulary(path, vocabulary)
    lines = path.read_text(encoding="utf-8").split("\n")[:-1]  # the file ends with a newline
    assert lines == ["", "[UNK]", "e", " ", "\\n", "\\\\", "\\t", "é"]
    assert not any("np.str_" in line or "'" in line for line in lines)
