"""im2col and col2im: a convolution rewritten as one matrix product.

A convolution slides a kernel of kH x kW pixels over each of C channels. Written
directly it is six nested loops, run in Python bytecode at every multiply-add.
im2col ("image to columns", Chellapilla et al. 2006; Caffe's im2col) first copies
every window of the image into a row of a matrix, the window's "patch":

    patch(p, q) = [x[c, p*sH + i - pH, q*sW + j - pW]  for c < C, i < kH, j < kW]

in (c, i, j) order (zero outside the image), so that the whole convolution
becomes one product of the patches with a (C*kH*kW, out_channels) weight
matrix, done by matrix.py's kernels in C builtins. col2im is the way back: it
adds a gradient with the same layout as the patches into the pixels each came
from, summing where windows overlap.

Shapes, for one image of C x H x W pixels and K = C*kH*kW:
    H_out = (H + 2 pH - kH) // sH + 1          W_out = (W + 2 pW - kW) // sW + 1
    columns   K lists of H_out*W_out values: columns[k][p*W_out + q] is entry k
              of patch (p, q), k = c*kH*kW + i*kW + j
    patches   H_out*W_out rows of K values: the columns transposed
An image travels as one flat list of C*H*W values in (channel, row, column)
order, as x.reshape(n, -1) lays out a PyTorch (n, C, H, W) tensor.

Speed. The columns are built, not the patches: for fixed (c, i, j) the entries
of one output row p are a single (strided) slice of padded row p*sH + i,
so an image takes K * H_out slices (C code each), where building the patches
one by one would take H_out*W_out*C*kH of them, W_out/kW times as many.
zip(*columns) then transposes them into patches in C. col2im runs the same
slices the other way, adding with map(operator.add, ...). This module knows
nothing of layers or networks: only lists of floats and the geometry.
"""

import collections
import operator
from itertools import chain

_add = operator.add
_chain = chain.from_iterable


def output_size(size, kernel, stride, padding):
    """Positions of a window of `kernel` pixels along `size` (plus `padding` zeros on each side),
    moved by `stride`: floor((size + 2 padding - kernel) / stride) + 1, as PyTorch rounds."""
    return (size + 2 * padding - kernel) // stride + 1


class Geometry(collections.namedtuple("Geometry", "channels height width kernel_h kernel_w "
                                                  "stride_h stride_w pad_h pad_w")):
    """The shapes of one windowed pass over a C x H x W image: kernel, stride and zero padding."""

    __slots__ = ()

    @property
    def out_h(self):
        return output_size(self.height, self.kernel_h, self.stride_h, self.pad_h)

    @property
    def out_w(self):
        return output_size(self.width, self.kernel_w, self.stride_w, self.pad_w)

    @property
    def patch_size(self):
        """K = C * kH * kW, the length of a patch."""
        return self.channels * self.kernel_h * self.kernel_w

    @property
    def positions(self):
        """H_out * W_out, the number of patches of an image."""
        return self.out_h * self.out_w


def padded_planes(image, geometry):
    """The image as C planes, each a list of (H + 2 pH) rows of (W + 2 pW) values, zero border.

    The border rows of a plane are one shared list: the planes are for reading only.
    """
    C, H, W = geometry.channels, geometry.height, geometry.width
    pad_h, pad_w = geometry.pad_h, geometry.pad_w
    side = [0.0] * pad_w
    blank = [0.0] * (W + 2 * pad_w)
    planes = []
    for c in range(C):
        base = c * H * W
        if pad_w:
            rows = [side + image[start:start + W] + side for start in range(base, base + H * W, W)]
        else:
            rows = [image[start:start + W] for start in range(base, base + H * W, W)]
        if pad_h:
            rows = [blank] * pad_h + rows + [blank] * pad_h
        planes.append(rows)
    return planes


def _window_rows(plane, i, geometry):
    """The padded rows that kernel row i meets, one per output row p: rows p*sH + i."""
    stride_h = geometry.stride_h
    return plane[i:i + stride_h * (geometry.out_h - 1) + 1:stride_h]


