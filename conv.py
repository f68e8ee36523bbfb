"""Convolution layers: Conv2D over images, Conv1D over sequences, as one matrix product each.

A sample is one row of numbers: an image of C channels and H x W pixels is C*H*W values in
(channel, row, column) order, exactly x.reshape(n, -1) of a PyTorch (n, C, H, W) tensor; a
sequence of C channels and length L is C*L values in (channel, position) order. The layer
knows the geometry from its `input_shape`, which a Network fills in from the layer before.

    Conv2D   (C, H, W) -> (out_channels, H_out, W_out)
    Conv1D   (C, L)    -> (out_channels, L_out)

Both are computed by im2col (im2col.py): every window of the input becomes one row (a patch),
and the convolution is then a single product of the patches with the weight matrix.
docs/convolution.md works one small example through by hand.
"""

import math

from conv_kernels import columns, convolve, input_gradient, weight_gradient
from im2col import Geometry
from layers import INITIALIZERS, Layer, Parameter, _positive_int, default_rng, flat_size
from matrix import Matrix


def as_pair(value, what, minimum):
    """An int or a pair of ints, each >= minimum, as a tuple (height, width)."""
    pair = tuple(value) if isinstance(value, (list, tuple)) else (value, value)
    if len(pair) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) and v >= minimum for v in pair):
        raise ValueError(f"{what} must be an integer >= {minimum} or a pair of them, got {value!r}")
    return pair


def as_shape(value, what, length):
    """A per-sample shape of `length` positive integers, as a tuple (None stays None)."""
    if value is None:
        return None
    if (not isinstance(value, (list, tuple)) or len(value) != length
            or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in value)):
        names = "(C, H, W)" if length == 3 else "(C, L)"
        raise ValueError(f"{what} must be {length} positive integers {names}, got {value!r}")
    return tuple(value)


def show_pair(pair):
    """(3, 3) -> '3', (1, 3) -> '1x3': how a config wrote it, for messages and reprs."""
    return str(pair[0]) if pair[0] == pair[1] else f"{pair[0]}x{pair[1]}"


def conv_weight(init, in_channels, out_channels, receptive_field, rng):
    """The (in_channels * receptive_field, out_channels) weight drawn as PyTorch and Keras count fans:
    fan_in = in_channels * kH * kW, fan_out = out_channels * kH * kW (He and LeCun use fan_in only)."""
    if init not in INITIALIZERS:
        raise ValueError(f"unknown init {init!r}; valid: {', '.join(sorted(INITIALIZERS))}")
    fan_in, fan_out = in_channels * receptive_field, out_channels * receptive_field
    if init == "xavier":
        return Matrix.random(fan_in, out_channels, rng, "uniform", math.sqrt(6.0 / (fan_in + fan_out)))
    return INITIALIZERS[init](fan_in, out_channels, rng)


class WindowLayer(Layer):
    """What Conv2D and the pools share: a window slid over (C, H, W) images. A subclass gives
    _geometry(input_shape) -> im2col.Geometry (or ValueError saying what fits) and
    _shape_out(geometry); this class turns them into output_shape and build, and checks a
    batch against the geometry the layer was built for."""

    geometry = None

    def output_shape(self, input_shape):
        return self._shape_out(self._geometry(input_shape))

    def build(self, input_shape):
        self.geometry = self._geometry(input_shape)
        self.input_shape = tuple(input_shape)
        return self._shape_out(self.geometry)

    def _checked_geometry(self, x):
        self._check_rows(x, "input_shape=(C, H, W)")
        return self.geometry


