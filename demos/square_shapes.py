"""Square or not? Small black-and-white shape images for the Hilbert-curve square detector.

Everything here is plain lists: an image is a list of `size` rows, each a list
of `size` floats, 1.0 for an "on" pixel and 0.0 for "off"; x is the column and
y the row. Nothing imports the network or tkinter (only utils.py, for the
InputError a bad image file raises), so the tests can generate, read and draw
images without a display.

    generate_dataset(n, size, rng)     balanced images and labels (1 = square)
    generate_image(kind, size, rng)    one image of a named kind (see KINDS)
    augment(image, rng)                shifted and/or slightly blurred copy
    center_image(image)                the shape moved to the middle
    render(image)                      '#' and '.' text for the terminal
    read_image_file(path)              the inverse of render, with clear errors
    DrawingGrid(size)                  mouse strokes -> image, for the drawing app

Positives are axis-aligned squares, filled or outlined, some with a hand-drawn
wobble. Negatives are meant to be hard: rectangles that are nearly square,
circles, triangles, lines, and empty or speckled images.
"""

import math
import os
import random

from utils import InputError, quote

POSITIVE_KINDS = ("filled_square", "outlined_square", "hand_drawn_square")
NEGATIVE_KINDS = ("filled_rectangle", "outlined_rectangle", "filled_circle", "outlined_circle",
                  "triangle", "line", "empty", "speckles")
KINDS = POSITIVE_KINDS + NEGATIVE_KINDS

_DESCRIPTIONS = {
    "filled_square": "a solid axis-aligned square",
    "outlined_square": "the one-pixel outline of an axis-aligned square",
    "hand_drawn_square": "a filled or outlined square whose sides wobble inward by a pixel",
    "filled_rectangle": "a solid rectangle whose sides differ by at least rectangle_side_gap(size)",
    "outlined_rectangle": "the outline of such a rectangle",
    "filled_circle": "a solid disc",
    "outlined_circle": "the outline of a disc",
    "triangle": "a right or isosceles triangle, filled or outlined",
    "line": "a straight line at any angle, at least half the image long",
    "empty": "no pixels at all",
    "speckles": "a few isolated pixels, none touching another",
}

# How often each negative kind appears: mostly the hard ones that share a
# square's straight edges or its square bounding box.
_NEGATIVE_WEIGHTS = {"filled_rectangle": 3, "outlined_rectangle": 3, "filled_circle": 2,
                     "outlined_circle": 2, "triangle": 2, "line": 1, "empty": 0.5, "speckles": 1}

MIN_GENERATED_SIZE = 8
FILE_SIDES = (4, 8, 16, 32, 64)


def describe(kind):
    """One line saying what images of this kind look like and their label."""
    label = "square" if label_of(kind) == 1 else "not a square"
    return "{}: {} ({})".format(kind, _DESCRIPTIONS[kind], label)


def label_of(kind):
    """1 for the square kinds, 0 for the others."""
    if kind not in _DESCRIPTIONS:
        raise ValueError("unknown shape kind {!r}; the kinds are {}".format(kind, ", ".join(KINDS)))
    return 1 if kind in POSITIVE_KINDS else 0


def side_range(size):
    """Smallest and largest shape side for an image of this size: about 3/16 and 14/16 of it."""
    return max(2, round(size * 3 / 16)), round(size * 14 / 16)


def rectangle_side_gap(size):
    """How much a rectangle's two sides differ at least: 2 pixels per 16, and never below 2."""
    return max(2, round(size * 2 / 16))


# ---------------------------------------------------------------- drawing primitives

def blank_image(size):
    """A size x size image with every pixel off."""
    return [[0.0] * size for _ in range(size)]


def line_cells(x0, y0, x1, y1):
    """Integer cells from (x0, y0) to (x1, y1), both ends included, each 8-adjacent to the next.

    Bresenham's algorithm: step along the longer axis one cell at a time and
    step along the other whenever the accumulated error passes half a cell.
    """
    dx, dy = abs(x1 - x0), -abs(y1 - y0)
    step_x = 1 if x0 < x1 else -1
    step_y = 1 if y0 < y1 else -1
    error = dx + dy
    cells = []
    x, y = x0, y0
    while True:
        cells.append((x, y))
        if x == x1 and y == y1:
            return cells
        doubled = 2 * error
        if doubled >= dy:
            error += dy
            x += step_x
        if doubled <= dx:
            error += dx
            y += step_y


