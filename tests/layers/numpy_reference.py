"""NumPy re-implementations of the SPEC's recurrent equations, written independently of deepkit.

They follow ``keras.layers.RNN``'s conventions for masks and ``go_backwards``:
a masked step carries the states over unchanged and outputs the previous output
(or zeros with ``zero_output_for_mask``); ``go_backwards`` reads the sequence end
to start and returns the outputs in that (reversed) order.
"""

import numpy as np


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def layer_norm(v, gamma, beta, epsilon):
    """Ba, Kiros & Hinton (2016): ``v`` normalized over its last axis, then ``gamma ⊙ · + beta``."""
    mean = v.mean(axis=-1, keepdims=True)
    variance = ((v - mean) ** 2).mean(axis=-1, keepdims=True)
    return (v - mean) / np.sqrt(variance + epsilon) * gamma + beta


def gate_norms(norms, name, gates, epsilon):
    """One normalizing function per gate ``k`` for term ``name`` (identity without ``norms``):
    LN over gate k's own units with gate k's slice of the gain and bias."""
    if norms is None:
        return [lambda v: v] * gates
    gammas, betas = (np.split(w, gates) for w in norms[name])
    return [lambda v, g=g, b=b: layer_norm(v, g, b, epsilon) for g, b in zip(gammas, betas)]


def lstm_step(x, h, c, kernel, recurrent_kernel, bias, peephole, kind, norms=None, epsilon=1e-3):
    """SPEC section 2, peephole LSTM, one step. Gate order i, f, c, o.

    With ``norms`` (``{"input": (gain, bias), "recurrent": ..., "cell": ...}``), the layer
    normalized LSTM of Ba et al. (2016): every ``x W_k`` and ``h U_k`` normalized on its own,
    peepholes on the raw cell state, ``h = o ⊙ tanh(LN(c_t))``; the raw ``c_t`` is carried."""
    units = h.shape[-1]
    W = np.split(kernel, 4, axis=1)
    U = np.split(recurrent_kernel, 4, axis=1)
    b = np.split(bias, 4) if bias is not None else [0.0] * 4
    ln_x, ln_h = gate_norms(norms, "input", 4, epsilon), gate_norms(norms, "recurrent", 4, epsilon)
    a = [ln_x[k](x @ W[k]) + ln_h[k](h @ U[k]) + b[k] for k in range(4)]
    if kind == "diagonal":
        v_i, v_f, v_o = np.split(peephole, 3)
        peek_i, peek_f = c * v_i, c * v_f
    elif kind == "full":
        V = np.split(peephole, 3, axis=1)
        peek_i, peek_f = c @ V[0], c @ V[1]
    else:
        peek_i = peek_f = np.zeros_like(c)
    i = sigmoid(a[0] + peek_i)
    f = sigmoid(a[1] + peek_f)
    c_new = f * c + i * np.tanh(a[2])
    if kind == "diagonal":
        peek_o = c_new * v_o
    elif kind == "full":
        peek_o = c_new @ V[2]
    else:
        peek_o = np.zeros((x.shape[0], units))
    o = sigmoid(a[3] + peek_o)
    c_read = c_new if norms is None else gate_norms(norms, "cell", 1, epsilon)[0](c_new)
    return o * np.tanh(c_read), c_new


def gru_step(x, h, kernel, recurrent_kernel, bias, relevance_gate, norms=None, epsilon=1e-3):
    """SPEC section 2, GRU with relevance gate, one step, in the lecture notes' convention:
    h_t = Γ_u ⊙ ĥ_t + (1 - Γ_u) ⊙ h_{t-1}. Gate order Γ_u, Γ_r, candidate.

    With ``norms`` (``{"input": (gain, bias), "recurrent": ...}``), layer normalization (Ba et
    al. 2016) of every ``x W_k`` and recurrent product on its own, the candidate's after the
    relevance gate: ``LN((Γ_r ⊙ h) U_c)``."""
    gates = 3 if relevance_gate else 2
    W = np.split(kernel, gates, axis=1)
    U = np.split(recurrent_kernel, gates, axis=1)
    b = np.split(bias, gates) if bias is not None else [0.0] * gates
    ln_x, ln_h = gate_norms(norms, "input", gates, epsilon), gate_norms(norms, "recurrent", gates, epsilon)
    update = sigmoid(ln_x[0](x @ W[0]) + ln_h[0](h @ U[0]) + b[0])
    if relevance_gate:
        relevance = sigmoid(ln_x[1](x @ W[1]) + ln_h[1](h @ U[1]) + b[1])
        candidate = np.tanh(ln_x[2](x @ W[2]) + ln_h[2]((relevance * h) @ U[2]) + b[2])
    else:
        candidate = np.tanh(ln_x[1](x @ W[1]) + ln_h[1](h @ U[1]) + b[1])
    return update * candidate + (1.0 - update) * h


