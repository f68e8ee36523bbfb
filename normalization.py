"""Normalization over each time step's features: LayerNorm and RMSNorm.

A sequence of T steps of D features travels as one row of T * D values
(sequence.split_steps). Both layers normalize each step's D values on their own,
with statistics of that step alone, so they behave the same in training and
evaluation, for a batch of one, and for any length T (unlike BatchNorm, whose
statistics run over the batch). They are torch.nn.LayerNorm(D) and
torch.nn.RMSNorm(D, eps) applied to a batch-first (n, T, D) tensor.

    LayerNorm   subtract the mean, divide by the standard deviation, scale and shift
    RMSNorm     divide by the root mean square, scale (no centring, no shift)

docs/attention.md derives both backward passes with a worked example.
"""

import math
from operator import mul

from layers import Layer, Parameter, flat_size
from matrix import Matrix
from sequence import join_steps, split_steps


def steps_of(x, size, who):
    """(n, T * size) -> (n * T, size) as a Matrix, one row per step (sequence.split_steps), or a
    ValueError naming `who` when the rows are not whole steps."""
    width = x.shape[1]
    if width % size:
        raise ValueError(f"{who} takes rows of T steps of {size} values, got rows of {width} values "
                         f"(not a multiple of {size})")
    return Matrix.from_rows(split_steps(x.rows, size), size)