def _set_cells(image, cells):
    size = len(image)
    for x, y in cells:
        if 0 <= x < size and 0 <= y < size:
            image[y][x] = 1.0


def _outline(image):
    """Keep the on-pixels that have an off 4-neighbour (outside the image counts as off)."""
    size = len(image)

    def is_on(x, y):
        return 0 <= x < size and 0 <= y < size and image[y][x] >= 0.5

    return [[1.0 if is_on(x, y) and not all(is_on(x + dx, y + dy)
                                             for dx, dy in ((1, 0), (-1, 0), (0, 1), (0, -1)))
             else 0.0 for x in range(size)] for y in range(size)]


def _place(size, width, height, rng):
    """Random (left, top) so that a width x height box fits inside the image."""
    return rng.randint(0, size - width), rng.randint(0, size - height)


def _rectangle(size, width, height, filled, rng):
    image = blank_image(size)
    left, top = _place(size, width, height, rng)
    for y in range(top, top + height):
        for x in range(left, left + width):
            image[y][x] = 1.0
    if not filled:
        image = _outline(image)
    return image, left, top


def _add_wobble(image, left, top, width, height, filled, rng):
    """Push one pixel of some sides inward by one, as an unsteady hand would.

    Only sides of 6 or more pixels wobble, and never at or next to a corner,
    so the corners and the bounding box stay where they were.
    For an outline the pixel moves inward; a filled shape just loses it.
    """
    right, bottom = left + width - 1, top + height - 1
    sides = []  # (cells along the side, inward step)
    if width >= 6:
        sides.append(([(x, top) for x in range(left + 2, right - 1)], (0, 1)))
        sides.append(([(x, bottom) for x in range(left + 2, right - 1)], (0, -1)))
    if height >= 6:
        sides.append(([(left, y) for y in range(top + 2, bottom - 1)], (1, 0)))
        sides.append(([(right, y) for y in range(top + 2, bottom - 1)], (-1, 0)))
    if not sides:
        return
    for cells, (step_x, step_y) in rng.sample(sides, rng.randint(1, len(sides))):
        x, y = rng.choice(cells)
        image[y][x] = 0.0
        if not filled:
            image[y + step_y][x + step_x] = 1.0


def _square(size, rng, filled, wobble):
    smallest, largest = side_range(size)
    if wobble:
        smallest = max(smallest, 6)  # room for a wobble away from the corners
    elif not filled:
        smallest = max(smallest, 3)  # a 2x2 outline would be a filled square
    side = rng.randint(smallest, largest)
    image, left, top = _rectangle(size, side, side, filled, rng)
    if wobble:
        _add_wobble(image, left, top, side, side, filled, rng)
    return image


def _nearly_square_rectangle(size, rng, filled):
    smallest, largest = side_range(size)
    gap = rectangle_side_gap(size)
    width = rng.randint(smallest, largest)
    heights = [h for h in range(smallest, largest + 1) if abs(h - width) >= gap]
    height = rng.choice(heights)
    if rng.random() < 0.5:
        width, height = height, width
    image, left, top = _rectangle(size, width, height, filled, rng)
    if rng.random() < 1 / 3:  # wobble rectangles too, so a wobble never gives the answer
        _add_wobble(image, left, top, width, height, filled, rng)
    return image


def _circle(size, rng, filled):
    """A disc of diameter d: the cells whose centres lie within d/2 of its centre."""
    smallest, largest = side_range(size)
    diameter = rng.randint(max(5, smallest), largest)  # below 5 a disc is a square with bites
    left, top = _place(size, diameter, diameter, rng)
    centre_x, centre_y = left + (diameter - 1) / 2, top + (diameter - 1) / 2
    radius_squared = (diameter / 2) ** 2
    image = [[1.0 if (x - centre_x) ** 2 + (y - centre_y) ** 2 <= radius_squared else 0.0
              for x in range(size)] for y in range(size)]
    return image if filled else _outline(image)


