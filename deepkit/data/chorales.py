"""Bach's four-part chorales, the ones music21 ships, as piano rolls: the offline music dataset.

Boulanger-Lewandowski, Bengio & Vincent (2012) made their JSB Chorales piano rolls from
MIDI files; music21's corpus holds the same chorales as MusicXML
(``music21.corpus.chorales.Iterator()``, Riemenschneider's 371, of which 350 are distinct
files). :func:`piano_roll` turns one score into a roll with the encoding below, and
:func:`load_chorales` reads them all, once: parsing takes minutes, so the rolls are kept
in a cache file (:func:`cache_path`) that later loads read in well under a second.

The encoding, exactly:

- a time step is a quarter note by default (``step=1.0`` quarter lengths; ``0.5`` gives
  eighth notes), counted from the first beat of the score (a pickup bar starts at 0);
- a row has 88 columns, the piano's keys: column ``k`` is MIDI note ``21 + k``
  (A0 = 21 ... C8 = 108); the chorales use MIDI 36-86 (C2-D6), 3.9 notes a step on average;
- ``roll[t, k] = 1`` when a note of pitch ``21 + k``, in any part, sounds at the onset of
  step ``t``: its offset ``o`` and duration ``d`` (quarter lengths) satisfy
  ``o <= t·step < o + d``. A note held over several steps is 1 in each of them, a
  repeated note likewise: holds and re-attacks are not told apart (as in
  Boulanger-Lewandowski's sets). A part that rests adds nothing, so a step where every
  part rests is a row of zeros; notes that start and end between two onsets (passing
  eighths at ``step=1.0``) are not in the roll. Repeats are not expanded.

Boulanger-Lewandowski's set, from Allan & Williams (2005), has every chorale transposed
to C major or C minor. :func:`transpose_to_c` does the same to a roll: it shifts every
key by the semitones, between -6 and +5, that take the tonic :func:`estimate_key` finds
to C, so a piece in A minor becomes one in C minor (+3) and one in G major one in C
major (+5). The key is estimated from the roll itself, not read from the score (the
Krumhansl-Schmuckler method: the correlation of the roll's pitch-class counts with
Krumhansl & Kessler's 24 rotated key profiles), so transposing needs no new parse.
"""

import hashlib
import os
import tempfile

import numpy as np

LOWEST_MIDI = 21  # A0, the piano's lowest key: column 0
PITCHES = 88  # piano keys A0-C8: columns 0-87
ENCODING_VERSION = 1  # bump when the encoding changes: old cache files are then ignored
NOTE_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
# Krumhansl & Kessler (1982), probe-tone ratings of the 12 pitch classes from the tonic up.
MAJOR_PROFILE = (6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88)
MINOR_PROFILE = (6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17)


def note_name(midi):
    """``60 -> "C4"``, ``69 -> "A4"`` (scientific pitch notation, sharps).

    Example:

    >>> note_name(60), note_name(21)
    ('C4', 'A0')
    """
    return f"{NOTE_NAMES[int(midi) % 12]}{int(midi) // 12 - 1}"


def piano_roll(score, step=1.0):
    """The piano roll of a music21 score, with the encoding of the module docstring.

    Args:
        score: A ``music21.stream.Score`` (or any stream whose ``flatten().notes`` are
            its notes and chords).
        step: The time step in quarter lengths: 1.0 (quarter notes, default) or 0.5
            (eighth notes); any positive number works.

    Returns:
        ``uint8`` array ``(steps, 88)`` of 0/1, ``steps = ceil(length / step)`` where
        ``length`` is where the last note ends.

    Raises:
        ValueError: when ``step`` is not positive, or a pitch lies outside the 88 keys.
    """
    if not step > 0:
        raise ValueError(f"piano_roll: argument `step` must be a positive number of quarter lengths. Received: {step!r}")
    notes = [n for n in score.flatten().notes if float(n.quarterLength) > 0]  # grace notes have no duration
    end = max((float(n.offset) + float(n.quarterLength) for n in notes), default=0.0)
    roll = np.zeros((int(np.ceil(end / step - 1e-9)), PITCHES), "uint8")
    onsets = np.arange(len(roll)) * step
    for sounding in notes:
        start = float(sounding.offset)
        steps = (onsets >= start - 1e-9) & (onsets < start + float(sounding.quarterLength) - 1e-9)
        for pitch in sounding.pitches:
            column = pitch.midi - LOWEST_MIDI
            if not 0 <= column < PITCHES:
                raise ValueError(f"piano_roll: pitch {pitch} (MIDI {pitch.midi}) lies outside the 88 keys A0-C8")
            roll[steps, column] = 1
    return roll


