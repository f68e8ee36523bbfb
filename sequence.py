"""Layers that act on each position of a sequence on its own: token embeddings and a
Dense layer applied at every time step.

A sequence of T vectors of D values travels as one row of T * D values in time
order, [x_0 (D values), x_1 (D values), ...], which is what x.reshape(n, -1)
gives for a PyTorch batch-first (n, T, D) tensor; a sequence of token ids is a
row of T whole numbers. The layers know D from their constructor and read T off
the row width, so one layer takes sequences of any length.

    Embedding          token ids (n, T) -> vectors (n, T * D), as torch.nn.Embedding
    PositionwiseDense  (n, T * in) -> (n, T * out): the same x_t @ W + b at every step,
                       as torch.nn.Linear applied to an (n, T, in) tensor

split_steps and join_steps turn such rows into one row per time step and back,
so that a per-step computation becomes one matrix product over all n * T steps.
"""

import operator
import random
from itertools import chain

from layers import INITIALIZERS, Layer, Parameter, _positive_int, default_rng, flat_size
from matrix import Matrix


def split_steps(rows, width, time_major=False):
    """Rows of T * width values -> n * T rows of `width` values.

    Batch-major order (the default) keeps each sequence's steps together: row
    i * T + t is step t of sequence i. time_major=True puts step t of every
    sequence together instead, row t * n + i, so that the n rows of one time step
    are a contiguous block (what a recurrent layer walks through).
    """
    starts = range(0, len(rows[0]), width)
    if time_major:
        return [row[s:s + width] for s in starts for row in rows]
    return [row[s:s + width] for row in rows for s in starts]


def join_steps(step_rows, n, time_major=False):
    """The inverse of split_steps: n * T rows of one step each -> n rows of T steps."""
    steps = len(step_rows) // n
    if time_major:
        return [list(chain.from_iterable(step_rows[t * n + i] for t in range(steps))) for i in range(n)]
    return [list(chain.from_iterable(step_rows[i * steps:(i + 1) * steps])) for i in range(n)]


def token_ids(x, limit, owner):
    """The rows of x as lists of ints, each checked to be a whole number in [0, limit).

    A bad id raises ValueError naming the row, the position and the allowed range.
    """
    if not isinstance(x, Matrix):
        raise TypeError(f"{owner} takes token ids as a Matrix of shape (n, T), got {type(x).__name__}")
    checked, width = [], x.shape[1]
    for i, row in enumerate(x.rows):
        if len(row) != width:  # rows built without checks (Matrix.from_rows) must still be one length
            raise ValueError(f"{owner}: row {i} has {len(row)} token ids, row 0 has {width}")
        ids = list(map(int, row))
        # ids == row compares 3 with 3.0 as equal, so only fractions and out-of-range ids go the slow way
        if ids != row or min(ids) < 0 or max(ids) >= limit:
            for t, value in enumerate(row):
                if value != int(value) or not 0 <= value < limit:
                    raise ValueError(f"{owner}: token id {value:g} at row {i}, position {t} is out of range; "
                                     f"ids are whole numbers from 0 to {limit - 1}")
        checked.append(ids)
    return checked


class Embedding(Layer):
    """A table of learned vectors, one per token: torch.nn.Embedding(num_embeddings, embedding_dim).

    Shapes: ids (n, T) whole numbers in [0, num_embeddings), weight W (num_embeddings, D),
    Y (n, T * D) with step t of row i
        Y[i, t*D:(t+1)*D] = W[ids[i, t]]
    which is a product with one-hot rows, e_k @ W = W[k], done as a lookup.
    Backward, given dY: each row of W collects the gradient of every step that read it,
        dW[k] = sum over the (i, t) with ids[i, t] == k of dY[i, t*D:(t+1)*D]
    and the ids, being whole numbers, have no gradient: backward returns None.
    W starts as standard normal draws, as PyTorch's does.
    """

    def __init__(self, num_embeddings, embedding_dim, rng=None):
        self.num_embeddings = _positive_int(num_embeddings, "Embedding num_embeddings")
        self.embedding_dim = _positive_int(embedding_dim, "Embedding embedding_dim")
        rng = rng if rng is not None else default_rng()
        self.weight = Parameter(Matrix.random(num_embeddings, embedding_dim, rng, "normal", 1.0), "weight")
        self.ids = None

    def forward(self, x, training=False):
        self.ids = ids = token_ids(x, self.num_embeddings, repr(self))
        table = self.weight.value.rows
        lookup = table.__getitem__
        width = len(ids[0]) * self.embedding_dim
        return Matrix.from_rows([list(chain.from_iterable(map(lookup, row))) for row in ids], width)

    def backward(self, grad, input_grad=True):
        ids, d = self._saved(self.ids), self.embedding_dim
        add = operator.add
        table_grad = [[0.0] * d for _ in range(self.num_embeddings)]
        for row_ids, row_grad in zip(ids, grad.rows):
            for start, k in zip(range(0, len(row_grad), d), row_ids):
                table_grad[k] = list(map(add, table_grad[k], row_grad[start:start + d]))
        self.weight.grad = Matrix.from_rows(table_grad, d)
        return None

    def parameters(self):
        return [self.weight]

    def output_shape(self, input_shape):
        """(T,) ids -> (T, D) vectors."""
        return (flat_size(input_shape), self.embedding_dim)

    @classmethod
    def from_config(cls, config):
        # a private generator: loading a model must not move the shared one
        return cls(**config, rng=random.Random(0))

    def get_config(self):
        return {"num_embeddings": self.num_embeddings, "embedding_dim": self.embedding_dim}

    def __repr__(self):
        return f"Embedding({self.num_embeddings}, {self.embedding_dim})"


