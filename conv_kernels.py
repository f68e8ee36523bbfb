"""The loops of Conv2D and MaxPool2D, in the two shapes of matrix_kernels.py.

conv.py and pooling.py state the mathematics; this file holds the loops they spend their time
in, on one image at a time (a flat list of C*H*W values, or its im2col columns):

    columns(image, geometry)                  im2col of one image (im2col.image_columns, or the same by loops)
    convolve(columns, weight, bias)           the output row of one image: channel o's positions in turn
    weight_gradient(columns, grads, P)        dW = sum over images of columns_b @ dY_b.T, zeros of dY skipped
    input_gradient(grads, weight, geometry)   dX = col2im(dZ @ W.T), image by image
    max_pool(image, geometry)                 each window's maximum and the input index of its first maximum
    unpool(grads, where, size, overlapping)   dX: each window's gradient sent to its first maximum

The set follows matrix.KERNEL ("builtins" on CPython, "loops" on PyPy, or whichever set
matrix.use_kernels chose), for the reasons matrix_kernels.py gives: CPython runs a loop inside a C
builtin about fifty times faster than as bytecode, while PyPy compiles plain loops and cannot see
through builtins. Both add the same terms: convolve, weight_gradient and max_pool in the same order
(the same bits before Python 3.12, whose sum() and math.sumprod round better), input_gradient in
another (the convolution of dY against col2im entry by entry), so equal to rounding;
tests/test_conv.py and tests/test_pooling.py run both sets against the slow nested loops.

Why these shapes, measured on the Fashion-MNIST CNN (`python bench/run.py --conv`):
  * a convolution's gradient dY comes back through a max pool and a ReLU, so most of it (85-90%
    there) is exact zeros. dW[k][o] is a dot product of column k with channel o of dY over the
    positions; weight_gradient keeps only the positions where dY is not zero (itemgetter picks
    them from every column, in C), which adds the same terms, zeros left out.
  * keeping every patch of the batch alive at once (25,088 tuples for the first convolution)
    and every row of the product makes CPython's cyclic garbage collector walk them again and
    again; one image at a time, they are freed as soon as they are used.
"""

import math
import operator
from itertools import chain, compress, repeat

import matrix
from im2col import Geometry, channel_rows, col2im, image_columns
from matrix import Matrix

_add, _mul, _itemgetter = operator.add, operator.mul, operator.itemgetter
_chain = chain.from_iterable

if hasattr(math, "sumprod"):  # Python 3.12+: one C loop per dot product, no float object per term
    _sumprod = math.sumprod

    _dot = _sumprod

    def _dots(rows, vector):
        """[dot(row, vector) for row in rows]."""
        return [_sumprod(row, vector) for row in rows]

    # picking the nonzero terms costs about as much per kept term as sumprod saves per skipped
    # one: it pays when at most this share of dY is nonzero
    _PICK_SHARE = 0.3
    _SCALED_COLUMNS_MAX = 0  # sumprod's dot products are always the faster convolution
else:
    def _dot(row, vector):
        return sum(map(_mul, row, vector))

    def _dots(rows, vector):
        """[dot(row, vector) for row in rows], each by sum(map(mul, ...))."""
        return [sum(map(_mul, row, vector)) for row in rows]

    _PICK_SHARE = 0.75  # sum(map(mul)) makes a float per term: skipping pays almost always
    # a patch of at most this many entries (a 3x3 kernel over one channel: 9) spends more on
    # starting each short dot product than on its terms: such a convolution sums scaled columns
    _SCALED_COLUMNS_MAX = 16


def _use_loops():
    return matrix.KERNEL == "loops"


# ================================================================ the convolution

def columns(image, geometry):
    """im2col of one image: K lists of P values, columns[k][t] the entry k of patch t
    (im2col.image_columns; on the loops set the same lists built by index, which PyPy runs about
    four times faster than the slices)."""
    if _use_loops():
        return _columns_loops(image, geometry)
    return image_columns(image, geometry)


def _columns_loops(image, geometry):
    C, H, W, out_h, out_w = geometry.channels, geometry.height, geometry.width, geometry.out_h, geometry.out_w
    result = []
    for c in range(C):
        for i in range(geometry.kernel_h):
            for j in range(geometry.kernel_w):
                column = [0.0] * (out_h * out_w)  # zero where the window lies on the padding
                for p in range(out_h):
                    r = p * geometry.stride_h + i - geometry.pad_h
                    if 0 <= r < H:
                        base, at = (c * H + r) * W, p * out_w
                        for q in range(out_w):
                            s = q * geometry.stride_w + j - geometry.pad_w
                            if 0 <= s < W:
                                column[at + q] = image[base + s]
                result.append(column)
    return result


