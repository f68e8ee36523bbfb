"""Pooling layers, and Flatten: summaries of windows of feature maps, without parameters.

    MaxPool2D / MaxPool1D        the largest value of each window
    AvgPool2D / AvgPool1D        the mean of each window
    GlobalAvgPool2D / 1D         the mean of each whole channel: (C, H, W) or (C, L) -> (C,)
    Flatten                      (C, H, W) -> (C*H*W,), the same numbers (a sample is already one row)

Layouts as in conv.py: an image (C, H, W) is a row of C*H*W values in (channel, row, column)
order, a sequence (C, L) a row of C*L values in (channel, position) order. Windows do not
pad, and output sizes round down as PyTorch's (ceil_mode=False):
    H_out = (H - kH) // sH + 1,   W_out = (W - kW) // sW + 1,   stride defaults to the kernel size.
MaxPool2D's loops are conv_kernels.max_pool and unpool (each window's first maximum found, and
dY sent back to it); AvgPool2D reads its windows with im2col (im2col.py, one channel at a time,
no padding) and sends its gradient back with col2im, which sums where windows overlap.
"""

import operator
from itertools import chain, repeat

from conv import WindowLayer, as_pair, as_shape, show_pair
from conv_kernels import max_pool, unpool
from im2col import Geometry, columns_to_image, image_columns
from layers import Layer, flat_size
from matrix import Matrix

_truediv = operator.truediv


class _Pool2D(WindowLayer):
    """What MaxPool2D and AvgPool2D share: the window geometry, and the passes per channel."""

    kind = "Pool2D"
    sample_rank = 3

    def __init__(self, kernel_size, stride=None, input_shape=None):
        self.kernel_size = self._pair(kernel_size, "kernel_size")
        self.stride = self._pair(stride, "stride") if stride is not None else self.kernel_size
        self.geometry = None
        self.saved = None
        if input_shape is not None:
            self.build(as_shape(input_shape, f"{self.kind} input_shape", self.sample_rank))

    def _pair(self, value, what):
        return as_pair(value, f"{self.kind} {what}", 1)

    # ----------------------------------------------------------- geometry
    def _geometry(self, input_shape):
        shape = tuple(input_shape)
        if len(shape) != 3:
            raise ValueError(f"{self!r} takes images of shape (C, H, W), but its input has shape {shape}")
        kernel_h, kernel_w = self.kernel_size
        if shape[1] < kernel_h or shape[2] < kernel_w:
            raise ValueError(f"{self!r}: its {kernel_h}x{kernel_w} window does not fit its input of shape {shape}; "
                             f"it fits images of at least {kernel_h}x{kernel_w} pixels")
        return Geometry(shape[0], shape[1], shape[2], kernel_h, kernel_w, self.stride[0], self.stride[1], 0, 0)

    def _shape_out(self, geometry):
        return (geometry.channels, geometry.out_h, geometry.out_w)

    # ------------------------------------------------------------- passes
    def forward(self, x, training=False):
        geometry = self._checked_geometry(x)
        window = geometry.kernel_h * geometry.kernel_w
        outputs, saved = [], []
        for image in x.rows:
            columns = image_columns(image, geometry)  # C*window lists: one per channel and window offset
            row, kept = [], []
            for start in range(0, len(columns), window):
                values, memo = self._pool(columns[start:start + window], window)
                row += values
                kept.append(memo)
            outputs.append(row)
            saved.append(kept)
        self.saved = saved
        return Matrix.from_rows(outputs, geometry.channels * geometry.positions)

    def backward(self, grad, input_grad=True):
        saved, geometry = self._saved(self.saved), self.geometry
        positions, window = geometry.positions, geometry.kernel_h * geometry.kernel_w
        if grad.shape != (len(saved), geometry.channels * positions):
            raise ValueError(f"{self!r}: backward expects a gradient of shape "
                             f"{(len(saved), geometry.channels * positions)}, got {grad.shape}")
        images = []
        for grad_row, kept in zip(grad.rows, saved):
            columns = []
            for c, memo in enumerate(kept):
                columns += self._unpool(grad_row[c * positions:(c + 1) * positions], memo, window)
            images.append(columns_to_image(columns, geometry))
        return Matrix.from_rows(images, flat_size(self.input_shape))

    # -------------------------------------------------------------- saving
    def get_config(self):
        def plain(pair):
            return pair[0] if pair[0] == pair[1] else list(pair)
        return {"kernel_size": plain(self.kernel_size), "stride": plain(self.stride),
                "input_shape": list(self.input_shape) if self.input_shape is not None else None}

    def __repr__(self):
        text = f"{self.kind}({self.kernel_size[0]}x{self.kernel_size[1]}"
        if self.stride != self.kernel_size:
            text += f", stride {show_pair(self.stride)}"
        return text + ")"


