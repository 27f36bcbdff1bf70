"""An encoder–decoder over characters or words (Sutskever et al. 2014), with additive or
multiplicative attention, trained with teacher forcing and decoded greedily or by beam
search inside the graph, exported as a SavedModel that turns strings into strings.

The search loops are :mod:`deepkit.models.beam_search`; the attention layers
:mod:`deepkit.layers.attention`; docs/seq2seq.md says why the search is deepkit's own.
"""

from typing import NamedTuple

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from deepkit.layers.attention import BahdanauAttention, LuongAttention
from deepkit.models import beam_search as search
from deepkit.registry import register
from deepkit.validation import check_choice, check_float, check_int

ATTENTIONS = (None, "bahdanau", "luong")
TOKENS = ("characters", "words")
# Reserved ids. Source: padding, unknown. Target: padding, unknown, start, end.
PAD, UNKNOWN = 0, 1
START, END = 2, 3
SOURCE_RESERVED = ("", "[UNK]")
TARGET_RESERVED = ("", "[UNK]", "<start>", "<end>")


@register
def masked_token_accuracy(y_true, y_pred):
    """Per sequence, the fraction of its real (non-padding) target tokens whose logit is
    highest: ``Σ_t m_t [argmax y_pred_t = y_t] / Σ_t m_t`` with ``m_t = y_t != 0``."""
    y_true = ops.cast(y_true, "int32")
    mask = ops.cast(ops.not_equal(y_true, PAD), "float32")
    right = ops.cast(ops.equal(ops.cast(ops.argmax(y_pred, axis=-1), "int32"), y_true), "float32")
    return ops.sum(right * mask, axis=-1) / ops.maximum(ops.sum(mask, axis=-1), 1.0)


@register
def masked_sparse_crossentropy(y_true, y_pred):
    """Per sequence, the mean cross-entropy of the logits ``y_pred`` over its real
    (non-padding) target tokens: ``Σ_t m_t CE_t / Σ_t m_t`` with ``m_t = y_t != 0``.

    Averaging per sequence (and then over the batch) rather than over all the batch's
    tokens keeps a step the same however the batch is split over replicas.
    """
    y_true = ops.cast(y_true, "int32")
    mask = ops.cast(ops.not_equal(y_true, PAD), "float32")
    losses = keras.losses.sparse_categorical_crossentropy(y_true, ops.cast(y_pred, "float32"), from_logits=True)
    return ops.sum(losses * mask, axis=-1) / ops.maximum(ops.sum(mask, axis=-1), 1.0)


def tokenize(text, tokens):
    """``text`` as a list of characters or whitespace-separated words."""
    return list(text) if tokens == "characters" else text.split()


def build_vocabulary(texts, tokens="characters", max_size=None):
    """The tokens of ``texts``, most frequent first (ties in sorted order), at most ``max_size``."""
    counts = {}
    for text in texts:
        for token in tokenize(text, tokens):
            counts[token] = counts.get(token, 0) + 1
    ranked = sorted(counts, key=lambda token: (-counts[token], token))
    return ranked[:max_size] if max_size else ranked


class Encoded(NamedTuple):
    """The encoder's reading of a batch of sources, what every decoder step reads."""

    memory: object  # (batch, source_steps, value_dim) the encoder's outputs
    keys: object  # the attention's projection of memory (None without attention)
    mask: object  # (batch, source_steps) bool, False on padding
    state: tuple  # the decoder's initial carry: its cell states, then the fed-back vector


