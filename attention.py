"""Multi-head self-attention (Vaswani et al., 2017), as torch.nn.MultiheadAttention.

Each sample is a sequence of T steps of D = embed_dim values, one row of T * D
numbers (sequence.split_steps). Every step looks at every step of its own
sequence (with causal=True, only at itself and the steps before it) and takes
a weighted average of what it finds there; the weights come from how well
its query matches each step's key. H heads do this side by side, each in its
own slice of dh = D / H dimensions.

docs/attention.md derives the backward pass and works one small example by hand.
"""

import math
import random
from operator import mul

from layers import Layer, Parameter, _positive_int, default_rng, flat_size
from matrix import Matrix
from normalization import sequences_of, steps_of


def attention_weights(scores, scale, causal):
    """Row-wise softmax of scale * scores, (T, T) -> (T, T).

    With causal=True, step i sees steps 0..i only: the scores to its right are
    treated as -inf, so their weights are exactly 0 (and they cost no exp()).
    The row maximum is subtracted first: exp() of a large score overflows.
    """
    rows, exp, size = [], math.exp, scores.shape[1]
    for i, row in enumerate(scores.rows):
        visible = row[:i + 1] if causal else row
        top = max(visible)
        exps = [exp((score - top) * scale) for score in visible]
        total = sum(exps)
        weights = [value / total for value in exps]
        if causal:
            weights += [0.0] * (size - i - 1)
        rows.append(weights)
    return Matrix.from_rows(rows, size)


def softmax_backward(weights, grad_weights):
    """dL/dS for A = softmax(S) row by row, given dA = dL/dA; both (T, T).

        dS_ij = A_ij * (dA_ij - sum_k A_ik dA_ik)
    the softmax's Jacobian diag(a) - a a^T applied to each row. Masked
    entries have A_ij = 0, so they get no gradient, as -inf scores should.
    """
    rows = []
    for a_row, g_row in zip(weights.rows, grad_weights.rows):
        dot = sum(map(mul, a_row, g_row))
        rows.append([a * (g - dot) for a, g in zip(a_row, g_row)])
    return Matrix.from_rows(rows, weights.shape[1])


def _columns(rows, start, width):
    """The (T, width) matrix of columns start..start+width-1 of `rows`."""
    return Matrix.from_rows([row[start:start + width] for row in rows], width)


