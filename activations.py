"""Activation functions, each a layer without parameters.

Every activation is a Layer (layers.py) without parameters:
    forward(X, training=False) -> Y      applied entry by entry (softmax: row by row)
    backward(dY) -> dX                   the chain rule: dX = dY * f'(X)

Pure Python raises OverflowError where NumPy would warn, so each function is
written to stay finite for any finite input (the tests try +-1000).
"""

import math

from layers import Layer
from matrix import Matrix

_exp = math.exp


class Activation(Layer):
    """Base class: a Layer with no parameters; each subclass sets its config `name`."""

    output = None  # what forward kept for backward
    input = None


# ------------------------------------------------------------------- sigmoid
def sigmoid(x):
    """sigma(x) = 1 / (1 + e^-x), in two branches so exp() only sees x <= 0.

    For x >= 0, e^-x <= 1. For x < 0 the equal form e^x / (1 + e^x) is used,
    since e^-x would overflow for x below about -709.
    """
    if x >= 0.0:
        return 1.0 / (1.0 + _exp(-x))
    z = _exp(x)
    return z / (1.0 + z)


class Sigmoid(Activation):
    """Y = sigma(X) = 1 / (1 + e^-X).

    Derivative: sigma'(x) = sigma(x) * (1 - sigma(x)), so dX = dY * Y * (1 - Y).
    """

    name = "sigmoid"

    def forward(self, x, training=False):
        self.output = x.map(sigmoid)
        return self.output

    def backward(self, grad, input_grad=True):
        return Matrix.from_rows(
            [[g * y * (1.0 - y) for g, y in zip(grow, yrow)] for grow, yrow in zip(grad.rows, self._saved(self.output).rows)],
            grad.shape[1],
        )


# --------------------------------------------------------------------- ReLU
class ReLU(Activation):
    """Y = max(0, X).

    Derivative: 1 where x > 0, else 0 (we take 0 at x = 0, as PyTorch does),
    so dX = dY where X > 0, else 0.
    """

    name = "relu"

    def forward(self, x, training=False):
        self.output = Matrix.from_rows([[v if v > 0.0 else 0.0 for v in row] for row in x.rows], x.shape[1])
        return self.output

    def backward(self, grad, input_grad=True):
        # output > 0 exactly where input > 0, so the output serves as the mask
        return Matrix.from_rows(
            [[g if y > 0.0 else 0.0 for g, y in zip(grow, yrow)] for grow, yrow in zip(grad.rows, self._saved(self.output).rows)],
            grad.shape[1],
        )


class LeakyReLU(Activation):
    """Y = X where X > 0, else alpha * X (Maas et al., 2013).

    Derivative: 1 where x > 0, else alpha, so dX = dY * (1 or alpha).
    """

    name = "leaky_relu"

    def __init__(self, alpha=0.01):
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0.0 <= alpha < 1.0:
            raise ValueError(f"LeakyReLU alpha must be a number in [0, 1), got {alpha!r}")
        self.alpha = float(alpha)

    def forward(self, x, training=False):
        alpha = self.alpha
        self.input = x
        return Matrix.from_rows([[v if v > 0.0 else alpha * v for v in row] for row in x.rows], x.shape[1])

    def backward(self, grad, input_grad=True):
        alpha = self.alpha
        return Matrix.from_rows(
            [[g if v > 0.0 else alpha * g for g, v in zip(grow, xrow)] for grow, xrow in zip(grad.rows, self._saved(self.input).rows)],
            grad.shape[1],
        )

    def get_config(self):
        return {"alpha": self.alpha}

    def __repr__(self):
        return f"LeakyReLU(alpha={self.alpha})"


# --------------------------------------------------------------------- tanh
class Tanh(Activation):
    """Y = tanh(X) = (e^X - e^-X) / (e^X + e^-X), computed by math.tanh (never overflows).

    Derivative: tanh'(x) = 1 - tanh(x)^2, so dX = dY * (1 - Y^2).
    """

    name = "tanh"

    def forward(self, x, training=False):
        self.output = x.map(math.tanh)
        return self.output

    def backward(self, grad, input_grad=True):
        return Matrix.from_rows(
            [[g * (1.0 - y * y) for g, y in zip(grow, yrow)] for grow, yrow in zip(grad.rows, self._saved(self.output).rows)],
            grad.shape[1],
        )


class Linear(Activation):
    """Y = X (the identity, also called "pass"). Derivative 1, so dX = dY."""

    name = "linear"

    def forward(self, x, training=False):
        self.input = x
        return x

    def backward(self, grad, input_grad=True):
        self._saved(self.input)
        return grad


# ------------------------------------------------------------------ softmax
def softmax_rows(x):
    """softmax(z)_j = e^(z_j - m) / sum_k e^(z_k - m) for each row z, with m = max(z).

    Subtracting the row maximum changes nothing mathematically (it cancels in
    the ratio) but keeps every exponent <= 0, so exp() cannot overflow.
    """
    out = []
    for row in x.rows:
        top = max(row)
        exps = [_exp(v - top) for v in row]
        total = sum(exps)
        out.append([e / total for e in exps])
    return Matrix.from_rows(out, x.shape[1])


class Softmax(Activation):
    """Y = softmax(X) over each row: Y_ij = e^X_ij / sum_k e^X_ik.

    The Jacobian of one row is dY_i/dX_j = Y_i (delta_ij - Y_j), so for an
    upstream gradient g the row's input gradient is
        dX = Y * (g - sum_j g_j Y_j)
    (a Jacobian-vector product, not an elementwise derivative).
    Trained with cross-entropy, the network skips this layer and uses the fused
    CrossEntropy loss on the logits instead (see losses.py).
    """

    name = "softmax"

    def forward(self, x, training=False):
        self.output = softmax_rows(x)
        return self.output

    def backward(self, grad, input_grad=True):
        out = []
        for grow, yrow in zip(grad.rows, self._saved(self.output).rows):
            dot = sum(g * y for g, y in zip(grow, yrow))
            out.append([y * (g - dot) for g, y in zip(grow, yrow)])
        return Matrix.from_rows(out, grad.shape[1])


# The config name of each activation -> its class. "pass" is an alias of "linear".
ACTIVATIONS = {
    "sigmoid": Sigmoid,
    "relu": ReLU,
    "leaky_relu": LeakyReLU,
    "tanh": Tanh,
    "linear": Linear,
    "pass": Linear,
    "softmax": Softmax,
}


def get_activation(name, **options):
    """The activation called `name` in a config, e.g. get_activation("relu")."""
    try:
        cls = ACTIVATIONS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown activation {name!r}; valid: {', '.join(sorted(ACTIVATIONS))}") from None
    return cls(**options)