class DecoderModel(keras.Model):
    """What :class:`Seq2Seq` and :class:`~deepkit.models.ImageCaptioner` share: a recurrent
    decoder over a target vocabulary, started from an encoder's :class:`Encoded` reading,
    with optional attention over its memory, teacher-forced ``call``, greedy and beam search
    in the graph, target ids to strings, and the SavedModel export.

    A subclass calls :meth:`_check_decoder` and :meth:`_make_decoder_layers` in its
    constructor and :meth:`_build_decoder` in ``build``, and defines ``encode(inputs,
    training)`` (returning an :class:`Encoded`), ``_tables()`` (its lookup tables, the
    target tokens last), ``serving_endpoints()`` and ``SUBLAYERS``, the constructor's
    layer arguments that ``get_config`` serializes.
    """

    def _check_decoder(self, decoder_cell, target_vocabulary, attention, attention_units, embedding_dim,
                       max_target_length, tokens, beam_width, length_penalty):
        """Checks the decoder's arguments and keeps them as attributes (no layers yet)."""
        owner = type(self).__name__
        self.attention = check_choice(owner, "attention", attention, ATTENTIONS)
        self.tokens = check_choice(owner, "tokens", tokens, TOKENS)
        self.embedding_dim = check_int(owner, "embedding_dim", embedding_dim)
        self.max_target_length = check_int(owner, "max_target_length", max_target_length)
        self.beam_width = check_int(owner, "beam_width", beam_width)
        self.length_penalty = check_float(owner, "length_penalty", length_penalty, low=0.0)
        self.attention_units = None if attention_units is None else check_int(owner, "attention_units",
                                                                                attention_units)
        self.target_vocabulary = _check_vocabulary("target_vocabulary", target_vocabulary, TARGET_RESERVED, owner)
        if not hasattr(decoder_cell, "state_size"):
            raise ValueError(f"{owner}: argument `decoder_cell` must be a recurrent cell (with a `state_size`), "
                             f"e.g. keras.layers.GRUCell(64). Received: {decoder_cell!r}")
        for rate in ("dropout", "recurrent_dropout"):
            if getattr(decoder_cell, rate, 0.0):
                raise ValueError(
                    f"{owner}: argument `decoder_cell` must have {rate}=0 (its dropout masks cannot be drawn "
                    f"inside the decoding loop; put dropout on the encoder). Received: "
                    f"{rate}={getattr(decoder_cell, rate)!r}"
                )

    def _make_decoder_layers(self):
        """The target embedding, the bridges to each state of ``self.decoder_cell``, the
        attention and the output layer (after the subclass has set ``decoder_cell``)."""
        self.state_sizes = [int(size) for size in keras.tree.flatten(self.decoder_cell.state_size)]
        units = self.state_sizes[0]
        self.target_embedding = keras.layers.Embedding(self.target_vocabulary_size, self.embedding_dim,
                                                       name="target_embedding")
        self.bridges = [keras.layers.Dense(size, activation="tanh", name=f"bridge_{i}")
                        for i, size in enumerate(self.state_sizes)]
        if self.attention == "bahdanau":
            self.attention_layer = BahdanauAttention(self.attention_units or units, name="attention")
        elif self.attention == "luong":
            self.attention_layer = LuongAttention(name="attention")
        else:
            self.attention_layer = None
        self.attentional = keras.layers.Dense(units, activation="tanh", use_bias=False, name="attentional") \
            if self.attention == "luong" else None
        self.output_layer = keras.layers.Dense(self.target_vocabulary_size, name="logits")
        self._functions = _Functions()

    @property
    def target_vocabulary_size(self):
        return len(TARGET_RESERVED) + len(self.target_vocabulary)

    def _build_decoder(self, target_shape, memory_steps, memory_dim, state_dim):
        """Builds the decoder's layers for a memory of (batch, memory_steps, memory_dim) and
        bridges from a vector of ``state_dim``."""
        _build(self.target_embedding, tuple(target_shape))
        for bridge in self.bridges:
            _build(bridge, (None, state_dim))
        units = self.state_sizes[0]
        cell_input = self.embedding_dim + {None: 0, "bahdanau": memory_dim, "luong": units}[self.attention]
        _build(self.decoder_cell, (None, cell_input))
        hidden = units
        if self.attention is not None:
            _build(self.attention_layer, (None, units), (None, memory_steps, memory_dim))
            hidden = units + memory_dim if self.attention == "bahdanau" else units
        if self.attentional is not None:
            _build(self.attentional, (None, memory_dim + units))
        _build(self.output_layer, (None, hidden))

    # === One decoder step, teacher forcing ===

    def decode_step(self, embedded, carry, encoded, training=False):
        """One decoder step from the embedded previous tokens (batch, embedding_dim).

        Returns:
            ``(logits (batch, target_vocabulary_size), carry, weights (batch, source_steps))``;
            the weights are zeros without attention.
        """
        states, feed = list(carry[:-1]), carry[-1]
        if self.attention == "bahdanau":
            context, weights = self.attention_layer.attend(states[0], encoded.keys, encoded.memory, encoded.mask)
            output, states = self.decoder_cell(ops.concatenate([embedded, context], -1), states, training=training)
            hidden = ops.concatenate([output, context], -1)
        elif self.attention == "luong":
            output, states = self.decoder_cell(ops.concatenate([embedded, feed], -1), states, training=training)
            context, weights = self.attention_layer.attend(output, encoded.keys, encoded.memory, encoded.mask)
            hidden = feed = self.attentional(ops.concatenate([context, output], -1))
        else:
            output, states = self.decoder_cell(embedded, states, training=training)
            hidden = output
            weights = ops.zeros(ops.shape(encoded.mask), self.compute_dtype)
        logits = self.output_layer(hidden)
        return logits, tuple(keras.tree.flatten(states)) + (feed,), weights

    def teacher_forced(self, encoded, target_in, training=False):
        """The logits (batch, target_steps, target_vocabulary_size), float32, of every step
        fed the previous reference token ``target_in`` (teacher forcing)."""
        embedded = self.target_embedding(ops.cast(target_in, "int32"))
        steps = target_in.shape[1]
        if steps is not None:  # a known length: the steps unrolled, cheaper than a loop to differentiate
            carry, logits = encoded.state, []
            for t in range(steps):
                step_logits, carry, _ = self.decode_step(embedded[:, t], carry, encoded, training)
                logits.append(step_logits)
            return ops.cast(ops.stack(logits, axis=1), "float32")
        steps = ops.shape(target_in)[1]
        logits = ops.zeros((ops.shape(target_in)[0], steps, self.target_vocabulary_size), self.compute_dtype)

        def step(t, carry):
            state, logits = carry
            step_logits, state, _ = self.decode_step(ops.take(embedded, t, axis=1), state, encoded, training)
            return state, search.write_step(logits, t, step_logits)

        _, logits = ops.fori_loop(0, steps, step, (encoded.state, logits))
        return ops.cast(logits, "float32")

    # === Training ===

    def compile(self, optimizer="adam", loss=None, metrics=None, **kwargs):
        """Keras' ``compile``; by default :func:`masked_sparse_crossentropy` (padding, id 0,
        left out) as the loss and :func:`masked_token_accuracy` as the metric."""
        loss = masked_sparse_crossentropy if loss is None else loss
        metrics = [masked_token_accuracy] if metrics is None else metrics
        super().compile(optimizer=optimizer, loss=loss, metrics=metrics, **kwargs)

    # === Target ids <-> strings (NumPy, for data preparation) ===

    def encode_target(self, texts):
        """``(target_in, target_out)`` of target ``texts``: int32 (batch, max_target_length + 1),
        ``[<start>, y..]`` and ``[y.., <end>]``, zero-padded.

        Raises:
            ValueError: as :meth:`encode_source`, against the target vocabulary and
                ``max_target_length``.
        """
        ids = _encode(self, "encode_target", texts, self.target_vocabulary, len(TARGET_RESERVED),
                      self.max_target_length, "max_target_length", allow_empty=True)
        lengths = (ids != PAD).sum(1)
        target_in = np.concatenate([np.full((len(ids), 1), START, "int32"), ids], 1)
        target_out = np.concatenate([ids, np.zeros((len(ids), 1), "int32")], 1)
        target_out[np.arange(len(ids)), lengths] = END
        return target_in, target_out

    def decode_ids(self, ids):
        """Target ids (..., steps) as strings: the tokens before the first end token, padding
        and reserved tokens dropped, joined as ``tokens`` says."""
        ids = np.asarray(ids)
        vocabulary = np.array(list(TARGET_RESERVED) + self.target_vocabulary, dtype=object)
        flat = ids.reshape(-1, ids.shape[-1])
        separator = "" if self.tokens == "characters" else " "
        texts = []
        for row in flat:
            ends = np.flatnonzero(row == END)
            row = row[: ends[0]] if len(ends) else row
            texts.append(separator.join(vocabulary[row[row >= len(TARGET_RESERVED)]]))
        return np.array(texts, dtype=object).reshape(ids.shape[:-1])

    # === Search in the graph ===

    def search_endpoints(self, source, target_in):
        """The endpoints every decoder model exports beside its string ones: ``beam_search``
        and ``greedy_search`` (ids, scores, attention) of ``source`` inputs, and ``serve``
        (teacher-forced logits of ``source`` and ``target_in`` ids); a dict of
        ``name: (function, input specs)`` for :meth:`serving_endpoints`."""
        # An unnamed spec takes the argument's name as the signature's input name: `s`,
        # `source` and `target_in` are what Seq2Seq's exports have always taken.
        return {
            "beam_search": (lambda s: self._search(s, self.beam_width, self.length_penalty), [source]),
            "greedy_search": (lambda s: self._search(s, None, 0.0), [source]),
            "serve": (lambda source, target_in: self((source, target_in), training=False), [source, target_in]),
        }

    def _search(self, inputs, beam_width, length_penalty):
        """Greedy search (``beam_width=None``) or beam search of what ``encode`` reads, as one graph of ops."""
        encoded = self.encode(inputs)
        batch = ops.shape(encoded.mask)[0]
        source_steps = ops.shape(encoded.mask)[1]
        if beam_width is not None:
            encoded = Encoded(*(None if field is None else keras.tree.map_structure(
                lambda x: ops.repeat(x, beam_width, axis=0), field) for field in encoded))

        def step(tokens, carry):
            logits, carry, weights = self.decode_step(self.target_embedding(tokens), carry, encoded)
            return ops.log_softmax(ops.cast(logits, "float32"), axis=-1), carry, weights

        arguments = dict(max_length=self.max_target_length + 1, start_id=START, end_id=END, pad_id=PAD,
                         weight_dim=source_steps, banned_ids=(START,))
        if beam_width is None:
            found = search.greedy_search(step, encoded.state, batch, **arguments)
        else:
            found = search.beam_search(step, encoded.state, batch, beam_width,
                                       length_penalty=length_penalty, **arguments)
        result = {"ids": found.ids, "scores": found.scores}
        if self.attention is not None:
            result["attention"] = found.weights
        return result

    def _compiled(self, key, build):
        functions = self._functions.by_key
        if key not in functions:
            functions[key] = tf.function(build, reduce_retracing=True)
        return functions[key]

    def _beam_options(self, beam_width, length_penalty):
        """``(beam_width, length_penalty)``: the model's own where ``None``, else checked."""
        owner = f"{type(self).__name__}.beam_search"
        beam_width = self.beam_width if beam_width is None else check_int(owner, "beam_width", beam_width)
        length_penalty = self.length_penalty if length_penalty is None else check_float(
            owner, "length_penalty", length_penalty, low=0.0)
        return beam_width, length_penalty

    # === Export ===

    def ids_to_strings(self, ids):
        """In the graph: target ids (..., steps) to strings, cut at the first end token."""
        tokens = self._tables()[-1]
        keep = tf.logical_and(tf.cumsum(tf.cast(tf.equal(ids, END), tf.int32), axis=-1) == 0,
                              ids >= len(TARGET_RESERVED))
        pieces = tf.ragged.boolean_mask(tf.gather(tokens, ids), keep)
        texts = tf.strings.reduce_join(pieces, axis=-1, separator="" if self.tokens == "characters" else " ")
        return texts.to_tensor() if isinstance(texts, tf.RaggedTensor) else texts  # Serving answers dense tensors

    def export(self, filepath, format="tf_saved_model", verbose=True, **kwargs):
        """Writes the SavedModel of the endpoints in the class docstring (``translate`` is
        ``serving_default``); it serves in a process that never imports deepkit.

        Raises:
            ValueError: another ``format`` or export options (the endpoints are fixed).
        """
        if format != "tf_saved_model" or any(value is not None for value in kwargs.values()):
            raise ValueError(f"{type(self).__name__}.export: writes format='tf_saved_model' with its own "
                             f"endpoints and takes no options. Received: format={format!r}, options={sorted(kwargs)}")
        self._tables()
        archive = keras.export.ExportArchive()
        archive.track(self)
        for name, (function, signature) in self.serving_endpoints().items():
            archive.add_endpoint(name, function, input_signature=signature)
        archive.write_out(filepath, verbose=verbose)

    @classmethod
    def from_config(cls, config):
        import copy

        config = copy.deepcopy(config)
        for name in cls.SUBLAYERS:
            config[name] = keras.saving.deserialize_keras_object(config[name])
        return cls(**config)

    def _decoder_config(self):
        return {
            "decoder_cell": keras.saving.serialize_keras_object(self.decoder_cell),
            "target_vocabulary": list(self.target_vocabulary),
            "attention": self.attention,
            "attention_units": self.attention_units,
            "embedding_dim": self.embedding_dim,
            "max_target_length": self.max_target_length,
            "tokens": self.tokens,
            "beam_width": self.beam_width,
            "length_penalty": self.length_penalty,
        }