class MaxPool2D(_Pool2D):
    """Max pooling, as torch.nn.MaxPool2d (no padding, no dilation, floor output sizes).

    Shapes: X (n, C*H*W), Y (n, C*H_out*W_out).
    Forward: Y[c, p, q] = max over i < kH, j < kW of X[c, p*sH + i, q*sW + j].
    Backward: the max is the one input it picked, so its gradient goes to that input alone:
        dX[c, p*sH + i*, q*sW + j*] += dY[c, p, q]     (i*, j*) = the window's argmax
    On a tie the FIRST maximum in the window's row-major order takes it all (PyTorch's rule:
    its kernel keeps a candidate only if strictly larger). Where windows overlap
    (stride < kernel), an input that is the maximum of several windows sums their gradients.
    """

    kind = "MaxPool2D"

    def forward(self, x, training=False):
        # conv_kernels.max_pool: per image, the maxima and the index of each window's first maximum
        geometry = self._checked_geometry(x)
        pooled = [max_pool(image, geometry) for image in x.rows]
        self.saved = [where for _, where in pooled]
        return Matrix.from_rows([maxima for maxima, _ in pooled], geometry.channels * geometry.positions)

    def backward(self, grad, input_grad=True):
        saved, geometry = self._saved(self.saved), self.geometry
        if grad.shape != (len(saved), geometry.channels * geometry.positions):
            raise ValueError(f"{self!r}: backward expects a gradient of shape "
                             f"{(len(saved), geometry.channels * geometry.positions)}, got {grad.shape}")
        size = flat_size(self.input_shape)
        overlapping = geometry.stride_h < geometry.kernel_h or geometry.stride_w < geometry.kernel_w
        return Matrix.from_rows([unpool(grad_row, where, size, overlapping)
                                 for grad_row, where in zip(grad.rows, saved)], size)


class AvgPool2D(_Pool2D):
    """Average pooling, as torch.nn.AvgPool2d (no padding, floor output sizes).

    Shapes: X (n, C*H*W), Y (n, C*H_out*W_out).
    Forward: Y[c, p, q] = (sum over i < kH, j < kW of X[c, p*sH + i, q*sW + j]) / (kH*kW).
    Backward: every input of the window gets an equal share, dX[c, p*sH + i, q*sW + j] += dY[c, p, q] / (kH*kW).
    """

    kind = "AvgPool2D"

    @staticmethod
    def _pool(columns, window):
        return list(map(_truediv, map(sum, zip(*columns)), repeat(window))), None

    @staticmethod
    def _unpool(grad, memo, window):
        share = list(map(_truediv, grad, repeat(window)))
        return [share] * window  # col2im only reads the columns


class _Pool1D:
    """Mixin: a sequence (C, L) is the image (C, 1, L), and the window 1 x k (see Conv1D)."""

    sample_rank = 2

    def _pair(self, value, what):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{self.kind} {what} must be an integer >= 1, got {value!r}")
        return (1, value)

    def _geometry(self, input_shape):
        shape = tuple(input_shape)
        if len(shape) != 2:
            raise ValueError(f"{self!r} takes sequences of shape (C, L), but its input has shape {shape}")
        if shape[1] < self.kernel_size[1]:
            raise ValueError(f"{self!r}: its window of {self.kernel_size[1]} does not fit its input of shape "
                             f"{shape}; it fits sequences of length at least {self.kernel_size[1]}")
        return Geometry(shape[0], 1, shape[1], 1, self.kernel_size[1], 1, self.stride[1], 0, 0)

    def _shape_out(self, geometry):
        return (geometry.channels, geometry.out_w)

    def get_config(self):
        return {"kernel_size": self.kernel_size[1], "stride": self.stride[1],
                "input_shape": list(self.input_shape) if self.input_shape is not None else None}

    def __repr__(self):
        text = f"{self.kind}({self.kernel_size[1]}"
        if self.stride != self.kernel_size:
            text += f", stride {self.stride[1]}"
        return text + ")"