class Conv2D(WindowLayer):
    """2-D convolution (cross-correlation, as in every framework), as torch.nn.Conv2d.

    Shapes: X (n, C*H*W), Y (n, O*H_out*W_out), O = out_channels, K = C*kH*kW,
            W (K, O) where row c*kH*kW + i*kW + j, column o holds PyTorch's weight[o, c, i, j],
            b (1, O), H_out = (H + 2 pH - kH) // sH + 1, W_out likewise (floor, as PyTorch).
    Forward, with zero padding:
        Y[o, p, q] = b[o] + sum over c, i, j of W[c*kH*kW + i*kW + j, o] * X[c, p*sH + i - pH, q*sW + j - pW]
    computed as
        P = im2col(X)          (n*H_out*W_out, K): row (image, p, q) is the patch under output (p, q)
        Z = P @ W + b          (n*H_out*W_out, O): one product for the whole batch
        Y = Z regrouped so that each image's row lists channel o's H_out*W_out outputs in turn.

    Backward, given dY: regroup it the same way into dZ (n*H_out*W_out, O). Z = P @ W + b is a
    Dense layer whose rows are patches, so
        dW = P.T @ dZ          (K, O): every patch times the gradient of the outputs it made
        db = sum of dZ over its rows                   (1, O)
        dP = dZ @ W.T          (n*H_out*W_out, K): the gradient of each patch entry
        dX = col2im(dP)        (n, C*H*W): a pixel lies in several patches (the windows
                               overlap), so its gradient is the sum of those entries' gradients;
                               entries that fell in the zero padding are dropped.
    At stride 1 (padding at most k - 1) dX is computed as the convolution it equals,
        dX[c, r, s] = sum over o, i, j of W[c*kH*kW + i*kW + j, o] * dY[o, r + pH - i, s + pW - j]
    i.e. this layer's forward over dY padded by k - 1 - p, with the kernel turned half a turn and
    C and O swapped (docs/convolution.md): the same sums, whose patches of dY are mostly zeros
    in training (dY comes back through a max pool and a ReLU), which the product skips
    (on PyPy, col2im of dZ @ W.T entry by entry, the zeros of dZ skipped).
    dX is skipped with input_grad=False (a first layer, whose input is data).
    The loops themselves, image by image, are conv_kernels.py's.
    """

    kind = "Conv2D"

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, input_shape=None,
                 init="he", bias=True, rng=None):
        kind = self.kind
        self.in_channels = _positive_int(in_channels, f"{kind} in_channels")
        self.out_channels = _positive_int(out_channels, f"{kind} out_channels")
        self.kernel_size = self._pair(kernel_size, "kernel_size", 1)
        self.stride = self._pair(stride, "stride", 1)
        self.padding = self._pair(padding, "padding", 0)
        receptive_field = self.kernel_size[0] * self.kernel_size[1]
        self.init = init
        self.weight = Parameter(conv_weight(init, in_channels, out_channels, receptive_field,
                                            rng if rng is not None else default_rng()), "weight")
        self.bias = Parameter(Matrix.zeros(1, out_channels), "bias") if bias else None
        self.columns = self.geometry = None
        if input_shape is not None:
            self.build(as_shape(input_shape, f"{kind} input_shape", self.sample_rank))

    # ----------------------------------------------------------- geometry
    sample_rank = 3  # (C, H, W)

    def _pair(self, value, what, minimum):
        return as_pair(value, f"{self.kind} {what}", minimum)

    def _geometry(self, input_shape):
        """The Geometry of an input of `input_shape` (C, H, W), or ValueError saying what fits."""
        shape = tuple(input_shape)
        if len(shape) != 3 or shape[0] != self.in_channels:
            raise ValueError(f"{self!r} takes images of shape ({self.in_channels}, H, W), but its input has "
                             f"shape {shape}")
        (kernel_h, kernel_w), (pad_h, pad_w) = self.kernel_size, self.padding
        if shape[1] + 2 * pad_h < kernel_h or shape[2] + 2 * pad_w < kernel_w:
            raise ValueError(f"{self!r}: its {kernel_h}x{kernel_w} kernel is larger than its input of shape "
                             f"{shape} (padded to {shape[1] + 2 * pad_h}x{shape[2] + 2 * pad_w}); "
                             f"it fits images of at least {max(kernel_h - 2 * pad_h, 1)}x"
                             f"{max(kernel_w - 2 * pad_w, 1)} pixels")
        return Geometry(shape[0], shape[1], shape[2], kernel_h, kernel_w, self.stride[0], self.stride[1],
                        pad_h, pad_w)

    def _shape_out(self, geometry):
        return (self.out_channels, geometry.out_h, geometry.out_w)

    def _checked_geometry(self, x):
        if not isinstance(x, Matrix):
            raise TypeError(f"{self!r} takes a Matrix of shape (n, C*H*W), got {type(x).__name__}")
        return super()._checked_geometry(x)

    # ------------------------------------------------------------- passes
    def forward(self, x, training=False):
        geometry = self._checked_geometry(x)
        # each image's columns (P.T, image by image) are kept for dW; the product runs image by image
        # (conv_kernels.convolve), so that only one image's patches exist at a time
        self.columns = [columns(image, geometry) for image in x.rows]
        weight = self.weight.value.rows
        bias = self.bias.value.rows[0] if self.bias is not None else None
        return Matrix.from_rows([convolve(image_columns, weight, bias) for image_columns in self.columns],
                                self.out_channels * geometry.positions)

    def backward(self, grad, input_grad=True):
        columns, geometry = self._saved(self.columns), self.geometry
        n_images, positions = len(columns), geometry.positions
        if grad.shape != (n_images, self.out_channels * positions):
            raise ValueError(f"{self!r}: backward expects a gradient of shape "
                             f"{(n_images, self.out_channels * positions)}, got {grad.shape}")
        # dW = P.T @ dZ, image by image: row k of P.T is column k, column o of dZ is channel o of
        # the image's dY, so no regrouping; conv_kernels skips the positions where dY is zero
        self.weight.grad = Matrix.from_rows(weight_gradient(columns, grad.rows, positions), self.out_channels)
        if self.bias is not None:  # db[o]: the sum of channel o's run of every row of dY
            self.bias.grad = Matrix.from_rows([[sum([sum(row[start:start + positions]) for row in grad.rows])
                                                for start in range(0, grad.shape[1], positions)]], self.out_channels)
        if not input_grad:
            return None
        return Matrix.from_rows(input_gradient(grad.rows, self.weight.value.rows, geometry),
                                flat_size(self.input_shape))

    def parameters(self):
        return [self.weight] if self.bias is None else [self.weight, self.bias]

    # -------------------------------------------------------------- saving
    def get_config(self):
        def plain(pair):
            return pair[0] if pair[0] == pair[1] else list(pair)
        return {"in_channels": self.in_channels, "out_channels": self.out_channels,
                "kernel_size": plain(self.kernel_size), "stride": plain(self.stride),
                "padding": plain(self.padding),
                "input_shape": list(self.input_shape) if self.input_shape is not None else None,
                "init": self.init, "bias": self.bias is not None}

    @classmethod
    def from_config(cls, config):
        # zeros: the saved weights replace them at once, so drawing random ones is wasted work
        layer = cls(**dict(config, init="zeros"))
        layer.init = config.get("init", "he")
        return layer

    def __repr__(self):
        kernel_h, kernel_w = self.kernel_size
        text = f"{self.kind}({self.in_channels} -> {self.out_channels}, {kernel_h}x{kernel_w}"
        if self.stride != (1, 1):
            text += f", stride {show_pair(self.stride)}"
        if self.padding != (0, 0):
            text += f", padding {show_pair(self.padding)}"
        return text + ")"