@register
class Seq2Seq(DecoderModel):
    """Encoder–decoder with optional attention, teacher-forced ``fit``, greedy and beam search.

    The encoder reads the embedded source; a learned ``tanh`` bridge from its final states
    (all of them, concatenated; both directions of a ``BRNN``) starts each state of the
    decoder cell, as in Bahdanau et al. (2015), so the two need not have the same size.
    Each decoder step, from the previous target token ``y_{t-1}``:

    - ``attention=None``: ``s_t = cell(E y_{t-1}, s_{t-1})``, logits ``W_o s_t``;
    - ``"bahdanau"``: ``c_t = attend(s_{t-1}, H)``, ``s_t = cell([E y_{t-1}, c_t], s_{t-1})``,
      logits ``W_o [s_t, c_t]`` (Bahdanau et al. 2015, without the maxout layer);
    - ``"luong"``: ``s_t = cell([E y_{t-1}, h̃_{t-1}], s_{t-1})``, ``c_t = attend(s_t, H)``,
      ``h̃_t = tanh(W_c [c_t, s_t])``, logits ``W_o h̃_t`` (Luong et al. 2015, "general"
      score, with input feeding).

    ``call((source_ids, target_in_ids))`` returns the teacher-forced logits (batch,
    target_steps, target_vocabulary_size); ``fit`` takes ``((source, target_in),
    target_out)`` with ``target_in = [<start>, y_1 .. y_n]`` and ``target_out = [y_1 ..
    y_n, <end>]``, zero-padded (:meth:`encode_target` makes both), and the default loss
    leaves the padding out. :meth:`greedy_search` and :meth:`beam_search` decode in the
    graph; :meth:`translate` does strings to strings.

    Ids: source ``0`` padding, ``1`` unknown, then ``source_vocabulary``; target ``0``
    padding, ``1`` unknown, ``2`` ``<start>``, ``3`` ``<end>``, then ``target_vocabulary``.

    ``export(path)`` writes a SavedModel with the endpoints ``translate`` (also
    ``serving_default``: strings (batch,) to strings (batch,), by beam search),
    ``translate_greedy`` (the same, greedily), ``translate_beams`` (strings to
    ``{"translations": (batch, beam_width), "scores": (batch, beam_width)}``),
    ``beam_search`` and ``greedy_search`` (source ids to ``{"ids", "scores"}`` and, with
    attention, ``"attention"``, as the methods return) and ``serve`` (the teacher-forced
    logits of ``(source_ids, target_in_ids)``). The string endpoints tokenize and
    detokenize in the graph and fail with an ``InvalidArgumentError`` on an empty
    string, a string longer than ``max_source_length`` tokens, or tokens outside the
    source vocabulary.

    Args:
        encoder: A recurrent layer built with ``return_sequences=True`` and
            ``return_state=True`` (deepkit's, Keras', or a ``BRNN`` of one).
        decoder_cell: A recurrent cell (``PeepholeLSTMCell``, ``RelevanceGRUCell``,
            ``keras.layers.GRUCell``, ...) without dropout.
        source_vocabulary, target_vocabulary: Lists of distinct tokens (characters or
            words), without the reserved ones.
        attention: ``None``, ``"bahdanau"`` (default) or ``"luong"``.
        attention_units: Hidden size of the Bahdanau score (default: the cell's units).
        embedding_dim: Size of the source and target embeddings (default 32).
        max_source_length: Longest source, in tokens (default 32).
        max_target_length: Longest output, in tokens, the end token excluded (default 32).
        tokens: ``"characters"`` (default) or ``"words"`` (split on whitespace, joined
            with one space).
        beam_width: Beams of :meth:`beam_search` and of the exported endpoints (default 4).
        length_penalty: GNMT's ``alpha`` (:func:`~deepkit.models.beam_search.length_normaliser`,
            default 0: rank by log probability).
        **kwargs: Arguments of ``keras.Model`` (``name``).

    Raises:
        ValueError: An encoder without ``return_sequences`` / ``return_state``, a cell with
            dropout, an unknown ``attention``, vocabularies that hold reserved tokens or
            duplicates, ``beam_width < 1``, a negative ``length_penalty``.

    Example:

    >>> model = Seq2Seq(
    ...     keras.layers.GRU(8, return_sequences=True, return_state=True), keras.layers.GRUCell(8),
    ...     list("abc"), list("abc"), max_source_length=5, max_target_length=5)
    >>> model.compile(optimizer="adam")
    >>> source, (target_in, target_out) = model.encode_source(["abc", "ba"]), model.encode_target(["cba", "ab"])
    >>> tuple(model.predict((source, target_in), verbose=0).shape)
    (2, 6, 7)
    >>> model.translate(["abc"]).shape
    (1,)

    Reference:
        Sutskever, Vinyals & Le, "Sequence to Sequence Learning with Neural Networks",
        NeurIPS 2014; Bahdanau, Cho & Bengio, ICLR 2015; Luong, Pham & Manning, EMNLP 2015;
        Wu et al., "Google's Neural Machine Translation System", 2016 (length penalty).
    """

    SUBLAYERS = ("encoder", "decoder_cell")  # the layers get_config serializes

    def __init__(
        self,
        encoder,
        decoder_cell,
        source_vocabulary,
        target_vocabulary,
        attention="bahdanau",
        attention_units=None,
        embedding_dim=32,
        max_source_length=32,
        max_target_length=32,
        tokens="characters",
        beam_width=4,
        length_penalty=0.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        owner = type(self).__name__
        # === Checks ===
        self._check_decoder(decoder_cell, target_vocabulary, attention, attention_units, embedding_dim,
                            max_target_length, tokens, beam_width, length_penalty)
        self.max_source_length = check_int(owner, "max_source_length", max_source_length)
        self.source_vocabulary = _check_vocabulary("source_vocabulary", source_vocabulary, SOURCE_RESERVED)
        for flag in ("return_sequences", "return_state"):
            if getattr(encoder, flag, None) is not True:
                raise ValueError(
                    f"{owner}: argument `encoder` must be a recurrent layer with {flag}=True (the decoder reads "
                    f"its outputs and starts from its states). Received: {encoder!r} with "
                    f"{flag}={getattr(encoder, flag, None)!r}"
                )

        # === Layers ===
        self.encoder = encoder
        self.decoder_cell = decoder_cell
        self.source_embedding = keras.layers.Embedding(self.source_vocabulary_size, embedding_dim,
                                                       name="source_embedding")
        self._make_decoder_layers()

    @property
    def source_vocabulary_size(self):
        return len(SOURCE_RESERVED) + len(self.source_vocabulary)

    # === Building ===

    def build(self, input_shape):
        source_shape = tuple(input_shape[0])
        _build(self.source_embedding, source_shape)
        outputs = self.encoder(keras.KerasTensor((None, source_shape[1], self.embedding_dim), dtype=self.compute_dtype))
        memory_dim, state_dim = outputs[0].shape[-1], sum(o.shape[-1] for o in outputs[1:])
        self._build_decoder(input_shape[1], source_shape[1], memory_dim, state_dim)
        self.built = True

    # === Encoder ===

    def encode(self, source, training=False):
        """The :class:`Encoded` reading of ``source`` ids (batch, source_steps)."""
        source = ops.cast(source, "int32")
        mask = ops.not_equal(source, PAD)
        outputs = self.encoder(self.source_embedding(source), mask=mask, training=training)
        memory, finals = outputs[0], outputs[1:]
        final = ops.concatenate([ops.cast(f, self.compute_dtype) for f in finals], axis=-1)
        states = tuple(bridge(final) for bridge in self.bridges)
        keys = None if self.attention is None else self.attention_layer.keys(memory)
        feed = ops.zeros((ops.shape(source)[0], self.state_sizes[0]), self.compute_dtype)
        return Encoded(memory, keys, mask, states + (feed,))

    def call(self, inputs, training=False):
        source, target_in = inputs
        return self.teacher_forced(self.encode(source, training), target_in, training)

    # === Token ids <-> strings (NumPy, for data preparation) ===

    def encode_source(self, texts):
        """Source ``texts`` as ids, int32 (batch, max_source_length), zero-padded.

        Raises:
            ValueError: an empty text, one longer than ``max_source_length`` tokens, or
                tokens outside the source vocabulary (each named).
        """
        return _encode(self, "encode_source", texts, self.source_vocabulary, len(SOURCE_RESERVED),
                       self.max_source_length, "max_source_length")

    # === Search in the graph ===

    def greedy_search(self, source):
        """Greedy decoding of source ids (batch, source_steps), in one graph.

        Returns:
            ``{"ids": int32 (batch, max_target_length + 1), "scores": (batch,)}`` (the log
            probability) and, with attention, ``"attention"`` (batch, max_target_length + 1,
            source_steps). Ids after the end token are padding.
        """
        return self._compiled(("greedy",), lambda s: self._search(s, None, 0.0))(_source_ids(self, source))

    def beam_search(self, source, beam_width=None, length_penalty=None):
        """Beam search of source ids (batch, source_steps), in one graph.

        Args:
            source: int ids.
            beam_width: Beams (default the model's ``beam_width``); an integer >= 1.
            length_penalty: GNMT ``alpha`` (default the model's).

        Returns:
            ``{"ids": (batch, beam_width, max_target_length + 1), "scores": (batch,
            beam_width)}`` and, with attention, ``"attention"`` (batch, beam_width,
            max_target_length + 1, source_steps); beams best first.

        Raises:
            ValueError: ``beam_width < 1`` or a negative ``length_penalty``.
        """
        beam_width, length_penalty = self._beam_options(beam_width, length_penalty)
        function = self._compiled(("beam", beam_width, length_penalty),
                                  lambda s: self._search(s, beam_width, length_penalty))
        return function(_source_ids(self, source))

    def translate(self, texts, beam_width=None):
        """Strings to strings, by beam search (``beam_width=1``: the same as greedy).

        Raises:
            ValueError: as :meth:`encode_source`, or ``beam_width < 1``.
        """
        found = self.beam_search(self.encode_source(texts), beam_width)
        return self.decode_ids(found["ids"].numpy()[:, 0])

    # === Export: strings in the graph ===

    def _tables(self):
        if getattr(self, "_source_table", None) is None:
            self._source_table = tf.lookup.StaticHashTable(
                tf.lookup.KeyValueTensorInitializer(
                    tf.constant(self.source_vocabulary, tf.string),
                    tf.range(len(SOURCE_RESERVED), self.source_vocabulary_size, dtype=tf.int32),
                ),
                default_value=UNKNOWN,
            )
            self._target_tokens = tf.constant(list(TARGET_RESERVED) + self.target_vocabulary, tf.string)
        return self._source_table, self._target_tokens

    def strings_to_ids(self, texts):
        """In the graph: strings (batch,) to source ids (batch, max_source_length), with
        assertions that fail on empty strings, strings longer than ``max_source_length``
        tokens and tokens outside the source vocabulary."""
        table, _ = self._tables()
        pieces = tf.strings.unicode_split(texts, "UTF-8") if self.tokens == "characters" else \
            tf.strings.split(texts)
        lengths = tf.cast(pieces.row_lengths(), tf.int32)
        ids = tf.ragged.map_flat_values(table.lookup, pieces)
        unit = "characters" if self.tokens == "characters" else "words"
        unknown = tf.reduce_any(tf.equal(ids, UNKNOWN), axis=1)
        refused = (
            (lengths < 1, "expected non-empty strings; received empty ones"),
            (lengths > self.max_source_length, f"expected strings of at most {self.max_source_length} {unit} "
                                                f"(the model's max_source_length); received longer ones:"),
            (unknown, f"expected {unit} of the source vocabulary {_preview(self.source_vocabulary)}; received "
                      f"strings with others:"),
        )
        checks = [tf.debugging.Assert(tf.logical_not(tf.reduce_any(bad)),
                                      [f"translate: {message}", tf.boolean_mask(texts, bad)], summarize=8)
                  for bad, message in refused]
        with tf.control_dependencies(checks):
            return tf.identity(ids.to_tensor(default_value=PAD, shape=[None, self.max_source_length]))

    def serving_endpoints(self):
        strings = tf.TensorSpec((None,), tf.string)
        ids = tf.TensorSpec((None, None), tf.int32)

        def translate(texts):
            return self.ids_to_strings(self._search(self.strings_to_ids(texts), self.beam_width,
                                                    self.length_penalty)["ids"][:, 0])

        def translate_greedy(texts):
            return self.ids_to_strings(self._search(self.strings_to_ids(texts), None, 0.0)["ids"])

        def translate_beams(texts):
            found = self._search(self.strings_to_ids(texts), self.beam_width, self.length_penalty)
            return {"translations": self.ids_to_strings(found["ids"]), "scores": found["scores"]}

        return {
            "translate": (translate, [strings]),  # the first endpoint: serving_default
            "translate_greedy": (translate_greedy, [strings]),
            "translate_beams": (translate_beams, [strings]),
            **self.search_endpoints(ids, ids),
        }

    # === Config ===

    def get_config(self):
        return {
            **super().get_config(),
            "encoder": keras.saving.serialize_keras_object(self.encoder),
            "source_vocabulary": list(self.source_vocabulary),
            "max_source_length": self.max_source_length,
            **self._decoder_config(),
        }



def _build(layer, *shapes):
    # A sub-layer restored by from_config may come built already (Keras records its
    # build config); building it again would add its weights twice.
    if not layer.built:
        layer.build(*shapes)


class _Functions:
    """The traced search functions of a model, by (search, beam_width, length_penalty); a
    plain object, so that neither the SavedModel nor the checkpoint tracks them."""

    def __init__(self):
        self.by_key = {}


def _check_vocabulary(name, vocabulary, reserved, owner="Seq2Seq"):
    if isinstance(vocabulary, str) or not all(isinstance(token, str) for token in vocabulary):
        raise ValueError(f"{owner}: argument `{name}` must be a list of token strings. Received: {vocabulary!r:.200}")
    vocabulary = list(vocabulary)
    clashes = sorted(set(vocabulary) & set(reserved))
    if clashes:
        raise ValueError(f"{owner}: argument `{name}` must not hold the reserved tokens {list(reserved)}. "
                         f"Received a vocabulary with {clashes}")
    if len(set(vocabulary)) != len(vocabulary):
        repeated = sorted({token for token in vocabulary if vocabulary.count(token) > 1})
        raise ValueError(f"{owner}: argument `{name}` must hold distinct tokens. Received repeated: {repeated[:10]}")
    if not vocabulary:
        raise ValueError(f"{owner}: argument `{name}` must hold at least one token. Received: []")
    return vocabulary


def _preview(vocabulary, count=40):
    shown = "".join(vocabulary[:count]) if all(len(t) == 1 for t in vocabulary) else " ".join(vocabulary[:count])
    return repr(shown) + (" ..." if len(vocabulary) > count else "")


def _encode(model, owner, texts, vocabulary, offset, max_length, length_name, allow_empty=False):
    if isinstance(texts, (str, bytes)):
        raise ValueError(f"{type(model).__name__}.{owner}: expected a list of strings. Received one string: {texts!r}")
    index = {token: offset + i for i, token in enumerate(vocabulary)}
    ids = np.zeros((len(texts), max_length), "int32")
    for row, text in enumerate(texts):
        text = text.decode("utf-8") if isinstance(text, bytes) else str(text)
        pieces = tokenize(text, model.tokens)
        if not pieces and not allow_empty:
            raise ValueError(f"{type(model).__name__}.{owner}: expected non-empty strings. Received an empty one at index {row}")
        if len(pieces) > max_length:
            raise ValueError(f"{type(model).__name__}.{owner}: expected at most {max_length} {model.tokens} ({length_name}). "
                             f"Received {len(pieces)} in {text!r}")
        unknown = sorted({piece for piece in pieces if piece not in index})
        if unknown:
            raise ValueError(f"{type(model).__name__}.{owner}: expected {model.tokens} of the model's vocabulary. Received "
                             f"{unknown[:10]} in {text!r}; the vocabulary is {_preview(vocabulary)}")
        ids[row, : len(pieces)] = [index[piece] for piece in pieces]
    return ids


def _source_ids(model, source):
    source = ops.convert_to_tensor(source)
    if len(source.shape) != 2 or "int" not in str(source.dtype):
        raise ValueError(f"{type(model).__name__}: expected source ids, integers of shape (batch, steps). "
                         f"Received {source.dtype} of shape {tuple(source.shape)}")
    return ops.cast(source, "int32")