class PositionwiseDense(Layer):
    """Dense applied at every time step: torch.nn.Linear on an (n, T, in) tensor.

    Shapes: X (n, T * in), W (in, out), b (1, out), Y (n, T * out), with for each step t
        y_t = x_t @ W + b
    Stacking the n * T steps as rows of X_s (n*T, in) makes this one product,
        Y_s = X_s @ W + b,
    and backward is Dense's on those rows, given dY_s:
        dW = X_s.T @ dY_s      db = sum of dY_s over all n * T rows      dX_s = dY_s @ W.T
    (the same W at every step, so its gradient sums over the steps as well as the rows).
    """

    def __init__(self, in_features, out_features, init="xavier", bias=True, rng=None):
        self.in_features = _positive_int(in_features, "PositionwiseDense in_features")
        self.out_features = _positive_int(out_features, "PositionwiseDense out_features")
        if init not in INITIALIZERS:
            raise ValueError(f"unknown init {init!r}; valid: {', '.join(sorted(INITIALIZERS))}")
        self.init = init
        rng = rng if rng is not None else default_rng()
        self.weight = Parameter(INITIALIZERS[init](in_features, out_features, rng), "weight")
        self.bias = Parameter(Matrix.zeros(1, out_features), "bias") if bias else None
        self.steps = None

    def forward(self, x, training=False):
        n, width = x.shape
        if width % self.in_features:
            raise ValueError(f"{self!r} takes time steps of {self.in_features} values, but its input rows "
                             f"have {width} values (not a multiple of {self.in_features})")
        self.steps = Matrix.from_rows(split_steps(x.rows, self.in_features), self.in_features)
        y = self.steps @ self.weight.value
        if self.bias is not None:
            y = y + self.bias.value
        return Matrix.from_rows(join_steps(y.rows, n), width // self.in_features * self.out_features)

    def backward(self, grad, input_grad=True):
        steps = self._saved(self.steps)
        n = grad.shape[0]
        grad_steps = Matrix.from_rows(split_steps(grad.rows, self.out_features), self.out_features)
        self.weight.grad = steps.T @ grad_steps
        if self.bias is not None:
            self.bias.grad = grad_steps.sum(axis=0)
        if not input_grad:
            return None
        grad_x = grad_steps @ self.weight.value.T
        return Matrix.from_rows(join_steps(grad_x.rows, n), grad.shape[1] // self.out_features * self.in_features)

    def parameters(self):
        return [self.weight] if self.bias is None else [self.weight, self.bias]

    def output_shape(self, input_shape):
        size = flat_size(input_shape)
        if size % self.in_features:
            raise ValueError(f"{self!r} takes time steps of {self.in_features} values, but its input has shape "
                             f"{tuple(input_shape)} ({size} values, not a multiple of {self.in_features})")
        return (size // self.in_features, self.out_features)

    @classmethod
    def from_config(cls, config):
        return cls(**dict(config, init="zeros"))  # the saved weights replace them at once

    def get_config(self):
        return {"in_features": self.in_features, "out_features": self.out_features, "init": self.init,
                "bias": self.bias is not None}

    def __repr__(self):
        return f"PositionwiseDense({self.in_features} -> {self.out_features})"