class Conv1D(Conv2D):
    """1-D convolution over sequences, as torch.nn.Conv1d: a Conv2D over images of one row.

    Shapes: X (n, C*L), Y (n, O*L_out), L_out = (L + 2 padding - k) // stride + 1,
            W (C*k, O) where row c*k + i, column o holds PyTorch's weight[o, c, i], b (1, O).
    Forward: Y[o, t] = b[o] + sum over c, i of W[c*k + i, o] * X[c, t*stride + i - padding].
    A sequence of shape (C, L) is the image (C, 1, L) and the kernel k is 1 x k, so the
    weight rows c*1*k + 0*k + i = c*k + i line up, and forward and backward (dW = P.T @ dZ,
    dX = col2im(dZ @ W.T)) are Conv2D's.
    """

    kind = "Conv1D"
    sample_rank = 2  # (C, L)

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, input_shape=None,
                 init="he", bias=True, rng=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, input_shape, init, bias, rng)

    def _pair(self, value, what, minimum):
        # one number per sequence; the image row's height is 1, its kernel 1 tall, never padded
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ValueError(f"Conv1D {what} must be an integer >= {minimum}, got {value!r}")
        return (1, value) if what != "padding" else (0, value)

    def _geometry(self, input_shape):
        shape = tuple(input_shape)
        if len(shape) != 2 or shape[0] != self.in_channels:
            raise ValueError(f"{self!r} takes sequences of shape ({self.in_channels}, L), but its input has "
                             f"shape {shape}")
        kernel, padding = self.kernel_size[1], self.padding[1]
        if shape[1] + 2 * padding < kernel:
            raise ValueError(f"{self!r}: its kernel of {kernel} is longer than its input of shape {shape} "
                             f"(padded to length {shape[1] + 2 * padding}); it fits sequences of length "
                             f"at least {max(kernel - 2 * padding, 1)}")
        return Geometry(shape[0], 1, shape[1], 1, kernel, 1, self.stride[1], 0, padding)

    def _shape_out(self, geometry):
        return (self.out_channels, geometry.out_w)

    def get_config(self):
        config = super().get_config()
        for key in ("kernel_size", "stride", "padding"):
            config[key] = getattr(self, key)[1]
        return config

    def __repr__(self):
        text = f"Conv1D({self.in_channels} -> {self.out_channels}, kernel {self.kernel_size[1]}"
        if self.stride[1] != 1:
            text += f", stride {self.stride[1]}"
        if self.padding[1]:
            text += f", padding {self.padding[1]}"
        return text + ")"