class MaxPool1D(_Pool1D, MaxPool2D):
    """Max pooling over sequences, as torch.nn.MaxPool1d: Y[c, t] = max over i < k of X[c, t*stride + i];
    the gradient goes to the first maximum of each window. Shapes: X (n, C*L), Y (n, C*L_out)."""

    kind = "MaxPool1D"


class AvgPool1D(_Pool1D, AvgPool2D):
    """Average pooling over sequences, as torch.nn.AvgPool1d: Y[c, t] = mean over i < k of
    X[c, t*stride + i]; each input of a window gets dY / k. Shapes: X (n, C*L), Y (n, C*L_out)."""

    kind = "AvgPool1D"


class GlobalAvgPool2D(Layer):
    """The mean of each channel, as torch.nn.AdaptiveAvgPool2d(1) followed by a flatten.

    Shapes: X (n, C*H*W), Y (n, C), S = H*W the pixels of a channel.
    Forward: Y[c] = (sum over the S pixels of channel c) / S.
    Backward: every pixel of channel c gets dY[c] / S.
    Whatever the image size, the output has C numbers: a network ending this way takes
    images of any size.
    """

    kind = "GlobalAvgPool2D"
    sample_rank = 3

    def __init__(self, input_shape=None):
        self.pixels = None  # S, once the input shape is known
        self.n_rows = None
        if input_shape is not None:
            self.build(as_shape(input_shape, f"{self.kind} input_shape", self.sample_rank))

    def output_shape(self, input_shape):
        shape = tuple(input_shape)
        if len(shape) != self.sample_rank:
            wanted = "images of shape (C, H, W)" if self.sample_rank == 3 else "sequences of shape (C, L)"
            raise ValueError(f"{self!r} takes {wanted}, but its input has shape {shape}")
        return (shape[0],)

    def build(self, input_shape):
        output = self.output_shape(input_shape)
        self.input_shape = tuple(input_shape)
        self.pixels = flat_size(self.input_shape[1:])
        return output

    def forward(self, x, training=False):
        self._check_rows(x)
        size, channels = self.pixels, self.input_shape[0]
        self.n_rows = x.shape[0]
        return Matrix.from_rows([[sum(row[start:start + size]) / size for start in range(0, len(row), size)]
                             for row in x.rows], channels)

    def backward(self, grad, input_grad=True):
        self._saved(self.n_rows)
        size = self.pixels
        return Matrix.from_rows([list(chain.from_iterable([g / size] * size for g in row)) for row in grad.rows],
                            size * self.input_shape[0])

    def get_config(self):
        return {"input_shape": list(self.input_shape) if self.input_shape is not None else None}

    def __repr__(self):
        return f"{self.kind}()"


class GlobalAvgPool1D(GlobalAvgPool2D):
    """The mean of each channel of a sequence, as torch's x.mean(dim=2): (C, L) -> (C,);
    Y[c] = (sum over the L positions of channel c) / L, and each position gets dY[c] / L."""

    kind = "GlobalAvgPool1D"
    sample_rank = 2


class Flatten(Layer):
    """(C, H, W) -> (C*H*W,), as torch.nn.Flatten: the row of numbers is unchanged, only the
    shape a Network passes on (and shows in summary()) becomes flat. dX = dY."""

    def __init__(self):
        self.ran = False

    def output_shape(self, input_shape):
        return (flat_size(input_shape),)

    def forward(self, x, training=False):
        self.ran = True
        return x

    def backward(self, grad, input_grad=True):
        if not self.ran:
            raise RuntimeError(f"{self!r}: backward called before forward")
        return grad