def convolve(columns, weight, bias=None):
    """One image's convolution from its im2col columns: Y[o*P + t] = b[o] + sum over k of
    weight[k][o] * columns[k][t], as a flat row in (channel, position) order.

    columns: K lists of P values (im2col.image_columns); weight: K rows of O values; bias: O values or None.
    """
    if _use_loops():
        return _convolve_loops(columns, weight, bias)
    return _convolve_builtins(columns, weight, bias)


def _convolve_builtins(columns, weight, bias):
    if len(columns) <= _SCALED_COLUMNS_MAX:
        return _convolve_scaled_columns(columns, weight, bias)
    # the patches of this image (zip transposes the columns in C), times the weight by Matrix @
    # (its kernel skips a patch's zeros), then regrouped channel by channel and the bias added
    patches = Matrix.from_rows(list(zip(*columns)), len(columns))
    by_position = patches @ Matrix.from_rows(weight, len(weight[0]))
    out = []
    if bias is None:
        out += _chain(zip(*by_position.rows))
    else:
        for channel, value in zip(zip(*by_position.rows), bias):
            out += map(_add, channel, repeat(value))
    return out


def _convolve_scaled_columns(columns, weight, bias):
    # channel o = sum over k of weight[k][o] * column k (+ b[o]), position by position: zip hands
    # sum() one tuple of the K scaled entries (and the bias) per position, all in C, adding them in
    # the order of the dot products above (zeros included: the same sums)
    positions = len(columns[0])
    out = []
    for o, weights in enumerate(zip(*weight)):
        terms = [map(_mul, column, repeat(w)) for column, w in zip(columns, weights) if w]
        if bias is not None:
            terms.append(repeat(bias[o], positions))
        out += map(sum, zip(*terms)) if terms else repeat(0.0, positions)
    return out


def _convolve_loops(columns, weight, bias):
    # channel o accumulates the columns scaled by weight[k][o], k in order (the same terms in the
    # same order as the dot products above), then the bias; no patches, no regrouping
    positions, n_out = len(columns[0]), len(weight[0])
    span = range(positions)
    out = []
    for o in range(n_out):
        acc = [0.0] * positions
        for k in range(len(columns)):
            w = weight[k][o]
            if w != 0.0:
                column = columns[k]
                for t in span:
                    acc[t] += w * column[t]
        if bias is not None:
            b = bias[o]
            for t in span:
                acc[t] += b
        out += acc
    return out


def weight_gradient(columns_per_image, grad_rows, positions):
    """dW = sum over images b of columns_b @ dY_b.T: K rows of O values, where
    dW[k][o] = sum over b and t of columns_b[k][t] * dY_b[o*P + t], P = positions.

    columns_per_image: each image's K columns; grad_rows: each image's dY as a row of O*P values.
    Positions where dY is exactly zero add nothing and are left out.
    """
    if _use_loops():
        return _weight_gradient_loops(columns_per_image, grad_rows, positions)
    return _weight_gradient_builtins(columns_per_image, grad_rows, positions)


def _sparse(column, span, pick_limit):
    """(getter of the column's nonzero positions, its nonzero values), or None when they are too
    many (or fewer than two) for picking to pay."""
    kept = list(compress(span, column))
    if not 2 <= len(kept) <= pick_limit:
        return None
    return _itemgetter(*kept), list(filter(None, column))