def check_roll(roll, caller):
    """``roll`` as an array, ValueError unless it is ``(steps, 88)``."""
    roll = np.asarray(roll)
    if roll.ndim != 2 or roll.shape[1] != PITCHES:
        raise ValueError(f"{caller}: argument `roll` must have shape (steps, {PITCHES}). Received: shape {roll.shape}")
    return roll


def estimate_key(roll):
    """The key of a piano roll by the Krumhansl-Schmuckler method: the tonic and mode
    whose Krumhansl & Kessler profile, rotated to that tonic, correlates best with how
    many steps each pitch class sounds in the roll.

    Args:
        roll: ``(steps, 88)`` array; a value above 0.5 is a sounding key.

    Returns:
        ``(tonic, mode)``: the tonic's pitch class (0 = C ... 11 = B) and ``"major"``
        or ``"minor"``; ``(0, "major")`` for a roll where nothing sounds.

    Raises:
        ValueError: when ``roll`` is not ``(steps, 88)``.

    Example:

    >>> c_major_scale = np.zeros((8, PITCHES))
    >>> for step, midi in enumerate((60, 62, 64, 65, 67, 69, 71, 72)):
    ...     c_major_scale[step, midi - LOWEST_MIDI] = 1
    >>> estimate_key(c_major_scale)
    (0, 'major')
    """
    roll = check_roll(roll, "estimate_key")
    counts = (roll > 0.5).sum(0).astype("float64")
    classes = np.bincount((np.arange(PITCHES) + LOWEST_MIDI) % 12, weights=counts, minlength=12)
    if classes.std() == 0:
        return 0, "major"  # nothing (or every pitch class alike) sounds: no key to find
    scores = [(np.corrcoef(classes, np.roll(profile, tonic))[0, 1], -tonic, mode)
              for mode, profile in (("major", MAJOR_PROFILE), ("minor", MINOR_PROFILE)) for tonic in range(12)]
    _, tonic, mode = max(scores)  # ties: the major mode, the lower tonic
    return -tonic, mode


def transpose_to_c(roll):
    """The roll moved to C major or C minor, as Allan & Williams' chorales are: every
    key shifted by the semitones in [-6, +5] that take :func:`estimate_key`'s tonic to C.

    Args:
        roll: ``(steps, 88)`` array.

    Returns:
        An array of ``roll``'s dtype and shape: column ``k`` of ``roll`` at ``k + shift``.

    Raises:
        ValueError: when ``roll`` is not ``(steps, 88)``, or the shift would move a
            sounding key off the piano.
    """
    roll = check_roll(roll, "transpose_to_c")
    tonic, _ = estimate_key(roll)
    shift = (6 - tonic) % 12 - 6  # -6..5: the nearer of the two ways to C
    sounding = np.flatnonzero((roll > 0.5).any(0))
    if len(sounding) and not 0 <= sounding.min() + shift <= sounding.max() + shift < PITCHES:
        raise ValueError(f"transpose_to_c: shifting by {shift:+d} semitones (tonic {NOTE_NAMES[tonic]} to C) "
                         f"moves MIDI {sounding.min() + LOWEST_MIDI}-{sounding.max() + LOWEST_MIDI} off the 88 keys")
    moved = np.zeros_like(roll)
    if shift >= 0:
        moved[:, shift:] = roll[:, : PITCHES - shift]
    else:
        moved[:, :shift] = roll[:, -shift:]
    return moved