def image_columns(image, geometry):
    """im2col of one image, as K lists of H_out*W_out values (see the module docstring).

    columns[c*kH*kW + i*kW + j][p*W_out + q] = x[c, p*sH + i - pH, q*sW + j - pW] (0 outside).
    """
    kernel_w, stride_w = geometry.kernel_w, geometry.stride_w
    span = stride_w * (geometry.out_w - 1) + 1  # from the first window's column to the last's
    columns = []
    for plane in padded_planes(image, geometry):
        for i in range(geometry.kernel_h):
            rows = _window_rows(plane, i, geometry)
            for j in range(kernel_w):
                # one slice per output row, in C: itemgetter(slice) mapped over the rows
                columns.append(list(_chain(map(operator.itemgetter(slice(j, j + span, stride_w)), rows))))
    return columns


def im2col(images, geometry):
    """The patches of every image, image after image: n*H_out*W_out rows of K values.

    images: a list of n flat images (C*H*W values each).
    """
    return patches_of([image_columns(image, geometry) for image in images])


def patches_of(columns_per_image):
    """The patches (rows) of images given by their columns: each image's columns transposed, in
    C by zip, image after image. Rows are tuples, which every Matrix kernel reads as lists."""
    patches = []
    for columns in columns_per_image:
        patches += zip(*columns)
    return patches


def columns_to_image(columns, geometry):
    """col2im of one image: add columns[k][p*W_out + q] into the pixel patch (p, q) took entry k
    from, summing where windows overlap, and drop the padding; returns C*H*W values.

    The adjoint of image_columns: for any image x and columns G,
        sum(image_columns(x) * G) == sum(x * columns_to_image(G))
    which is why it gives the gradient with respect to the image.
    """
    kernel_h, kernel_w = geometry.kernel_h, geometry.kernel_w
    stride_h, stride_w = geometry.stride_h, geometry.stride_w
    out_h, out_w = geometry.out_h, geometry.out_w
    span = stride_w * (out_w - 1) + 1
    planes = [[[0.0] * (geometry.width + 2 * geometry.pad_w) for _ in range(geometry.height + 2 * geometry.pad_h)]
              for _ in range(geometry.channels)]
    k = 0
    for plane in planes:
        for i in range(kernel_h):
            for j in range(kernel_w):
                column = columns[k]
                k += 1
                stop = j + span
                for p in range(out_h):
                    row = plane[p * stride_h + i]
                    start = p * out_w
                    # the row's strided slice gets the p-th run of the column, added in C
                    row[j:stop:stride_w] = map(_add, row[j:stop:stride_w], column[start:start + out_w])
    pad_h, pad_w, H, W = geometry.pad_h, geometry.pad_w, geometry.height, geometry.width
    if pad_h or pad_w:
        return list(_chain(row[pad_w:pad_w + W] for plane in planes for row in plane[pad_h:pad_h + H]))
    return list(_chain(_chain(planes)))


def col2im(patch_grads, n_images, geometry):
    """col2im of a batch: patch_grads are n*H_out*W_out rows of K values (the layout im2col
    gives); returns n flat images of C*H*W values, each pixel the sum of its patch entries."""
    positions = geometry.positions
    return [columns_to_image(list(zip(*patch_grads[b * positions:(b + 1) * positions])), geometry)
            for b in range(n_images)]


def channel_rows(rows, channels):
    """Rows of (channel, position) values regrouped as position-major rows of `channels` values:
    each flat row [a0 a1 .. b0 b1 ..] of C channels of P positions becomes P rows (a_t, b_t, ..).
    This turns a batch of feature maps (n, C*P) into the (n*P, C) layout of the patch product."""
    result = []
    for row in rows:
        size = len(row) // channels
        result += zip(*[row[start:start + size] for start in range(0, len(row), size)])
    return result