def _weight_gradient_builtins(columns_per_image, grad_rows, positions):
    n_weights, n_out = len(columns_per_image[0]), len(grad_rows[0]) // positions
    span = range(positions)
    pick_limit = positions * _PICK_SHARE
    totals = [None] * n_out  # totals[o][k], summed image after image
    for columns, grad in zip(columns_per_image, grad_rows):
        sparse_columns = None  # built for the first dense channel of dY, if any
        for o in range(n_out):
            channel = grad[o * positions:(o + 1) * positions]
            kept = list(compress(span, channel))  # the positions where dY is not zero
            if not kept:
                continue
            if len(kept) == 1:
                value, t = channel[kept[0]], kept[0]
                dots = [column[t] * value for column in columns]
            elif len(kept) <= pick_limit:
                dots = _dots(map(_itemgetter(*kept), columns), list(filter(None, channel)))
            else:  # a dense dY: pick the nonzero entries of each column instead, where they are few
                if sparse_columns is None:
                    sparse_columns = [_sparse(column, span, pick_limit) for column in columns]
                dots = [_dot(column, channel) if picked is None else _dot(picked[0](channel), picked[1])
                        for column, picked in zip(columns, sparse_columns)]
            totals[o] = dots if totals[o] is None else list(map(_add, totals[o], dots))
    zeros = [0.0] * n_weights
    return [list(row) for row in zip(*[zeros if t is None else t for t in totals])]


def _weight_gradient_loops(columns_per_image, grad_rows, positions):
    n_weights, n_out = len(columns_per_image[0]), len(grad_rows[0]) // positions
    totals = [[0.0] * n_weights for _ in range(n_out)]
    for columns, grad in zip(columns_per_image, grad_rows):
        for o in range(n_out):
            base = o * positions
            kept = [t for t in range(positions) if grad[base + t] != 0.0]
            if not kept:
                continue
            values = [grad[base + t] for t in kept]
            total = totals[o]
            for k in range(n_weights):
                column = columns[k]
                dot = 0.0
                for q in range(len(kept)):
                    dot += column[kept[q]] * values[q]
                total[k] += dot
    return [[totals[o][k] for o in range(n_out)] for k in range(n_weights)]


def input_gradient(grad_rows, weight, geometry):
    """dX = col2im(dZ @ W.T) for each image's dY (a row of O*P values): C*H*W values per image,
    dX[pixel] = sum over the (position t, entry k) that read the pixel, and o, of dY[o*P + t] * weight[k][o].

    builtins: at stride 1 (padding at most k - 1) as the convolution it equals (conv.Conv2D's
    docstring): convolve() over dY padded by k - 1 - p with the kernel turned half a turn and C, O
    swapped, whose patches' zeros the product skips; else dZ @ W.T by Matrix @ and im2col.col2im.
    loops: each nonzero dY[o*P + t] adds dY * weight[k][o] into the pixels patch t read (col2im
    of the product, entry by entry, the zeros of dY skipped), for any stride and padding.
    """
    if _use_loops():
        return _input_gradient_loops(grad_rows, weight, geometry)
    return _input_gradient_builtins(grad_rows, weight, geometry)


def _turned_geometry(geometry, n_out):
    """The Geometry of dY as the input of the convolution dX equals, or None (stride > 1, or a
    padding p > k - 1, which would need cropping)."""
    pad_h, pad_w = geometry.kernel_h - 1 - geometry.pad_h, geometry.kernel_w - 1 - geometry.pad_w
    if geometry.stride_h != 1 or geometry.stride_w != 1 or pad_h < 0 or pad_w < 0:
        return None
    return Geometry(n_out, geometry.out_h, geometry.out_w, geometry.kernel_h, geometry.kernel_w, 1, 1, pad_h, pad_w)


def _input_gradient_builtins(grad_rows, weight, geometry):
    n_out, kernel_h, kernel_w = len(weight[0]), geometry.kernel_h, geometry.kernel_w
    turned = _turned_geometry(geometry, n_out)
    if turned is None:
        grad_z = Matrix.from_rows(channel_rows(grad_rows, n_out), n_out)
        patch_grads = grad_z @ Matrix.from_rows(weight, n_out).T
        return col2im(patch_grads.rows, len(grad_rows), geometry)
    # turned[(o*kH + i)*kW + j][c] = weight[(c*kH + kH-1-i)*kW + kW-1-j][o]
    turned_weight = [[weight[(c * kernel_h + kernel_h - 1 - i) * kernel_w + kernel_w - 1 - j][o]
                      for c in range(geometry.channels)]
                     for o in range(n_out) for i in range(kernel_h) for j in range(kernel_w)]
    return [_convolve_builtins(image_columns(grad_row, turned), turned_weight, None) for grad_row in grad_rows]