def roll_to_score(roll, step=1.0):
    """A music21 score of a piano roll, the inverse of :func:`piano_roll` as far as the
    encoding allows: each run of consecutive 1s of a key is one note (holds and
    re-attacks are not told apart), all in one part; ``score.write("midi", fp=path)``
    writes it as MIDI.

    Args:
        roll: ``(steps, 88)`` array; a value above 0.5 is a sounding key.
        step: The time step in quarter lengths (default 1.0).

    Returns:
        A ``music21.stream.Score`` with one ``Part``.

    Raises:
        ValueError: when ``roll`` is not ``(steps, 88)``.
    """
    from deepkit.data.offline import require

    stream = require("music21.stream", "music21")
    note = require("music21.note", "music21")
    roll = check_roll(roll, "roll_to_score")
    part = stream.Part()
    sounding = np.pad(roll > 0.5, ((1, 1), (0, 0)))
    for column in range(PITCHES):
        changes = np.flatnonzero(np.diff(sounding[:, column].astype("int8")))
        for start, end in zip(changes[::2], changes[1::2]):  # a run of 1s: [start, end) steps
            part.insert(start * step, note.Note(midi=LOWEST_MIDI + column, quarterLength=(end - start) * step))
    score = stream.Score()
    score.insert(0, part)
    return score


def chorale_files():
    """The distinct chorale files of ``music21.corpus.chorales.Iterator()``, in its order
    (Riemenschneider's numbering; the 21 numbers that repeat a file are dropped)."""
    from deepkit.data.offline import require

    corpus = require("music21.corpus", "music21")
    files = corpus.chorales.Iterator(returnType="filename")
    return list(dict.fromkeys(files))


def cache_path(step=1.0, pieces=None):
    """Where :func:`load_chorales` keeps the parsed rolls: ``$DEEPKIT_CACHE_DIR``, else
    ``$XDG_CACHE_HOME/deepkit``, else ``~/.cache/deepkit``; the name holds music21's
    version, the step, the piece count and the encoding version, so a change of any
    parses again."""
    import music21

    folder = os.environ.get("DEEPKIT_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "deepkit"
    )
    key = hashlib.sha1(f"{music21.__version__}|{step}|{pieces}|{ENCODING_VERSION}".encode()).hexdigest()[:12]
    return os.path.join(folder, f"jsb_chorales_{key}.npz")


def stack_rolls(rolls, pieces):
    """Rolls of different lengths as one zero-padded array: ``{"roll": uint8 (pieces,
    longest, 88), "length": int64 (pieces,), "piece": bytes (pieces,)}``."""
    longest = max(len(roll) for roll in rolls)
    padded = np.zeros((len(rolls), longest, PITCHES), "uint8")
    for index, roll in enumerate(rolls):
        padded[index, : len(roll)] = roll
    return {
        "roll": padded,
        "length": np.array([len(roll) for roll in rolls], "int64"),
        "piece": np.array([piece.encode() for piece in pieces], dtype=object),
    }


def parse_chorales(files, step=1.0):
    """The rolls of the chorale ``files`` (corpus paths such as ``"bach/bwv269"``), parsed
    with music21; see :func:`stack_rolls` for the layout."""
    from deepkit.data.offline import require

    corpus = require("music21.corpus", "music21")
    rolls = [piano_roll(corpus.parse(name), step) for name in files]
    return stack_rolls(rolls, [name.removeprefix("bach/") for name in files])


def load_chorales(step=1.0, pieces=None):
    """The distinct chorales as piano rolls, one piece per element, read from the cache
    file or parsed with music21 (minutes for all of them) and then cached.

    Args:
        step: The time step in quarter lengths (default 1.0, quarter notes).
        pieces: Read only the first ``pieces`` chorales of the corpus order (default
            ``None``: all 350).

    Returns:
        ``{"roll": uint8 (pieces, longest, 88), "length": int64 (pieces,), "piece":
        bytes (pieces,)}``: rows past a piece's ``length`` are zero; ``piece`` names its
        file (``b"bwv269"``).
    """
    path = cache_path(step, pieces)
    if os.path.exists(path):
        with np.load(path, allow_pickle=False) as cached:
            return {"roll": cached["roll"], "length": cached["length"],
                    "piece": np.array([name.encode() for name in cached["piece"]], dtype=object)}
    arrays = parse_chorales(chorale_files()[:pieces], step)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    handle, partial = tempfile.mkstemp(suffix=".npz", dir=os.path.dirname(path))
    with os.fdopen(handle, "wb") as f:  # written beside, then renamed: never a half-written cache
        np.savez_compressed(f, roll=arrays["roll"], length=arrays["length"],
                            piece=np.array([p.decode() for p in arrays["piece"]]))
    os.replace(partial, path)
    return arrays
