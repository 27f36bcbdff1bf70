"""The Bach chorales as piano rolls: the documented encoding, its inverse, the cache and the split by piece."""

import numpy as np
import pytest

from deepkit import data
from deepkit.data import chorales

music21 = pytest.importorskip("music21")


def score_of(notes):
    """A one-part score of ``(offset, quarter_length, midi or [midi, ...] or None for a rest)``."""
    part = music21.stream.Part()
    for offset, length, pitch in notes:
        if pitch is None:
            element = music21.note.Rest(quarterLength=length)
        elif isinstance(pitch, list):
            element = music21.chord.Chord(pitch, quarterLength=length)
        else:
            element = music21.note.Note(midi=pitch, quarterLength=length)
        part.insert(offset, element)
    score = music21.stream.Score()
    score.insert(0, part)
    return score


def keys(roll):
    """The MIDI notes sounding at each step."""
    return [[int(k) + chorales.LOWEST_MIDI for k in np.flatnonzero(row)] for row in roll]


def test_quarter_steps_hold_what_sounds_at_each_onset_and_drop_notes_between_onsets():
    score = score_of([
        (0.0, 2.0, 60),  # a half note: held over steps 0 and 1
        (0.0, 1.0, [64, 67]),  # a chord on the first beat
        (1.0, 0.5, 72),  # an eighth on the beat: sounds at the onset of step 1
        (1.5, 0.5, 74),  # an eighth off the beat: between two onsets, not in the roll
        (2.0, 1.0, None),  # a rest: a row of zeros
        (3.0, 1.0, 60),
    ])
    roll = chorales.piano_roll(score)
    assert roll.shape == (4, 88) and roll.dtype == np.uint8
    assert keys(roll) == [[60, 64, 67], [60, 72], [], [60]]


def test_eighth_steps_keep_the_off_beat_eighth():
    score = score_of([(0.0, 1.0, 60), (1.0, 0.5, 72), (1.5, 0.5, 74)])
    assert keys(chorales.piano_roll(score, step=0.5)) == [[60], [60], [72], [74]]


def test_piano_roll_refuses_a_step_that_is_not_positive_and_a_pitch_off_the_keyboard():
    with pytest.raises(ValueError, match="step.*positive"):
        chorales.piano_roll(score_of([(0.0, 1.0, 60)]), step=0)
    with pytest.raises(ValueError, match="outside the 88 keys"):
        chorales.piano_roll(score_of([(0.0, 1.0, 110)]))


def test_roll_to_score_is_the_inverse_of_the_encoding():
    roll = (np.random.default_rng(0).uniform(size=(12, 88)) < 0.1).astype("uint8")
    roll[-1, 40] = 1  # the roll ends where its last note ends
    np.testing.assert_array_equal(chorales.piano_roll(chorales.roll_to_score(roll)), roll)


def test_roll_to_score_names_the_shape_it_expected():
    with pytest.raises(ValueError, match=r"shape \(steps, 88\).*\(4, 12\)"):
        chorales.roll_to_score(np.zeros((4, 12)))


def test_note_names_are_scientific_pitch_notation():
    assert [chorales.note_name(m) for m in (21, 60, 61, 69, 108)] == ["A0", "C4", "C#4", "A4", "C8"]


def test_load_chorales_parses_the_corpus_once_and_then_reads_its_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPKIT_CACHE_DIR", str(tmp_path))
    first = chorales.load_chorales(pieces=2)
    assert [p.name for p in tmp_path.iterdir()] == [chorales.cache_path(pieces=2).rsplit("/", 1)[1]]
    monkeypatch.setattr(chorales, "parse_chorales", lambda *args: pytest.fail("parsed again"))
    again = chorales.load_chorales(pieces=2)
    assert sorted(again) == ["length", "piece", "roll"]
    for key in first:
        np.testing.assert_array_equal(again[key], first[key])
    expected = chorales.piano_roll(music21.corpus.parse("bach/" + first["piece"][0].decode()))
    np.testing.assert_array_equal(first["roll"][0, : first["length"][0]], expected)


def test_jsb_chorales_20_is_split_by_piece_with_zero_padding_after_each_length():
    assert data.info("jsb_chorales_20").kind == "piano_rolls" == data.info("jsb_chorales").kind
    assert "licence" in data.info("jsb_chorales").source
    train, test = data.load_arrays("jsb_chorales_20", "train"), data.load_arrays("jsb_chorales_20", "test")
    assert (len(train["piece"]), len(test["piece"])) == (16, 4)
    assert not set(train["piece"]) & set(test["piece"])
    for arrays in (train, test):
        steps = np.arange(arrays["roll"].shape[1])
        assert not arrays["roll"][steps[None, :] >= arrays["length"][:, None]].any()
        assert all(arrays["roll"][i, : n].any(1).mean() > 0.9 for i, n in enumerate(arrays["length"]))
    element = next(iter(data.load("jsb_chorales_20", "test")))
    assert element["roll"].dtype.name == "uint8" and element["roll"].shape[1] == 88


def scale_roll(midis):
    """A roll that sounds ``midis`` one per step."""
    roll = np.zeros((len(midis), 88), "uint8")
    roll[np.arange(len(midis)), np.array(midis) - chorales.LOWEST_MIDI] = 1
    return roll


A_MINOR_HARMONIC = [57, 59, 60, 62, 64, 65, 68, 69, 64, 57, 69, 57]  # the tonic, dominant and leading note stressed
G_MAJOR = [55, 57, 59, 60, 62, 64, 66, 67, 62, 55, 67, 55]


def test_estimate_key_finds_the_tonic_and_mode_of_scales_stressing_their_tonic():
    assert chorales.estimate_key(scale_roll(A_MINOR_HARMONIC)) == (9, "minor")
    assert chorales.estimate_key(scale_roll(G_MAJOR)) == (7, "major")
    assert chorales.estimate_key(np.zeros((3, 88))) == (0, "major")


def test_transpose_to_c_shifts_by_the_nearer_way_to_c():
    """A minor goes up 3 semitones to C minor, G major up 5 to C major, D major down 2."""
    for midis, shift in ((A_MINOR_HARMONIC, 3), (G_MAJOR, 5), ([m - 5 for m in G_MAJOR], -2)):
        moved = chorales.transpose_to_c(scale_roll(midis))
        np.testing.assert_array_equal(moved, scale_roll([m + shift for m in midis]))
        assert chorales.estimate_key(moved)[0] == 0


def test_transpose_to_c_refuses_to_push_notes_off_the_keyboard_and_a_wrong_shape():
    with pytest.raises(ValueError, match=r"\+5 semitones.*off the 88 keys"):
        chorales.transpose_to_c(scale_roll([m + 36 for m in G_MAJOR] + [108]))  # C8 would go to MIDI 113
    with pytest.raises(ValueError, match=r"shape \(steps, 88\).*\(4, 12\)"):
        chorales.transpose_to_c(np.zeros((4, 12)))


def test_the_roll_key_agrees_with_music21s_key_analysis_of_most_chorales():
    """music21's ``analyze("key")`` reads the score's full durations, the roll only its
    quarter-note onsets: they may differ on a piece that modulates, not on most."""
    files = chorales.chorale_files()[:12]
    agree = 0
    for name in files:
        score = music21.corpus.parse(name)
        key = score.analyze("key")
        agree += chorales.estimate_key(chorales.piano_roll(score)) == (key.tonic.pitchClass, key.mode)
    assert agree >= 10, f"{agree} of {len(files)}"
