"""The Hilbert curve: flattening a square image so that nearby pixels stay nearby.

Used by the square detector (demos/square_detector.py); docs/hilbert.md explains it.
"""

from functools import lru_cache


# ---------------------------------------------------------------- Hilbert curve
#
# A Hilbert curve walks through every cell of a 2**order x 2**order grid, one
# 4-neighbour step at a time, and cells close along the curve are close in the
# image. Flattening an image along it (instead of row by row) keeps each 2x2
# block together as 4 consecutive values, so a 1-D model sees 2-D locality and
# shrinking the vector by averaging groups of 4 is 2x2 block averaging.
# docs/hilbert.md draws the curve and explains why.


# The order-1 curve: position 0..3 -> quadrant (x, y). x is the column, y the row.
# It starts top-left, goes down, right, then up:   0   3
#                                                  |   |
#                                                  1---2
_HILBERT_QUADRANTS = ((0, 0), (0, 1), (1, 1), (1, 0))
_HILBERT_DIGIT_OF_QUADRANT = {quadrant: digit for digit, quadrant in enumerate(_HILBERT_QUADRANTS)}


def _check_hilbert_order(order):
    if isinstance(order, bool) or not isinstance(order, int) or order < 0:
        raise ValueError("Hilbert curve order must be an integer >= 0, got {!r}".format(order))


def _is_power_of_four(n):
    """True for 1, 4, 16, 64, ...: a single set bit at an even position."""
    return n >= 1 and n & (n - 1) == 0 and (n.bit_length() - 1) % 2 == 0


def _turn_into_quadrant(digit, size, x, y):
    """Turn a sub-curve on a size x size block so it fits quadrant `digit` of the next order.

    The sub-curves in quadrants 1 and 2 keep the orientation of the whole curve.
    Quadrant 0 is transposed (x, y) -> (y, x) so that it leaves toward quadrant 1;
    quadrant 3 is transposed about the other diagonal, (x, y) -> (size-1-y, size-1-x),
    so that it enters from quadrant 2. Both maps are their own inverse.
    """
    if digit == 0:
        return y, x
    if digit == 3:
        return size - 1 - y, size - 1 - x
    return x, y


def hilbert_d2xy(order, d):
    """Cell (x, y) visited at position d of the Hilbert curve on a 2**order square grid.

    x is the column and y the row, both in 0 .. 2**order - 1; d is in 0 .. 4**order - 1.

    Read d in base 4 from the least significant digit up. The lowest digit places
    the cell in a 2x2 block with the order-1 curve 0 -> (0,0), 1 -> (0,1),
    2 -> (1,1), 3 -> (1,0). Each further digit says which quadrant of a block
    twice as big holds everything built so far: the part is turned to fit that
    quadrant (see _turn_into_quadrant) and moved into it. This is the usual
    formulation (Wikipedia, "Hilbert curve", d2xy).

    Coarse-cell property: for every d,
        hilbert_d2xy(k + 1, d) // 2 == hilbert_d2xy(k, d // 4)   (each coordinate).
    Dropping the lowest digit leaves exactly the order-k computation on d // 4,
    and each step (x -> y, x -> s-1-y, x -> x + s) commutes with halving when
    s is even. So positions 4m .. 4m+3 fill the 2x2 block over coarse cell m.
    """
    _check_hilbert_order(order)
    if isinstance(d, bool) or not isinstance(d, int) or not 0 <= d < 4 ** order:
        raise ValueError("Hilbert position must be an integer in 0 .. {} for order {}, got {!r}"
                         .format(4 ** order - 1, order, d))
    x = y = 0
    size = 1  # side of the block built so far
    while size < 2 ** order:
        digit = d % 4
        x, y = _turn_into_quadrant(digit, size, x, y)
        quadrant_x, quadrant_y = _HILBERT_QUADRANTS[digit]
        x += size * quadrant_x
        y += size * quadrant_y
        d //= 4
        size *= 2
    return x, y