def run_rnn(step, x, states, mask=None, go_backwards=False, zero_output_for_mask=False):
    """Runs ``step(x_t, *states) -> new_states`` (first state is the output) over ``x``.

    Returns ``(outputs (B, T, U) in processing order, last_output, final_states)``.
    """
    batch, timesteps, _ = x.shape
    order = range(timesteps - 1, -1, -1) if go_backwards else range(timesteps)
    states = [np.array(s, dtype="float64") for s in states]
    previous_output = np.zeros_like(states[0])
    outputs = []
    for t in order:
        new_states = step(x[:, t], *states)
        if not isinstance(new_states, tuple):
            new_states = (new_states,)
        keep = np.ones((batch, 1), bool) if mask is None else mask[:, t][:, None].astype(bool)
        states = [np.where(keep, new, old) for new, old in zip(new_states, states)]
        masked_output = np.zeros_like(new_states[0]) if zero_output_for_mask else previous_output
        output = np.where(keep, new_states[0], masked_output)
        outputs.append(output)
        previous_output = output
    return np.stack(outputs, axis=1), outputs[-1], states


def split_norms(weights, names):
    """``(weights before the norms, {name: (gain, bias)})`` from a layer's weight list whose
    last ``2 · len(names)`` entries are the layer-normalization gains and biases."""
    if not names:
        return list(weights), None
    count = 2 * len(names)
    head, tail = list(weights[:-count]), weights[-count:]
    return head, {name: (tail[2 * k], tail[2 * k + 1]) for k, name in enumerate(names)}


def lstm(x, weights, kind, initial_state=None, layer_norm=False, epsilon=1e-3, **rnn_kwargs):
    weights, norms = split_norms(weights, ("input", "recurrent", "cell") if layer_norm else ())
    kernel, recurrent_kernel, bias = weights[:3]
    peephole = weights[3] if kind is not None else None
    units = recurrent_kernel.shape[0]
    if initial_state is None:
        initial_state = [np.zeros((x.shape[0], units))] * 2

    def step(x_t, h, c):
        return lstm_step(x_t, h, c, kernel, recurrent_kernel, bias, peephole, kind, norms, epsilon)

    return run_rnn(step, x, initial_state, **rnn_kwargs)


def gru(x, weights, relevance_gate=True, initial_state=None, layer_norm=False, epsilon=1e-3, **rnn_kwargs):
    weights, norms = split_norms(weights, ("input", "recurrent") if layer_norm else ())
    kernel, recurrent_kernel, bias = weights[:3]
    units = recurrent_kernel.shape[0]
    if initial_state is None:
        initial_state = [np.zeros((x.shape[0], units))]

    def step(x_t, h):
        return gru_step(x_t, h, kernel, recurrent_kernel, bias, relevance_gate, norms, epsilon)

    return run_rnn(step, x, initial_state, **rnn_kwargs)


def finite_difference_gradient(loss, arrays, index_sets, eps=1e-6):
    """Central differences of ``loss(arrays)`` w.r.t. chosen entries of each array."""
    gradients = []
    for k, indices in enumerate(index_sets):
        grad = []
        for index in indices:
            plus = [a.copy() for a in arrays]
            minus = [a.copy() for a in arrays]
            plus[k][index] += eps
            minus[k][index] -= eps
            grad.append((loss(plus) - loss(minus)) / (2 * eps))
        gradients.append(np.array(grad))
    return gradients


def padding_mask(kind, timesteps, lengths):
    """``(batch, timesteps)`` mask of sequences of ``lengths`` padded on the ``"right"`` or
    ``"left"``; ``None`` for ``kind=None``."""
    lengths = np.asarray(lengths)
    steps = np.arange(timesteps)[None, :]
    if kind == "right":
        return steps < lengths[:, None]
    if kind == "left":
        return steps >= (timesteps - lengths)[:, None]
    return None


def assert_gradients_match(layer, x, weights, numpy_outputs, mask, rng, samples=6):
    """Gradients of ``sum(layer(x) * readout)`` w.r.t. ``x`` and every weight equal central
    finite differences of the NumPy ``numpy_outputs(x, weights)`` at random entries."""
    import tensorflow as tf

    readout = rng.normal(size=tuple(layer(x[:1], mask=None if mask is None else mask[:1]).shape[1:]))
    x_var = tf.Variable(x)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer(x_var, mask=mask) * readout)
    grads = tape.gradient(loss, [x_var] + layer.trainable_weights)

    def numpy_loss(arrays):
        return np.sum(numpy_outputs(arrays[0], arrays[1:]) * readout)

    arrays = [x] + list(weights)
    index_sets = [[tuple(rng.integers(0, s) for s in a.shape) for _ in range(samples)] for a in arrays]
    expected = finite_difference_gradient(numpy_loss, arrays, index_sets)
    for grad, indices, exp in zip(grads, index_sets, expected):
        got = np.array([np.asarray(grad)[i] for i in indices])
        np.testing.assert_allclose(got, exp, rtol=1e-5, atol=1e-7)