def sequences_of(steps, n_samples):
    """(n * T, size) -> (n, T * size): the inverse of steps_of (sequence.join_steps)."""
    return Matrix.from_rows(join_steps(steps.rows, n_samples), steps.shape[0] // n_samples * steps.shape[1])


def _check_options(name, features, eps, elementwise_affine):
    if isinstance(features, bool) or not isinstance(features, int) or features < 1:
        raise ValueError(f"{name} features must be a positive integer, got {features!r}")
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not math.isfinite(eps) or not eps > 0.0:
        raise ValueError(f"{name} eps must be a number > 0, got {eps!r}")
    if not isinstance(elementwise_affine, bool):
        raise ValueError(f"{name} elementwise_affine must be true or false, got {elementwise_affine!r}")
    return float(eps)


class _StepNorm(Layer):
    """What LayerNorm and RMSNorm share: options, shapes, the learned scale, saving."""

    def __init__(self, features, eps, elementwise_affine):
        self.eps = _check_options(type(self).__name__, features, eps, elementwise_affine)
        self.features = features
        self.weight = Parameter(Matrix.full(1, features, 1.0), "weight") if elementwise_affine else None
        self.bias = None  # LayerNorm's shift; RMSNorm has none
        self.x_hat = self.inv_scale = None
        self.n_samples = 0

    def parameters(self):
        return [p for p in (self.weight, self.bias) if p is not None]

    def output_shape(self, input_shape):
        if flat_size(input_shape) % self.features:
            raise ValueError(f"{self!r} normalizes steps of {self.features} values, but its input has shape "
                             f"{tuple(input_shape)} ({flat_size(input_shape)} values, not a multiple of "
                             f"{self.features})")
        return (flat_size(input_shape) // self.features, self.features)

    def _scale_and_shift(self, x_hat, n_samples):
        """Y = X_hat * weight (+ bias), back in the (n, T * D) layout."""
        if self.weight is not None:
            x_hat = x_hat * self.weight.value
        if self.bias is not None:
            x_hat = x_hat + self.bias.value
        return sequences_of(x_hat, n_samples)

    def _grad_x_hat(self, grad):
        """dL/dX_hat = dY * weight, one row per step; fills dweight (and dbias)."""
        x_hat = self._saved(self.x_hat)
        grad = steps_of(grad, self.features, repr(self))
        if self.bias is not None:
            self.bias.grad = grad.sum(axis=0)
        if self.weight is None:
            return grad
        self.weight.grad = (grad * x_hat).sum(axis=0)
        return grad * self.weight.value

    def get_config(self):
        return {"features": self.features, "eps": self.eps, "elementwise_affine": self.weight is not None}

    def __repr__(self):
        options = "" if self.weight is not None else ", no weight"
        return f"{type(self).__name__}({self.features}{options})"


class LayerNorm(_StepNorm):
    """Layer normalization (Ba, Kiros & Hinton, 2016) of each step, as torch.nn.LayerNorm(D).

    For each step's vector x of D values (biased variance, as PyTorch):
        mu = mean(x)        var = mean((x - mu)^2)        s = 1 / sqrt(var + eps)
        x_hat = (x - mu) * s
        y = x_hat * weight + bias                         weight, bias (1, D), learned
    Shapes: X, Y (n, T * D), any T >= 1; weight starts at ones, bias at zeros.

    Backward, given dy for one step (the sums run over that step's D values):
        dweight = sum over every step of dy * x_hat       dbias = sum over every step of dy
        g = dy * weight                                   (dL/dx_hat)
        dx = s * (g - mean(g) - x_hat * mean(g * x_hat))
    The two means appear because mu and var depend on every value of the step:
    moving one x_j shifts the mean (the mean(g) term) and the spread (the last term).
    """

    def __init__(self, features, eps=1e-5, elementwise_affine=True, bias=True):
        super().__init__(features, eps, elementwise_affine)
        if not isinstance(bias, bool):
            raise ValueError(f"LayerNorm bias must be true or false, got {bias!r}")
        self.bias = Parameter(Matrix.zeros(1, features), "bias") if elementwise_affine and bias else None

    def forward(self, x, training=False):
        steps = steps_of(x, self.features, repr(self))
        size, eps, sqrt = self.features, self.eps, math.sqrt
        x_hat, inv_scale = [], []
        for vector in steps.rows:
            mean = sum(vector) / size
            centered = [value - mean for value in vector]
            scale = 1.0 / sqrt(sum(map(mul, centered, centered)) / size + eps)
            x_hat.append([value * scale for value in centered])
            inv_scale.append(scale)
        self.x_hat, self.inv_scale, self.n_samples = Matrix.from_rows(x_hat, size), inv_scale, x.shape[0]
        return self._scale_and_shift(self.x_hat, self.n_samples)

    def backward(self, grad, input_grad=True):
        grad_x_hat = self._grad_x_hat(grad)
        if not input_grad:
            return None
        size = self.features
        rows = []
        for g, x_hat, scale in zip(grad_x_hat.rows, self.x_hat.rows, self.inv_scale):
            mean_g = sum(g) / size
            mean_g_x_hat = sum(map(mul, g, x_hat)) / size
            rows.append([scale * (a - mean_g - b * mean_g_x_hat) for a, b in zip(g, x_hat)])
        return sequences_of(Matrix.from_rows(rows, size), self.n_samples)

    def get_config(self):
        config = super().get_config()
        if self.weight is not None and self.bias is None:
            config["bias"] = False
        return config

    def __repr__(self):
        text = super().__repr__()
        return text[:-1] + ", no bias)" if self.weight is not None and self.bias is None else text


class RMSNorm(_StepNorm):
    """Root-mean-square normalization (Zhang & Sennrich, 2019) of each step, as torch.nn.RMSNorm(D, eps).

    For each step's vector x of D values:
        s = 1 / sqrt(mean(x^2) + eps)
        x_hat = x * s
        y = x_hat * weight                                weight (1, D), learned (ones at first)
    With elementwise_affine=False there is no weight: y = x_hat.
    Shapes: X, Y (n, T * D), any T >= 1.

    Backward, given dy for one step: ds/dx_j = -s^3 x_j / D, so
        dweight = sum over every step of dy * x_hat
        g = dy * weight                                   (dL/dx_hat)
        dx = s * (g - x_hat * mean(g * x_hat))
    LayerNorm's formula without the mean(g) term: nothing is subtracted from x.
    """

    def __init__(self, features, eps=1e-5, elementwise_affine=True):
        super().__init__(features, eps, elementwise_affine)

    def forward(self, x, training=False):
        steps = steps_of(x, self.features, repr(self))
        size, eps, sqrt = self.features, self.eps, math.sqrt
        x_hat, inv_scale = [], []
        for vector in steps.rows:
            scale = 1.0 / sqrt(sum(map(mul, vector, vector)) / size + eps)
            x_hat.append([value * scale for value in vector])
            inv_scale.append(scale)
        self.x_hat, self.inv_scale, self.n_samples = Matrix.from_rows(x_hat, size), inv_scale, x.shape[0]
        return self._scale_and_shift(self.x_hat, self.n_samples)

    def backward(self, grad, input_grad=True):
        grad_x_hat = self._grad_x_hat(grad)
        if not input_grad:
            return None
        size = self.features
        rows = []
        for g, x_hat, scale in zip(grad_x_hat.rows, self.x_hat.rows, self.inv_scale):
            mean_g_x_hat = sum(map(mul, g, x_hat)) / size
            rows.append([scale * (a - b * mean_g_x_hat) for a, b in zip(g, x_hat)])
        return sequences_of(Matrix.from_rows(rows, size), self.n_samples)
