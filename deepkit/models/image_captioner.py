"""Image captioning (Show and Tell, Vinyals et al. 2015): a CNN reads the image, its features
start a recurrent decoder that emits the caption word by word.

The decoder, its attention over the CNN's grid (Show, Attend and Tell), teacher forcing,
greedy and beam search and the string export are :class:`deepkit.models.seq2seq.DecoderModel`'s,
the machinery :class:`~deepkit.models.Seq2Seq` uses; this module adds the image side.
"""

import keras
import tensorflow as tf
from keras import ops

from deepkit.models.seq2seq import TARGET_RESERVED, DecoderModel, Encoded, _build
from deepkit.registry import register
from deepkit.validation import check_choice

STATES_FROM = ("flatten", "average")


@register
class ImageCaptioner(DecoderModel):
    """CNN encoder and recurrent decoder: images to captions, greedy or by beam search.

    The ``image_encoder`` maps images (batch, height, width, channels) to a grid of
    features (batch, h, w, c). A learned ``tanh`` bridge from the grid (flattened, or
    averaged over its cells) starts each state of the decoder cell, so the image
    conditions every word through the recurrent state, as in Show and Tell; with
    ``attention`` the decoder also attends, at every step, over the ``h·w`` cells of the
    grid (Show, Attend and Tell, with Bahdanau's or Luong's score). The decoder step,
    the loss, the searches and the ids are :class:`~deepkit.models.Seq2Seq`'s:

    - ``attention=None``: ``s_0 = tanh(W_b f(I))``, ``s_t = cell(E y_{t-1}, s_{t-1})``,
      logits ``W_o s_t``;
    - ``"bahdanau"`` / ``"luong"``: as :class:`~deepkit.models.Seq2Seq`, the grid's cells
      in place of the source steps.

    ``call((images, target_in_ids))`` returns the teacher-forced logits (batch,
    target_steps, target_vocabulary_size); ``fit`` takes ``((images, target_in),
    target_out)`` made by :meth:`encode_target`. :meth:`greedy_search` and
    :meth:`beam_search` decode images in the graph; :meth:`caption` returns strings.
    Target ids: ``0`` padding, ``1`` unknown, ``2`` ``<start>``, ``3`` ``<end>``, then
    ``target_vocabulary``.

    ``export(path)`` writes a SavedModel with the endpoints ``caption`` (also
    ``serving_default``: float32 images, input named ``image``, to ``{"caption":
    strings (batch,)}``, by beam search), ``caption_greedy`` (the same, greedily),
    ``caption_beams`` (``{"captions": (batch, beam_width), "scores": (batch,
    beam_width)}``), ``beam_search`` and ``greedy_search`` (images to ``{"ids",
    "scores"}`` and, with attention, ``"attention"`` over the grid's cells) and ``serve``
    (the teacher-forced logits of ``(images, target_in_ids)``). The image shape of the
    endpoints is the one the model was built with.

    Vinyals et al. feed the image to the LSTM as its first input, ``x_{-1} = W_e
    CNN(I)``; here it starts the state instead (as Show, Attend
    and Tell initialise ``h_0, c_0`` from the image), which lets the decoder be any
    cell and needs no image token in the vocabulary.

    Args:
        image_encoder: A Keras layer or model from images (batch, height, width,
            channels) to a feature grid (batch, h, w, c), e.g. a few ``Conv2D`` and
            pooling layers, or a pretrained backbone without its head.
        decoder_cell: A recurrent cell (``keras.layers.GRUCell``, ``PeepholeLSTMCell``,
            ...) without dropout.
        target_vocabulary: The caption tokens (distinct, without the reserved ones).
        attention: ``None`` (default: Show and Tell), ``"bahdanau"`` or ``"luong"``.
        attention_units: Hidden size of the Bahdanau score (default: the cell's units).
        states_from: What the bridge reads: ``"flatten"`` (default: every cell of the
            grid, which keeps where each feature is) or ``"average"`` (the mean over the
            cells, for large grids).
        embedding_dim: Size of the word embeddings (default 32).
        max_target_length: Longest caption, in tokens, the end token excluded (default 16).
        tokens: ``"words"`` (default: split on whitespace, joined with one space) or
            ``"characters"``.
        beam_width: Beams of :meth:`beam_search` and of the exported endpoints (default 4).
        length_penalty: GNMT's ``alpha`` of the beam search's final ranking (default 0).
        **kwargs: Arguments of ``keras.Model`` (``name``).

    Raises:
        ValueError: A ``decoder_cell`` that is not a cell or has dropout, an unknown
            ``attention`` or ``states_from``, a vocabulary that holds reserved tokens or
            duplicates, ``beam_width < 1``, a negative ``length_penalty``; when built, an
            ``image_encoder`` whose output is not a 4-D grid.

    Example:

    >>> encoder = keras.Sequential([keras.layers.Conv2D(4, 3, strides=2, activation="relu")])
    >>> model = ImageCaptioner(encoder, keras.layers.GRUCell(8), ["one", "two"], max_target_length=3)
    >>> model.compile(optimizer="adam")
    >>> images = np.zeros((2, 9, 9, 1), "float32")
    >>> target_in, target_out = model.encode_target(["one two", "two"])
    >>> tuple(model.predict((images, target_in), verbose=0).shape)
    (2, 4, 6)
    >>> model.caption(images).shape
    (2,)

    Reference:
        Vinyals, Toshev, Bengio & Erhan, "Show and Tell: A Neural Image Caption
        Generator", CVPR 2015; Xu et al., "Show, Attend and Tell: Neural Image Caption
        Generation with Visual Attention", ICML 2015.
    """

    SUBLAYERS = ("image_encoder", "decoder_cell")  # the layers get_config serializes

    def __init__(
        self,
        image_encoder,
        decoder_cell,
        target_vocabulary,
        attention=None,
        attention_units=None,
        states_from="flatten",
        embedding_dim=32,
        max_target_length=16,
        tokens="words",
        beam_width=4,
        length_penalty=0.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        # === Checks ===
        self._check_decoder(decoder_cell, target_vocabulary, attention, attention_units, embedding_dim,
                            max_target_length, tokens, beam_width, length_penalty)
        self.states_from = check_choice(type(self).__name__, "states_from", states_from, STATES_FROM)
        if not callable(image_encoder):
            raise ValueError(f"{type(self).__name__}: argument `image_encoder` must be a Keras layer or model from "
                             f"images to a feature grid. Received: {image_encoder!r}")

        # === Layers ===
        self.image_encoder = image_encoder
        self.decoder_cell = decoder_cell
        self._make_decoder_layers()
        self.image_shape = None  # (height, width, channels), known once built

    # === Building ===

    def build(self, input_shape):
        image_shape, target_shape = tuple(input_shape[0]), tuple(input_shape[1])
        if len(image_shape) != 4 or None in image_shape[1:]:
            raise ValueError(f"{type(self).__name__}: expected images of a known shape (batch, height, width, "
                             f"channels). Received shape {image_shape}")
        self.image_shape = tuple(int(d) for d in image_shape[1:])
        grid = self.image_encoder(keras.KerasTensor((None,) + self.image_shape, dtype=self.compute_dtype))
        if len(grid.shape) != 4 or None in grid.shape[1:]:
            raise ValueError(
                f"{type(self).__name__}: argument `image_encoder` must map images {self.image_shape} to a feature "
                f"grid (batch, h, w, c) of known size. Received an output of shape {tuple(grid.shape)}")
        _, h, w, c = grid.shape
        state_dim = h * w * c if self.states_from == "flatten" else c
        self._build_decoder(target_shape, h * w, c, state_dim)
        self.built = True

    # === Encoder ===

    def encode(self, images, training=False):
        """The :class:`~deepkit.models.seq2seq.Encoded` reading of images: the grid's cells
        as memory (batch, h·w, c), none masked, and the decoder's initial states."""
        grid = ops.cast(self.image_encoder(images, training=training), self.compute_dtype)
        _, h, w, c = grid.shape
        batch = ops.shape(grid)[0]
        memory = ops.reshape(grid, (batch, h * w, c))
        summary = ops.reshape(grid, (batch, h * w * c)) if self.states_from == "flatten" else ops.mean(memory, 1)
        states = tuple(bridge(summary) for bridge in self.bridges)
        keys = None if self.attention is None else self.attention_layer.keys(memory)
        mask = ops.ones((batch, h * w), "bool")
        feed = ops.zeros((batch, self.state_sizes[0]), self.compute_dtype)
        return Encoded(memory, keys, mask, states + (feed,))

    def call(self, inputs, training=False):
        images, target_in = inputs
        return self.teacher_forced(self.encode(images, training), target_in, training)

    # === Search ===

    def greedy_search(self, images):
        """Greedy decoding of images (batch, height, width, channels), in one graph.

        Returns:
            ``{"ids": int32 (batch, max_target_length + 1), "scores": (batch,)}`` (the log
            probability) and, with attention, ``"attention"`` (batch, max_target_length + 1,
            h·w). Ids after the end token are padding.

        Raises:
            ValueError: images not of the shape the model was built with.
        """
        return self._compiled(("greedy",), lambda x: self._search(x, None, 0.0))(self._images(images))

    def beam_search(self, images, beam_width=None, length_penalty=None):
        """Beam search of images (batch, height, width, channels), in one graph.

        Args:
            images: float images of the shape the model was built with.
            beam_width: Beams (default the model's ``beam_width``); an integer >= 1.
            length_penalty: GNMT ``alpha`` (default the model's).

        Returns:
            ``{"ids": (batch, beam_width, max_target_length + 1), "scores": (batch,
            beam_width)}`` and, with attention, ``"attention"`` (batch, beam_width,
            max_target_length + 1, h·w); beams best first.

        Raises:
            ValueError: ``beam_width < 1``, a negative ``length_penalty``, or images not of
                the shape the model was built with.
        """
        beam_width, length_penalty = self._beam_options(beam_width, length_penalty)
        function = self._compiled(("beam", beam_width, length_penalty),
                                  lambda x: self._search(x, beam_width, length_penalty))
        return function(self._images(images))

    def caption(self, images, beam_width=None):
        """Images to caption strings (NumPy object array (batch,)), by beam search
        (``beam_width=1``: the same as greedy).

        Raises:
            ValueError: as :meth:`beam_search`.
        """
        found = self.beam_search(images, beam_width)
        return self.decode_ids(found["ids"].numpy()[:, 0])

    def _images(self, images):
        images = ops.convert_to_tensor(images)
        if not self.built:
            self.build(((None,) + tuple(images.shape[1:]), (None, self.max_target_length + 1)))
        if tuple(images.shape[1:]) != self.image_shape or "float" not in str(images.dtype):
            raise ValueError(f"{type(self).__name__}: expected float images of shape (batch, "
                             f"{', '.join(map(str, self.image_shape))}). Received {images.dtype} of shape "
                             f"{tuple(images.shape)}")
        return ops.cast(images, "float32")

    # === Export: strings in the graph ===

    def _tables(self):
        if getattr(self, "_target_tokens", None) is None:
            self._target_tokens = tf.constant(list(TARGET_RESERVED) + self.target_vocabulary, tf.string)
        return (self._target_tokens,)

    def serving_endpoints(self):
        images = tf.TensorSpec((None,) + self.image_shape, tf.float32, name="image")
        ids = tf.TensorSpec((None, None), tf.int32, name="target_in")

        def caption(image):
            found = self._search(image, self.beam_width, self.length_penalty)
            return {"caption": self.ids_to_strings(found["ids"][:, 0])}

        def caption_greedy(image):
            return {"caption": self.ids_to_strings(self._search(image, None, 0.0)["ids"])}

        def caption_beams(image):
            found = self._search(image, self.beam_width, self.length_penalty)
            return {"captions": self.ids_to_strings(found["ids"]), "scores": found["scores"]}

        return {
            "caption": (caption, [images]),  # the first endpoint: serving_default
            "caption_greedy": (caption_greedy, [images]),
            "caption_beams": (caption_beams, [images]),
            **self.search_endpoints(images, ids),
        }

    # === Config ===

    def get_config(self):
        return {
            **super().get_config(),
            "image_encoder": keras.saving.serialize_keras_object(self.image_encoder),
            "states_from": self.states_from,
            **self._decoder_config(),
        }
