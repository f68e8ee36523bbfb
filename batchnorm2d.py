"""BatchNorm2D: batch normalization of each channel of a feature map, as torch.nn.BatchNorm2d.

layers.BatchNorm normalizes each column of a batch (each feature). A convolution's feature
map has one feature per channel, repeated at every pixel, so BatchNorm2D pools each
channel's statistics over the batch AND the pixels, and learns one scale and one shift per
channel; it is BatchNorm with N = n * H * W values per statistic instead of n.
"""

import math
import operator
from itertools import repeat

from conv import as_shape
from layers import Layer, Parameter, _positive_int
from matrix import Matrix

_add, _sub, _mul = operator.add, operator.sub, operator.mul


class BatchNorm2D(Layer):
    """Batch normalization per channel (Ioffe & Szegedy, 2015), as torch.nn.BatchNorm2d.

    Shapes: X, X_hat, Y (n, C*H*W) in (channel, row, column) order; weight (gamma), bias (beta),
    running_mean, running_var (1, C). S = H*W pixels per channel, N = n*S values per channel.
    Training, for each channel c, over its N values in the batch:
        mu_c  = mean of X[:, c, :, :]          var_c = mean of (X[:, c] - mu_c)^2      (biased: / N)
        X_hat[:, c] = (X[:, c] - mu_c) / sqrt(var_c + eps)
        Y[:, c] = weight_c * X_hat[:, c] + bias_c
        running_mean = (1 - momentum) * running_mean + momentum * mu
        running_var  = (1 - momentum) * running_var  + momentum * var * N / (N - 1)     (unbiased)
    Evaluation: the same with running_mean and running_var in place of mu and var.

    Backward in training, given dY; every sum runs over the N values of channel c:
        dweight_c = sum(dY * X_hat)            dbias_c = sum(dY)        dX_hat = dY * weight_c
        dX = (N * dX_hat - sum(dX_hat) - X_hat * sum(dX_hat * X_hat)) / (N * sqrt(var_c + eps))
    (layers.BatchNorm's formula, with N values per channel). In evaluation the statistics
    are constants: dX = dY * weight_c / sqrt(running_var_c + eps).
    The running statistics are saved with the model as its buffers().
    """

    def __init__(self, channels, input_shape=None, momentum=0.1, eps=1e-5):
        self.channels = _positive_int(channels, "BatchNorm2D channels")
        if isinstance(momentum, bool) or not isinstance(momentum, (int, float)) or not 0.0 <= momentum <= 1.0:
            raise ValueError(f"BatchNorm2D momentum must be a number in [0, 1], got {momentum!r}")
        if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not eps > 0.0:
            raise ValueError(f"BatchNorm2D eps must be a number > 0, got {eps!r}")
        self.momentum, self.eps = float(momentum), float(eps)
        self.batch_statistics = True
        self.weight = Parameter(Matrix.full(1, channels, 1.0), "weight")
        self.bias = Parameter(Matrix.zeros(1, channels), "bias")
        self.running_mean = Matrix.zeros(1, channels)
        self.running_var = Matrix.full(1, channels, 1.0)
        self.x_hat = self.inv_std = None
        self.used_batch_statistics = False
        if input_shape is not None:
            self.build(as_shape(input_shape, "BatchNorm2D input_shape", 3))

    def output_shape(self, input_shape):
        shape = tuple(input_shape)
        if len(shape) != 3 or shape[0] != self.channels:
            raise ValueError(f"{self!r} normalizes images of shape ({self.channels}, H, W), but its input has "
                             f"shape {shape}")
        return shape

    def _pixels(self, x):
        self._check_rows(x, "input_shape=(C, H, W)")
        return x.shape[1] // self.channels

    def forward(self, x, training=False):
        size = self._pixels(x)
        rows, channels = x.rows, range(self.channels)
        starts = [c * size for c in channels]
        if training:
            count = len(rows) * size
            if count < 2:
                raise ValueError("BatchNorm2D needs at least 2 values per channel in training (the variance of "
                                 "one value is 0), got 1; use a batch of more than one image")
            means = [math.fsum(sum(row[s:s + size]) for row in rows) / count for s in starts]
            variances = []
            for s, mean in zip(starts, means):
                total = 0.0
                for row in rows:
                    centred = list(map(_sub, row[s:s + size], repeat(mean)))
                    total += sum(map(_mul, centred, centred))
                variances.append(total / count)
            momentum, unbiased = self.momentum, count / (count - 1)
            self.running_mean = Matrix.from_rows([[(1.0 - momentum) * r + momentum * m
                                               for r, m in zip(self.running_mean.rows[0], means)]], self.channels)
            self.running_var = Matrix.from_rows([[(1.0 - momentum) * r + momentum * v * unbiased
                                              for r, v in zip(self.running_var.rows[0], variances)]], self.channels)
        else:
            means, variances = self.running_mean.rows[0], self.running_var.rows[0]
        eps = self.eps
        inv_std = [1.0 / math.sqrt(v + eps) for v in variances]
        x_hat, outputs = [], []
        scales, shifts = self.weight.value.rows[0], self.bias.value.rows[0]
        for row in rows:
            normalized, output = [], []
            for s, mean, scale_c, gamma, beta in zip(starts, means, inv_std, scales, shifts):
                values = list(map(_mul, map(_sub, row[s:s + size], repeat(mean)), repeat(scale_c)))
                normalized += values
                output += map(_add, map(_mul, values, repeat(gamma)), repeat(beta))
            x_hat.append(normalized)
            outputs.append(output)
        self.x_hat, self.inv_std, self.used_batch_statistics = x_hat, inv_std, training
        return Matrix.from_rows(outputs, x.shape[1])

    def backward(self, grad, input_grad=True):
        x_hat, inv_std = self._saved(self.x_hat), self.inv_std
        size = grad.shape[1] // self.channels
        starts = [c * size for c in range(self.channels)]
        sum_grad = [math.fsum(sum(row[s:s + size]) for row in grad.rows) for s in starts]
        sum_grad_x_hat = [math.fsum(sum(map(_mul, row[s:s + size], xh[s:s + size]))
                                    for row, xh in zip(grad.rows, x_hat)) for s in starts]
        self.weight.grad = Matrix.from_rows([sum_grad_x_hat], self.channels)
        self.bias.grad = Matrix.from_rows([sum_grad], self.channels)
        gammas = self.weight.value.rows[0]
        if not self.used_batch_statistics:
            factors = [g * s for g, s in zip(gammas, inv_std)]
            result = []
            for row in grad.rows:
                values = []
                for s, factor in zip(starts, factors):
                    values += map(_mul, row[s:s + size], repeat(factor))
                result.append(values)
            return Matrix.from_rows(result, grad.shape[1])
        # dX = k1 * dY - (k2 + k3 * X_hat), with k1 = gamma / std, k2 = k1 * mean(dY), k3 = k1 * mean(dY * X_hat)
        count = len(grad.rows) * size
        k1 = [g * s for g, s in zip(gammas, inv_std)]
        k2 = [k * total / count for k, total in zip(k1, sum_grad)]
        k3 = [k * total / count for k, total in zip(k1, sum_grad_x_hat)]
        result = []
        for row, xh in zip(grad.rows, x_hat):
            values = []
            for s, a, b, c in zip(starts, k1, k2, k3):
                values += map(_sub, map(_mul, row[s:s + size], repeat(a)),
                              map(_add, map(_mul, xh[s:s + size], repeat(c)), repeat(b)))
            result.append(values)
        return Matrix.from_rows(result, grad.shape[1])

    def parameters(self):
        return [self.weight, self.bias]

    def buffers(self):
        """State saved with the model but not trained: the running statistics, (1, C) each."""
        return {"running_mean": self.running_mean, "running_var": self.running_var}

    def get_config(self):
        return {"channels": self.channels, "momentum": self.momentum, "eps": self.eps,
                "input_shape": list(self.input_shape) if self.input_shape is not None else None}

    def __repr__(self):
        return f"BatchNorm2D({self.channels})"