def hilbert_xy2d(order, x, y):
    """Position d at which the Hilbert curve of the given order visits cell (x, y).

    The inverse of hilbert_d2xy, run from the largest block down: find the
    quadrant holding (x, y), add its digit times the quadrant's cell count,
    move (x, y) into the quadrant and undo the turn, and repeat on the quadrant.
    """
    _check_hilbert_order(order)
    side = 2 ** order
    for name, value in (("x", x), ("y", y)):
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < side:
            raise ValueError("Hilbert cell {} must be an integer in 0 .. {} for order {}, got {!r}"
                             .format(name, side - 1, order, value))
    d = 0
    size = side // 2  # side of a quadrant at the current level
    while size >= 1:
        quadrant_x, quadrant_y = x // size, y // size
        digit = _HILBERT_DIGIT_OF_QUADRANT[(quadrant_x, quadrant_y)]
        d += digit * size * size
        x, y = _turn_into_quadrant(digit, size, x - size * quadrant_x, y - size * quadrant_y)
        size //= 2
    return d


@lru_cache(maxsize=None)
def _hilbert_cells(order):
    """The whole curve as a tuple of (x, y), cached: flatten runs on thousands of images."""
    return tuple(hilbert_d2xy(order, d) for d in range(4 ** order))


def _describe_image_shape(image):
    row_lengths = [len(row) for row in image]
    if len(set(row_lengths)) <= 1:
        return "{} rows x {} columns".format(len(image), row_lengths[0] if row_lengths else 0)
    return "{} rows of lengths {}".format(len(image), row_lengths)


def hilbert_flatten(image):
    """Square image (list of rows, side 2**order) -> list of side*side values in curve order.

    v[d] = image[y][x] where (x, y) = hilbert_d2xy(order, d). Each group of 4
    consecutive values is one 2x2 block of the image (the coarse-cell property).
    """
    side = len(image)
    is_square = all(len(row) == side for row in image)
    if not (is_square and side >= 1 and side & (side - 1) == 0):
        raise ValueError("hilbert_flatten needs a square image whose side is a power of two "
                         "(1, 2, 4, 8, 16, ...), got {}".format(_describe_image_shape(image)))
    order = side.bit_length() - 1
    return [image[y][x] for x, y in _hilbert_cells(order)]


def hilbert_unflatten(vector):
    """Inverse of hilbert_flatten: list of 4**order values in curve order -> list of rows."""
    if not _is_power_of_four(len(vector)):
        raise ValueError("hilbert_unflatten needs a length that is a power of 4 "
                         "(1, 4, 16, 64, 256, ...), got {}".format(len(vector)))
    order = (len(vector).bit_length() - 1) // 2
    side = 2 ** order
    image = [[None] * side for _ in range(side)]
    for value, (x, y) in zip(vector, _hilbert_cells(order)):
        image[y][x] = value
    return image


def hilbert_resample(vector, length):
    """Change the resolution of a curve-ordered vector to `length` values.

    Both lengths must be powers of 4. One step down replaces each group of 4
    consecutive values by their mean,
        out[m] = (v[4m] + v[4m+1] + v[4m+2] + v[4m+3]) / 4,
    which by the coarse-cell property is the 2x2 block average of the image.
    One step up repeats each value 4 times (each pixel becomes a 2x2 block).
    Larger ratios repeat the step.
    """
    for name, value in (("input length", len(vector)), ("target length", length)):
        if isinstance(value, bool) or not isinstance(value, int) or not _is_power_of_four(value):
            raise ValueError("hilbert_resample needs lengths that are powers of 4 "
                             "(1, 4, 16, 64, 256, ...), got {} {!r}".format(name, value))
    values = list(vector)
    while len(values) > length:
        values = [sum(values[start:start + 4]) / 4 for start in range(0, len(values), 4)]
    while len(values) < length:
        values = [value for value in values for _ in range(4)]
    return values