def _triangle(size, rng):
    """A right triangle (right angle in a random corner) or an isosceles one
    (apex on a random side), filled or outlined."""
    smallest, largest = side_range(size)
    smallest = max(smallest, 3)
    width, height = rng.randint(smallest, largest), rng.randint(smallest, largest)
    if rng.random() < 0.5:  # right triangle: legs along two sides of its box
        corners = [(0, 0), (width - 1, 0), (width - 1, height - 1), (0, height - 1)]
        skipped = rng.randrange(4)
        vertices = corners[:skipped] + corners[skipped + 1:]
    else:  # isosceles with its apex in the middle of the top, then turned
        width -= 1 - width % 2  # odd width puts the apex on a cell centre
        vertices = [(0, height - 1), (width - 1, height - 1), ((width - 1) // 2, 0)]
        for _ in range(rng.randrange(4)):  # quarter turns: (x, y) -> (height-1-y, x)
            vertices = [(height - 1 - y, x) for x, y in vertices]
            width, height = height, width
    left, top = _place(size, width, height, rng)
    vertices = [(left + x, top + y) for x, y in vertices]
    image = [[1.0 if _inside_triangle(x, y, vertices) else 0.0 for x in range(size)]
             for y in range(size)]
    return image if rng.random() < 0.5 else _outline(image)


def _inside_triangle(x, y, vertices):
    """True when (x, y) is inside the triangle or on its edges: all three edge
    cross products have the same sign (or are zero)."""
    (ax, ay), (bx, by), (cx, cy) = vertices
    signs = [(bx - ax) * (y - ay) - (by - ay) * (x - ax),
             (cx - bx) * (y - by) - (cy - by) * (x - bx),
             (ax - cx) * (y - cy) - (ay - cy) * (x - cx)]
    return all(s >= 0 for s in signs) or all(s <= 0 for s in signs)


def _line(size, rng):
    image = blank_image(size)
    while True:
        x0, y0, x1, y1 = (rng.randrange(size) for _ in range(4))
        if max(abs(x1 - x0), abs(y1 - y0)) >= size // 2:
            break
    _set_cells(image, line_cells(x0, y0, x1, y1))
    return image


def _speckles(size, rng):
    """Isolated pixels: none has an on 8-neighbour, so no square can form."""
    image = blank_image(size)
    count = rng.randint(3, max(3, size * size // 16))
    placed = 0
    for _ in range(20 * count):
        if placed == count:
            break
        x, y = rng.randrange(size), rng.randrange(size)
        neighbourhood = [image[j][i] for j in range(max(0, y - 1), min(size, y + 2))
                         for i in range(max(0, x - 1), min(size, x + 2))]
        if not any(neighbourhood):
            image[y][x] = 1.0
            placed += 1
    return image


# ---------------------------------------------------------------- data set

def _make_rng(rng):
    if rng is None:
        return random.Random(0)
    if isinstance(rng, int):
        return random.Random(rng)
    return rng


def _check_size(size):
    if isinstance(size, bool) or not isinstance(size, int) or size < MIN_GENERATED_SIZE:
        raise ValueError("image size must be an integer >= {}, got {!r}"
                         .format(MIN_GENERATED_SIZE, size))


def generate_image(kind, size=16, rng=None):
    """One size x size image of the given kind (one of KINDS).

    rng is a random.Random, an int seed, or None for seed 0.
    """
    label_of(kind)  # raises for an unknown kind
    _check_size(size)
    rng = _make_rng(rng)
    if kind == "filled_square":
        return _square(size, rng, filled=True, wobble=False)
    if kind == "outlined_square":
        return _square(size, rng, filled=False, wobble=False)
    if kind == "hand_drawn_square":
        return _square(size, rng, filled=rng.random() < 0.5, wobble=True)
    if kind.endswith("rectangle"):
        return _nearly_square_rectangle(size, rng, filled=(kind == "filled_rectangle"))
    if kind.endswith("circle"):
        return _circle(size, rng, filled=(kind == "filled_circle"))
    if kind == "triangle":
        return _triangle(size, rng)
    if kind == "line":
        return _line(size, rng)
    if kind == "speckles":
        return _speckles(size, rng)
    return blank_image(size)


def generate_dataset(n, size=16, rng=None, positive_fraction=0.5):
    """n images with labels (1 = square, 0 = not), in random order.

    Exactly round(n * positive_fraction) are squares, each of a kind drawn
    uniformly from POSITIVE_KINDS; the others come from NEGATIVE_KINDS, mostly
    the hard ones. rng is a random.Random, an int seed, or None for seed 0:
    the same seed gives the same images.
    Returns (images, labels): a list of size x size lists of rows, a list of ints.
    """
    if not 0 <= positive_fraction <= 1:
        raise ValueError("positive_fraction must be between 0 and 1, got {}"
                         .format(positive_fraction))
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError("n must be an integer >= 0, got {!r}".format(n))
    _check_size(size)
    rng = _make_rng(rng)
    n_positive = round(n * positive_fraction)
    labels = [1] * n_positive + [0] * (n - n_positive)
    rng.shuffle(labels)
    negative_kinds = list(_NEGATIVE_WEIGHTS)
    weights = [_NEGATIVE_WEIGHTS[kind] for kind in negative_kinds]
    images = []
    for label in labels:
        if label == 1:
            kind = rng.choice(POSITIVE_KINDS)
        else:
            kind = rng.choices(negative_kinds, weights)[0]
        images.append(generate_image(kind, size, rng))
    return images, labels


# ---------------------------------------------------------------- augmentation

def shift_image(image, dx, dy):
    """Copy with every pixel moved dx columns right and dy rows down; what leaves is lost."""
    size = len(image)
    shifted = blank_image(size)
    for y, row in enumerate(image):
        for x, value in enumerate(row):
            if 0 <= x + dx < size and 0 <= y + dy < size:
                shifted[y + dy][x + dx] = value
    return shifted


def blur_image(image, strength):
    """Mix each pixel with the mean of its 3x3 neighbourhood (outside counts as 0):

        out = (1 - strength) * pixel + strength * mean_3x3

    A convex mix of values in [0, 1] stays in [0, 1]. For strength <= 0.5 no
    pixel of a 0/1 image crosses 0.5: an on pixel keeps at least 0.5 + 0.5/9,
    an off pixel gets at most 0.5 * 8/9.
    """
    size = len(image)
    blurred = blank_image(size)
    for y in range(size):
        for x in range(size):
            total = sum(image[j][i] for j in range(max(0, y - 1), min(size, y + 2))
                        for i in range(max(0, x - 1), min(size, x + 2)))
            blurred[y][x] = (1 - strength) * image[y][x] + strength * total / 9
    return blurred


def augment(image, rng):
    """A shifted, blurred, or shifted and blurred copy of a 0/1 image.

    The shift moves the shape by up to size/8 pixels (at least 1) without
    pushing any on-pixel out of the image, so a square stays a square. The
    blur has strength 0.2 to 0.5, so render() of the copy still shows the
    same shape.
    """
    change = rng.choice(("shift", "blur", "shift and blur"))
    result = [list(row) for row in image]
    if "shift" in change:
        size = len(image)
        on = [(x, y) for y, row in enumerate(image) for x, value in enumerate(row) if value >= 0.5]
        reach = max(1, size // 8)
        if on:
            xs, ys = [x for x, _ in on], [y for _, y in on]
            dx = rng.randint(max(-reach, -min(xs)), min(reach, size - 1 - max(xs)))
            dy = rng.randint(max(-reach, -min(ys)), min(reach, size - 1 - max(ys)))
            result = shift_image(result, dx, dy)
    if "blur" in change:
        result = blur_image(result, rng.uniform(0.2, 0.5))
    return result


def center_image(image):
    """Copy with the box around the on-pixels (value >= 0.5) moved to the middle.

    The box's left edge goes to column (size - width) // 2, its top to row
    (size - height) // 2, so an odd leftover puts the extra column or row on
    the right or bottom. An image with no on-pixel is returned as a copy.
    No on-pixel leaves the image (the box fits before, so it fits after); a
    faint pixel (below 0.5) just outside the box may, at the border.
    """
    on = [(x, y) for y, row in enumerate(image) for x, value in enumerate(row) if value >= 0.5]
    if not on:
        return [list(row) for row in image]
    size = len(image)
    xs, ys = [x for x, _ in on], [y for _, y in on]
    dx = (size - (max(xs) - min(xs) + 1)) // 2 - min(xs)
    dy = (size - (max(ys) - min(ys) + 1)) // 2 - min(ys)
    return shift_image(image, dx, dy)


# ---------------------------------------------------------------- text form

def render(image):
    """Rows of '#' (value >= 0.5) and '.' (below), joined by newlines."""
    return "\n".join("".join("#" if value >= 0.5 else "." for value in row) for row in image)


class ImageFileError(InputError):
    """An image file that cannot be read as a shape; the message names the file and the line."""


def parse_image(text, source="<text>"):
    """Rows of '#' and '.' -> image; errors name `source` and the line. See read_image_file."""
    lines = text.split("\n")
    while lines and not lines[-1].strip():
        lines.pop()  # blank lines at the end are fine
    if not lines:
        raise ImageFileError("{}: no image found (empty); expected rows of '#' (on) and '.' (off)"
                         .format(source))
    image = []
    width = None
    for number, line in enumerate(lines, start=1):
        row = line.strip()
        if not row:
            raise ImageFileError("{} line {}: blank line inside the image (only trailing blank lines "
                             "are allowed)".format(source, number))
        indent = len(line) - len(line.lstrip())
        for column, character in enumerate(row, start=indent + 1):
            if character not in "#.":
                raise ImageFileError("{} line {}: unexpected character {} at column {}; use '#' "
                                 "for on and '.' for off".format(source, number, quote(character), column))
        if width is None:
            width = len(row)
            if width not in FILE_SIDES:
                raise ImageFileError("{} line {}: row has {} characters; the image must be square "
                                 "with side 4, 8, 16, 32 or 64".format(source, number, width))
        elif len(row) != width:
            raise ImageFileError("{} line {}: expected {} characters, found {}"
                             .format(source, number, width, len(row)))
        image.append([1.0 if character == "#" else 0.0 for character in row])
    if len(image) != width:
        raise ImageFileError("{} line {}: expected {} rows to make a square image {} wide, found {}"
                         .format(source, min(len(image), width) + 1, width, width, len(image)))
    return image


def read_image_file(path):
    """Read one image written as rows of '#' (on) and '.' (off).

    All rows have the same length, the image is square, and its side is 4, 8,
    16, 32 or 64. Whitespace around a row and blank lines at the end are
    ignored. Anything else raises ImageFileError with a one-line message naming the
    file and, where there is one, the line: "shape.txt line 3: expected 16
    characters, found 15".
    """
    name = os.fspath(path)
    if os.path.isdir(path):
        raise ImageFileError("{}: is a directory, expected a text file of '#' and '.' rows"
                         .format(name))
    try:
        with open(path, "rb") as file:
            data = file.read()
    except OSError as error:
        message = "{}: cannot read the file ({})".format(name, error.strerror or error)
        raise ImageFileError(message) from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[:error.start].count(b"\n") + 1
        raise ImageFileError("{} line {}: byte 0x{:02x} is not text (UTF-8); expected '#' and '.'"
                         .format(name, line, data[error.start])) from None
    return parse_image(text, name)


# ---------------------------------------------------------------- drawing by hand

class DrawingGrid:
    """A size x size grid of cells that mouse strokes switch on; no GUI code.

    Coordinates are in cells, floats allowed: the point (x, y) is in column
    floor(x), row floor(y). Successive points of a stroke are joined by a
    Bresenham line, so a fast mouse that jumps several cells between events
    still leaves an unbroken (8-connected) stroke. Points outside the grid are
    allowed; only the cells inside are drawn.
    """

    def __init__(self, size=32):
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ValueError("grid size must be an integer >= 1, got {!r}".format(size))
        self.size = size
        self.clear()

    def clear(self):
        self._cells = blank_image(self.size)
        self._last_cell = None  # end of the stroke in progress; None between strokes

    def _cell_of(self, x, y):
        # clamp far-away points to one grid away, so a wild coordinate cannot
        # make the line loop for long; the part inside the grid is unaffected
        # unless the point is more than a grid away
        column = min(max(math.floor(x), -self.size), 2 * self.size)
        row = min(max(math.floor(y), -self.size), 2 * self.size)
        return column, row

    def begin_stroke(self, x, y):
        """Start a stroke at (x, y), switching on that cell."""
        self._last_cell = self._cell_of(x, y)
        _set_cells(self._cells, [self._last_cell])

    def stroke_to(self, x, y):
        """Continue the stroke to (x, y) (or start one if none is in progress)."""
        if self._last_cell is None:
            self.begin_stroke(x, y)
            return
        cell = self._cell_of(x, y)
        _set_cells(self._cells, line_cells(*self._last_cell, *cell))
        self._last_cell = cell

    def end_stroke(self):
        """Lift the pen: the next stroke_to starts a new stroke."""
        self._last_cell = None

    @property
    def image(self):
        """A copy of the grid as rows of 0.0 / 1.0."""
        return [list(row) for row in self._cells]