class MultiHeadSelfAttention(Layer):
    """Scaled dot-product self-attention with H heads, as torch.nn.MultiheadAttention(
    embed_dim, num_heads, bias=bias, batch_first=True) called with query = key = value = x
    (and, for causal=True, attn_mask = the upper triangle above the diagonal: step i
    cannot see steps j > i). No dropout.

    Shapes, per sample: X (T, D) travelling as a row of T * D values; D = embed_dim,
    H = num_heads, dh = D / H. Parameters (PyTorch's in_proj_weight and out_proj.weight
    transposed, so that every product is X @ W as in Dense):
        in_proj_weight  (D, 3D)   columns [W_q | W_k | W_v]      in_proj_bias  (1, 3D)
        out_proj_weight (D, D)                                   out_proj_bias (1, D)

    Forward, for each sample:
        [Q | K | V] = X @ in_proj_weight + in_proj_bias          (T, 3D)
        for each head h, on its columns h*dh .. (h+1)*dh - 1 of Q, K and V:
            S_h = Q_h @ K_h.T                                     (T, T)
            A_h = softmax(S_h / sqrt(dh)) row by row             (causal: A_h[i][j] = 0 for j > i)
            O_h = A_h @ V_h                                       (T, dh)
        O = [O_1 | ... | O_H]                                     (T, D)
        Y = O @ out_proj_weight + out_proj_bias                   (T, D)

    Backward, given dY (T, D), the chain rule through each step above in reverse:
        dout_proj_weight = O.T @ dY        dout_proj_bias = sum of dY over rows
        dO = dY @ out_proj_weight.T
        for each head h, with dO_h its columns of dO:
            dA_h = dO_h @ V_h.T            dV_h = A_h.T @ dO_h
            dS_h = A_h * (dA_h - rowsum(A_h * dA_h)) / sqrt(dh)  (softmax_backward)
            dQ_h = dS_h @ K_h              dK_h = dS_h.T @ Q_h
        d[Q | K | V] = the heads' dQ_h, dK_h, dV_h put back in their columns
        din_proj_weight = X.T @ d[Q | K | V]     din_proj_bias = sum over rows
        dX = d[Q | K | V] @ in_proj_weight.T
    Parameter gradients are summed over the samples of the batch.

    Initialization as PyTorch's: in_proj_weight Xavier-uniform (bound sqrt(6 / (D + 3D))),
    out_proj_weight uniform on [-1/sqrt(D), 1/sqrt(D)], biases zero.
    """

    def __init__(self, embed_dim, num_heads, causal=False, bias=True, rng=None):
        self.embed_dim = _positive_int(embed_dim, "MultiHeadSelfAttention embed_dim")
        self.num_heads = _positive_int(num_heads, "MultiHeadSelfAttention num_heads")
        if embed_dim % num_heads:
            raise ValueError(f"MultiHeadSelfAttention embed_dim ({embed_dim}) must be divisible by "
                             f"num_heads ({num_heads})")
        for name, value in (("causal", causal), ("bias", bias)):
            if not isinstance(value, bool):
                raise ValueError(f"MultiHeadSelfAttention {name} must be true or false, got {value!r}")
        self.causal = causal
        self.head_dim = embed_dim // num_heads
        rng = rng if rng is not None else default_rng()
        size = embed_dim
        self.in_proj_weight = Parameter(
            Matrix.random(size, 3 * size, rng, "uniform", math.sqrt(6.0 / (4 * size))), "in_proj_weight")
        self.out_proj_weight = Parameter(
            Matrix.random(size, size, rng, "uniform", 1.0 / math.sqrt(size)), "out_proj_weight")
        self.in_proj_bias = Parameter(Matrix.zeros(1, 3 * size), "in_proj_bias") if bias else None
        self.out_proj_bias = Parameter(Matrix.zeros(1, size), "out_proj_bias") if bias else None
        self.tokens = self.attended = self.heads = None
        self.n_samples = 0

    def forward(self, x, training=False):
        size, head_dim = self.embed_dim, self.head_dim
        n_samples = x.shape[0]
        tokens = steps_of(x, size, repr(self))  # (n * T, D)
        steps = tokens.shape[0] // n_samples
        qkv = tokens @ self.in_proj_weight.value
        if self.in_proj_bias is not None:
            qkv = qkv + self.in_proj_bias.value
        scale = 1.0 / math.sqrt(head_dim)
        heads, attended = [], []
        for start in range(0, tokens.shape[0], steps):
            sample = qkv.rows[start:start + steps]
            outputs = [[] for _ in range(steps)]
            for column in range(0, size, head_dim):
                query = _columns(sample, column, head_dim)
                key = _columns(sample, size + column, head_dim)
                value = _columns(sample, 2 * size + column, head_dim)
                weights = attention_weights(query @ key.T, scale, self.causal)
                for output, head_row in zip(outputs, (weights @ value).rows):
                    output += head_row
                heads.append((query, key, value, weights))
            attended += outputs
        self.tokens, self.heads, self.n_samples = tokens, heads, n_samples
        self.attended = Matrix.from_rows(attended, size)  # O, (n * T, D)
        y = self.attended @ self.out_proj_weight.value
        if self.out_proj_bias is not None:
            y = y + self.out_proj_bias.value
        return sequences_of(y, n_samples)

    def backward(self, grad, input_grad=True):
        attended, size, head_dim = self._saved(self.attended), self.embed_dim, self.head_dim
        grad = steps_of(grad, size, repr(self))
        self.out_proj_weight.grad = attended.T @ grad
        if self.out_proj_bias is not None:
            self.out_proj_bias.grad = grad.sum(axis=0)
        grad_attended = grad @ self.out_proj_weight.value.T
        steps = grad.shape[0] // self.n_samples
        scale = 1.0 / math.sqrt(head_dim)
        heads = iter(self.heads)
        grad_qkv = []
        for start in range(0, grad.shape[0], steps):
            sample = grad_attended.rows[start:start + steps]
            rows = [[] for _ in range(steps)]
            grad_queries, grad_keys, grad_values = [], [], []
            for column in range(0, size, head_dim):
                query, key, value, weights = next(heads)
                grad_output = _columns(sample, column, head_dim)
                grad_scores = softmax_backward(weights, grad_output @ value.T) * scale
                grad_queries.append(grad_scores @ key)
                grad_keys.append(grad_scores.T @ query)
                grad_values.append(weights.T @ grad_output)
            for parts in (grad_queries, grad_keys, grad_values):  # back into the [Q | K | V] columns
                for head in parts:
                    for row, head_row in zip(rows, head.rows):
                        row += head_row
            grad_qkv += rows
        grad_qkv = Matrix.from_rows(grad_qkv, 3 * size)
        self.in_proj_weight.grad = self.tokens.T @ grad_qkv
        if self.in_proj_bias is not None:
            self.in_proj_bias.grad = grad_qkv.sum(axis=0)
        if not input_grad:
            return None
        return sequences_of(grad_qkv @ self.in_proj_weight.value.T, self.n_samples)

    def parameters(self):
        return [p for p in (self.in_proj_weight, self.in_proj_bias, self.out_proj_weight, self.out_proj_bias)
                if p is not None]

    def output_shape(self, input_shape):
        if flat_size(input_shape) % self.embed_dim:
            raise ValueError(f"{self!r} takes steps of {self.embed_dim} values, but its input has shape "
                             f"{tuple(input_shape)} ({flat_size(input_shape)} values, not a multiple of "
                             f"{self.embed_dim})")
        return (flat_size(input_shape) // self.embed_dim, self.embed_dim)

    @classmethod
    def from_config(cls, config):
        # the saved weights replace the random ones at once: drawing them from a generator
        # of its own keeps loading a model from moving the shared one
        return cls(**dict(config, rng=random.Random(0)))

    def get_config(self):
        return {"embed_dim": self.embed_dim, "num_heads": self.num_heads, "causal": self.causal,
                "bias": self.in_proj_bias is not None}

    def __repr__(self):
        options = "".join((", causal" if self.causal else "", "" if self.in_proj_bias is not None else ", bias=False"))
        return f"MultiHeadSelfAttention({self.embed_dim}, heads={self.num_heads}{options})"

