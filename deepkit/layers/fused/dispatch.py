"""Which loop a deepkit recurrent layer traces: the fused op or Keras' general one.

:func:`fused_blocker` names what stops the fused path for a layer (``None``
when nothing does); the layer's ``use_fused`` option (``"auto"``, ``True``,
``False``, as Keras' ``use_cudnn``) says what to do about it, and
:func:`general_path` switches the fused path off for the calls traced inside
it. The switch is a ``contextvars.ContextVar``, so that a block changes no
module state and one thread's block leaves another thread's tracing alone.
"""

import contextlib
import contextvars

import keras

USE_FUSED_CHOICES = ("auto", True, False)

GENERAL_PATH_REASON = "fast path switched off"

_GENERAL_PATH = contextvars.ContextVar("deepkit_fused_general_path", default=False)


@contextlib.contextmanager
def general_path():
    """Within this block, deepkit's recurrent layers trace Keras' general loop.

    It wins over ``use_fused=True``: the block is how a test or a debugging
    session compares the two paths. The choice is made when a layer's call is
    traced, in the thread (and context) that traces it.
    """
    token = _GENERAL_PATH.set(True)
    try:
        yield
    finally:
        _GENERAL_PATH.reset(token)


def general_path_active():
    """Whether the calls traced now are inside :func:`general_path`."""
    return _GENERAL_PATH.get()


def check_use_fused(owner, use_fused):
    """Returns ``use_fused`` if it is ``"auto"``, ``True`` or ``False``.

    Raises:
        ValueError: anything else (``1`` and ``"true"`` included).
    """
    valid = isinstance(use_fused, bool) or (isinstance(use_fused, str) and use_fused == "auto")
    if not valid:
        raise ValueError(
            f"{owner}: argument `use_fused` must be one of {list(USE_FUSED_CHOICES)}. "
            f"Received: use_fused={use_fused!r}"
        )
    return use_fused


def fused_blocker(layer):
    """Why ``layer`` cannot take the fused path now, or ``None`` when it can.

    The generic conditions first (the layer's ``use_fused``, :func:`general_path`,
    the TensorFlow backend, ``unroll=False``, tanh and sigmoid activations), then
    the layer's own ``_fused_blocker()`` (e.g. that it has no fused kernel).
    """
    cell = layer.cell
    if getattr(layer, "use_fused", "auto") is False:
        return "use_fused=False"
    if general_path_active():
        return GENERAL_PATH_REASON
    if keras.backend.backend() != "tensorflow":
        return f"backend {keras.backend.backend()}"
    if layer.unroll:
        return "unroll=True"
    if getattr(cell, "activation", None) is not keras.activations.tanh:
        return "activation is not tanh"
    if getattr(cell, "recurrent_activation", None) is not keras.activations.sigmoid:
        return "recurrent_activation is not sigmoid"
    return layer._fused_blocker()


def choose_path(layer, owner):
    """:func:`fused_blocker` for a layer about to trace its loop.

    Returns:
        ``None`` for the fused path, else the reason for the general one.

    Raises:
        ValueError: the layer has ``use_fused=True`` and something other than
            :func:`general_path` stops the fused path.
    """
    blocker = fused_blocker(layer)
    if blocker is not None and blocker != GENERAL_PATH_REASON and getattr(layer, "use_fused", "auto") is True:
        raise ValueError(f"{owner}: use_fused=True but the fused path cannot run: {blocker}")
    return blocker
