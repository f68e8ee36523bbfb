"""Layers with parameters, and the Parameter that holds a weight and its gradient.

Every layer has one interface:
    forward(X, training=False) -> Y
    backward(dY) -> dX       given dY = dL/dY, returns dL/dX and fills each
                             parameter's .grad with dL/d(parameter)
    parameters() -> list of Parameter
Gradients are computed here; the optimizer applies them in a separate step.
"""

import math
import random

from matrix import Matrix


class Parameter:
    """A trainable matrix: `.value`, its gradient `.grad` (same shape) and a `.name`."""

    __slots__ = ("value", "grad", "name")

    def __init__(self, value, name="parameter"):
        self.value = value
        self.grad = Matrix.zeros(*value.shape)
        self.name = name

    @property
    def shape(self):
        return self.value.shape

    def zero_grad(self):
        self.grad = Matrix.zeros(*self.value.shape)

    def __repr__(self):
        return f"Parameter({self.name}, shape={self.value.shape})"


# ------------------------------------------------------------- initializers
def _init_he(fan_in, fan_out, rng):
    """He et al. (2015): normal, std = sqrt(2 / fan_in); keeps ReLU activations' variance."""
    return Matrix.random(fan_in, fan_out, rng, "normal", math.sqrt(2.0 / fan_in))


def _init_xavier(fan_in, fan_out, rng):
    """Glorot & Bengio (2010): uniform on [-a, a], a = sqrt(6 / (fan_in + fan_out))."""
    return Matrix.random(fan_in, fan_out, rng, "uniform", math.sqrt(6.0 / (fan_in + fan_out)))


def _init_lecun(fan_in, fan_out, rng):
    """LeCun et al. (1998): normal, std = sqrt(1 / fan_in)."""
    return Matrix.random(fan_in, fan_out, rng, "normal", math.sqrt(1.0 / fan_in))


def _init_zeros(fan_in, fan_out, rng):
    """All zeros: every unit computes the same thing, so only for tests and output layers."""
    return Matrix.zeros(fan_in, fan_out)


INITIALIZERS = {"he": _init_he, "xavier": _init_xavier, "lecun": _init_lecun, "zeros": _init_zeros}


def _positive_int(value, what):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{what} must be a positive integer, got {value!r}")
    return value


# -------------------------------------------------------------------- Dense
class Dense:
    """Fully connected layer: Y = X @ W + b.

    Shapes: X (n, in), W (in, out), b (1, out), Y (n, out).
    Backward, given dY = dL/dY:
        dW = X.T @ dY      db = sum of dY over rows      dX = dY @ W.T
    """

    def __init__(self, in_features, out_features, init="he", bias=True, rng=None):
        self.in_features = _positive_int(in_features, "Dense in_features")
        self.out_features = _positive_int(out_features, "Dense out_features")
        if init not in INITIALIZERS:
            raise ValueError(f"unknown init {init!r}; valid: {', '.join(sorted(INITIALIZERS))}")
        if rng is None:
            rng = random.Random(0)
        self.init = init
        self.weight = Parameter(INITIALIZERS[init](in_features, out_features, rng), "weight")
        self.bias = Parameter(Matrix.zeros(1, out_features), "bias") if bias else None
        self.input = None

    def forward(self, x, training=False):
        if x.shape[1] != self.in_features:
            raise ValueError(
                f"Dense({self.in_features} -> {self.out_features}) expects inputs with "
                f"{self.in_features} columns, got shape {x.shape}"
            )
        self.input = x
        y = x @ self.weight.value
        return y + self.bias.value if self.bias is not None else y

    def backward(self, grad):
        if self.input is None:
            raise ValueError("Dense.backward called before forward")
        self.weight.grad = self.input.T @ grad
        if self.bias is not None:
            self.bias.grad = grad.sum(axis=0)
        return grad @ self.weight.value.T

    def parameters(self):
        return [self.weight] if self.bias is None else [self.weight, self.bias]

    def get_config(self):
        return {"in_features": self.in_features, "out_features": self.out_features,
                "init": self.init, "bias": self.bias is not None}

    def __repr__(self):
        return f"Dense({self.in_features} -> {self.out_features})"