def _read_pixels(geometry):
    """For each position t, the (entry k, pixel) pairs of patch t that lie inside the image (not
    the padding), as two lists; cached per geometry."""
    found = _READS.get(geometry)
    if found is None:
        H, W, kernel_h, kernel_w = geometry.height, geometry.width, geometry.kernel_h, geometry.kernel_w
        entries, pixels = [], []
        for p in range(geometry.out_h):
            for q in range(geometry.out_w):
                ks, ps = [], []
                for c in range(geometry.channels):
                    for i in range(kernel_h):
                        r = p * geometry.stride_h + i - geometry.pad_h
                        for j in range(kernel_w):
                            s = q * geometry.stride_w + j - geometry.pad_w
                            if 0 <= r < H and 0 <= s < W:
                                ks.append((c * kernel_h + i) * kernel_w + j)
                                ps.append((c * H + r) * W + s)
                entries.append(ks)
                pixels.append(ps)
        found = _READS[geometry] = (entries, pixels)
    return found


_READS = {}


def _input_gradient_loops(grad_rows, weight, geometry):
    entries, pixels = _read_pixels(geometry)
    positions, n_out = geometry.positions, len(weight[0])
    size = geometry.channels * geometry.height * geometry.width
    weight_by_out = [[row[o] for row in weight] for o in range(n_out)]  # W.T: row o holds weight[k][o]
    out = []
    for grad in grad_rows:
        dx = [0.0] * size
        for o in range(n_out):
            w, base = weight_by_out[o], o * positions
            for t in range(positions):
                g = grad[base + t]
                if g != 0.0:
                    ks, ps = entries[t], pixels[t]
                    for e in range(len(ks)):
                        dx[ps[e]] += g * w[ks[e]]
        out.append(dx)
    return out


# ================================================================ max pooling

def max_pool(image, geometry):
    """(maxima, where) of one image: maxima[c*P + t] the largest value of window t of channel c,
    where[c*P + t] the index in `image` of the first maximum in the window's row-major order
    (PyTorch's tie rule). The geometry has no padding (a pool's)."""
    if _use_loops():
        return _max_pool_loops(image, geometry)
    return _max_pool_builtins(image, geometry)


def _window_starts(geometry):
    """(starts, offsets): the image index of each window's top-left pixel, channel by channel, and
    the index of window entry i*kW + j relative to it (i*W + j); cached per geometry."""
    found = _STARTS.get(geometry)
    if found is None:
        H, W = geometry.height, geometry.width
        starts = [c * H * W + p * geometry.stride_h * W + q * geometry.stride_w
                  for c in range(geometry.channels) for p in range(geometry.out_h) for q in range(geometry.out_w)]
        offsets = [i * W + j for i in range(geometry.kernel_h) for j in range(geometry.kernel_w)]
        found = _STARTS[geometry] = (starts, offsets)
    return found


_STARTS = {}


def _max_pool_builtins(image, geometry):
    starts, offsets = _window_starts(geometry)
    window = len(offsets)
    columns = image_columns(image, geometry)  # C*window lists: one per channel and window entry
    maxima, first = [], []
    for start in range(0, len(columns), window):
        entries = columns[start:start + window]  # entry t of every window of one channel
        if window == 1:  # max(x) of one number would be max() of a float: each entry is its own maximum
            maxima += entries[0]
            first += [0] * len(entries[0])
            continue
        largest = list(map(max, *entries))
        maxima += largest
        first += map(tuple.index, zip(*entries), largest)  # index() finds the first maximum
    return maxima, list(map(_add, starts, map(offsets.__getitem__, first)))


def _max_pool_loops(image, geometry):
    kernel_h, kernel_w, width = geometry.kernel_h, geometry.kernel_w, geometry.width
    maxima, where = [], []
    for start in _window_starts(geometry)[0]:
        best, at = image[start], start
        for i in range(kernel_h):
            row = start + i * width
            for j in range(kernel_w):
                value = image[row + j]
                if value > best:  # strictly larger: a tie keeps the first
                    best, at = value, row + j
        maxima.append(best)
        where.append(at)
    return maxima, where


def unpool(grad, where, size, overlapping):
    """dX of one image (`size` values): grad[t] added at where[t], zero elsewhere. Windows that
    do not overlap (stride >= kernel) send to distinct pixels, so each is simply set."""
    out = [0.0] * size
    if overlapping or _use_loops():
        for index, value in zip(where, grad):
            out[index] += value
    else:
        list(map(out.__setitem__, where, grad))  # one C call per window; the Nones are dropped
    return out
