"""Tests for demos/square_shapes.py: the shape generator, augmentation, files, drawing."""

import os
import random
import tempfile
import unittest

from demos.square_shapes import (KINDS, POSITIVE_KINDS, NEGATIVE_KINDS, DrawingGrid, augment,
                                 blur_image, describe, generate_dataset, generate_image,
                                 label_of, read_image_file, rectangle_side_gap, render,
                                 shift_image, side_range)


# ---------------------------------------------------------------- an independent square checker

def on_cells(image):
    return [(x, y) for y, row in enumerate(image) for x, value in enumerate(row) if value >= 0.5]


def bounding_box(image):
    """(width, height) of the smallest box holding every on-pixel, or None for an empty image."""
    cells = on_cells(image)
    if not cells:
        return None
    xs, ys = [x for x, _ in cells], [y for _, y in cells]
    return max(xs) - min(xs) + 1, max(ys) - min(ys) + 1


def looks_like_square(image):
    """True when the on-pixels form a filled or outlined axis-aligned square.

    Written without looking at the generator. Tolerates a hand-drawn wobble:
    the bounding box is square, its four corners are on, at least 3/4 of its
    border is on, and deeper than one pixel inside it is either nearly all
    on (filled) or nearly all off (outlined).
    """
    cells = on_cells(image)
    if not cells:
        return False
    xs, ys = [x for x, _ in cells], [y for _, y in cells]
    left, right, top, bottom = min(xs), max(xs), min(ys), max(ys)
    side = right - left + 1
    if side < 2 or side != bottom - top + 1:
        return False
    on = set(cells)
    if not {(left, top), (right, top), (left, bottom), (right, bottom)} <= on:
        return False
    border = [(x, y) for x in range(left, right + 1) for y in range(top, bottom + 1)
              if x in (left, right) or y in (top, bottom)]
    if sum(cell in on for cell in border) < 0.75 * len(border):
        return False
    inner = [(x, y) for x in range(left + 2, right - 1) for y in range(top + 2, bottom - 1)]
    if inner:
        filled_fraction = sum(cell in on for cell in inner) / len(inner)
        return filled_fraction >= 0.9 or filled_fraction <= 0.1
    return True


def picture(text):
    """Image from rows of '#' and '.' written in a test."""
    return [[1.0 if character == "#" else 0.0 for character in row] for row in text.split()]


class SquareCheckerTest(unittest.TestCase):
    """The checker must itself be right before it can judge the generator."""

    def test_checker_accepts_filled_outlined_and_wobbly_squares(self):
        self.assertTrue(looks_like_square(picture("...... .####. .####. .####. .####. ......")))
        self.assertTrue(looks_like_square(picture("###### #....# #....# #....# #....# ######")))
        self.assertTrue(looks_like_square(picture("##.### #.#..# #....# ##...# #....# ######")))

    def test_checker_rejects_rectangle_disc_triangle_and_empty(self):
        self.assertFalse(looks_like_square(picture("...... ###### ###### ###### ...... ......")))
        self.assertFalse(looks_like_square(picture(".###. ##### ##### ##### .###.")))
        self.assertFalse(looks_like_square(picture("#.... ##... ###.. ####. #####")))
        self.assertFalse(looks_like_square(picture("#.... ##... #.#.. #..#. #####")))
        self.assertFalse(looks_like_square(picture("..... ..... .....")))


# ---------------------------------------------------------------- the generator

class GeneratorTest(unittest.TestCase):

    def test_every_positive_kind_looks_like_a_square(self):
        rng = random.Random(1)
        for size in (8, 16, 32):
            for kind in POSITIVE_KINDS:
                for _ in range(30):
                    image = generate_image(kind, size, rng)
                    self.assertTrue(looks_like_square(image),
                                    "{} at size {}:\n{}".format(kind, size, render(image)))

    def test_no_negative_kind_looks_like_a_square(self):
        rng = random.Random(2)
        for size in (8, 16, 32):
            for kind in NEGATIVE_KINDS:
                for _ in range(30):
                    image = generate_image(kind, size, rng)
                    self.assertFalse(looks_like_square(image),
                                     "{} at size {}:\n{}".format(kind, size, render(image)))

    def test_dataset_labels_agree_with_the_checker(self):
        for size in (8, 16, 32):
            images, labels = generate_dataset(200, size, random.Random(size))
            for image, label in zip(images, labels):
                self.assertEqual(looks_like_square(image), label == 1,
                                 "label {} at size {}:\n{}".format(label, size, render(image)))

    def test_images_are_size_by_size_of_zeros_and_ones(self):
        rng = random.Random(3)
        for size in (8, 16, 32, 64):
            for kind in KINDS:
                image = generate_image(kind, size, rng)
                self.assertEqual(len(image), size)
                self.assertTrue(all(len(row) == size for row in image))
                self.assertTrue(all(value in (0.0, 1.0) for row in image for value in row))

    def test_rectangle_sides_differ_by_at_least_the_gap(self):
        self.assertEqual([rectangle_side_gap(size) for size in (8, 16, 32, 64)], [2, 2, 4, 8])
        rng = random.Random(4)
        for size in (8, 16, 32):
            for kind in ("filled_rectangle", "outlined_rectangle"):
                for _ in range(30):
                    width, height = bounding_box(generate_image(kind, size, rng))
                    self.assertGreaterEqual(abs(width - height), rectangle_side_gap(size))

    def test_square_sides_scale_with_image_size(self):
        self.assertEqual([side_range(size) for size in (8, 16, 32, 64)],
                         [(2, 7), (3, 14), (6, 28), (12, 56)])
        rng = random.Random(5)
        for size in (8, 16, 32, 64):
            smallest, largest = side_range(size)
            sides = [bounding_box(generate_image("filled_square", size, rng))[0] for _ in range(40)]
            self.assertTrue(all(smallest <= side <= largest for side in sides), sides)
            self.assertGreater(max(sides) - min(sides), (largest - smallest) // 2, sides)

    def test_hand_drawn_squares_have_a_wobble_but_keep_their_corners(self):
        rng = random.Random(6)
        for size in (8, 16, 32):
            for _ in range(20):
                image = generate_image("hand_drawn_square", size, rng)
                width, height = bounding_box(image)
                on = set(on_cells(image))
                xs, ys = [x for x, _ in on], [y for _, y in on]
                border = [(x, y) for x in range(min(xs), max(xs) + 1)
                          for y in range(min(ys), max(ys) + 1)
                          if x in (min(xs), max(xs)) or y in (min(ys), max(ys))]
                self.assertEqual(width, height)
                self.assertLess(sum(cell in on for cell in border), len(border), render(image))

    def test_speckles_never_touch_each_other(self):
        rng = random.Random(7)
        for _ in range(20):
            cells = on_cells(generate_image("speckles", 16, rng))
            self.assertGreaterEqual(len(cells), 3)
            for x, y in cells:
                for other_x, other_y in cells:
                    if (x, y) != (other_x, other_y):
                        self.assertGreater(max(abs(x - other_x), abs(y - other_y)), 1)

    def test_empty_kind_has_no_pixels(self):
        self.assertEqual(on_cells(generate_image("empty", 16, random.Random(0))), [])

    def test_labels_follow_positive_fraction(self):
        for fraction, expected in ((0.5, 50), (0.3, 30), (0.0, 0), (1.0, 100)):
            images, labels = generate_dataset(100, 8, random.Random(8), positive_fraction=fraction)
            self.assertEqual(len(images), 100)
            self.assertEqual(sum(labels), expected)

    def test_labels_are_shuffled_not_sorted(self):
        _, labels = generate_dataset(40, 8, random.Random(9))
        self.assertNotEqual(labels, sorted(labels))
        self.assertNotEqual(labels, sorted(labels, reverse=True))

    def test_same_seed_gives_same_images_and_another_seed_does_not(self):
        first = generate_dataset(30, 16, random.Random(10))
        again = generate_dataset(30, 16, random.Random(10))
        other = generate_dataset(30, 16, random.Random(11))
        self.assertEqual(first, again)
        self.assertNotEqual(first, other)
        self.assertEqual(generate_dataset(10, 8, 12), generate_dataset(10, 8, random.Random(12)))

    def test_kinds_have_labels_and_descriptions(self):
        self.assertEqual([label_of(kind) for kind in KINDS],
                         [1] * len(POSITIVE_KINDS) + [0] * len(NEGATIVE_KINDS))
        self.assertIn("not a square", describe("filled_circle"))
        self.assertTrue(describe("outlined_square").startswith("outlined_square: "))

    def test_bad_arguments_raise_value_error(self):
        with self.assertRaisesRegex(ValueError, "unknown shape kind 'hexagon'; the kinds are"):
            generate_image("hexagon", 16)
        with self.assertRaisesRegex(ValueError, r"size must be an integer >= 8, got 4"):
            generate_image("filled_square", 4)
        with self.assertRaisesRegex(ValueError, "positive_fraction"):
            generate_dataset(10, 16, positive_fraction=1.5)


# ---------------------------------------------------------------- augmentation and rendering

class AugmentTest(unittest.TestCase):

    def test_shift_moves_pixels_and_drops_what_leaves(self):
        image = picture("#.. .#. ..#")
        self.assertEqual(render(shift_image(image, 1, 0)), ".#.\n..#\n...")
        self.assertEqual(render(shift_image(image, 0, -1)), ".#.\n..#\n...")

    def test_blur_mixes_with_the_3x3_mean(self):
        blurred = blur_image(picture("... .#. ..."), 0.5)
        self.assertAlmostEqual(blurred[1][1], 0.5 + 0.5 / 9)
        self.assertAlmostEqual(blurred[0][0], 0.5 / 9)

    def test_augmented_copy_keeps_values_in_0_1_and_the_shape(self):
        rng = random.Random(13)
        for size in (8, 16, 32):
            images, labels = generate_dataset(40, size, random.Random(size))
            for image, label in zip(images, labels):
                copy = augment(image, rng)
                self.assertTrue(all(0.0 <= value <= 1.0 for row in copy for value in row))
                self.assertEqual(len(on_cells(copy)), len(on_cells(image)))
                self.assertEqual(bounding_box(copy), bounding_box(image))
                self.assertEqual(looks_like_square(copy), label == 1)

    def test_augment_changes_something_and_leaves_the_input_alone(self):
        rng = random.Random(14)
        image = generate_image("outlined_square", 16, random.Random(15))
        before = [list(row) for row in image]
        copies = [augment(image, rng) for _ in range(10)]
        self.assertEqual(image, before)
        self.assertTrue(any(copy != image for copy in copies))
        blurred_values = [value for copy in copies for row in copy for value in row
                          if value not in (0.0, 1.0)]
        self.assertTrue(blurred_values)

    def test_render_draws_hash_for_at_least_half(self):
        self.assertEqual(render([[0.0, 0.5], [0.49, 1.0]]), ".#\n.#")


# ---------------------------------------------------------------- image files

class ImageFileTest(unittest.TestCase):

    def setUp(self):
        self.directory = tempfile.TemporaryDirectory()
        self.addCleanup(self.directory.cleanup)

    def write(self, content, name="shape.txt"):
        path = os.path.join(self.directory.name, name)
        with open(path, "wb") as file:
            file.write(content.encode("utf-8") if isinstance(content, str) else content)
        return path

    def assert_file_error(self, content, message):
        path = self.write(content)
        with self.assertRaises(ValueError) as caught:
            read_image_file(path)
        text = str(caught.exception)
        self.assertIn(path, text)
        self.assertIn(message, text)
        self.assertNotIn("\n", text)

    def test_rendered_image_round_trips(self):
        for size in (8, 16, 32, 64):
            image = generate_image("outlined_circle", size, random.Random(size))
            self.assertEqual(read_image_file(self.write(render(image) + "\n")), image)

    def test_whitespace_around_rows_and_trailing_blank_lines_are_ignored(self):
        path = self.write("  #..#\t\r\n #..# \r\n#..#\n####  \n\n   \n\n")
        self.assertEqual(read_image_file(path), picture("#..# #..# #..# ####"))

    def test_other_character_names_line_and_column(self):
        self.assert_file_error("....\n.#x.\n....\n....\n",
                               "line 2: unexpected character 'x' at column 3")

    def test_ragged_row_says_expected_and_found(self):
        rows = ["." * 16] * 16
        rows[2] = "." * 15
        self.assert_file_error("\n".join(rows), "line 3: expected 16 characters, found 15")

    def test_too_few_rows_is_not_square(self):
        self.assert_file_error("....\n....\n....\n", "line 4: expected 4 rows")

    def test_too_many_rows_is_not_square(self):
        self.assert_file_error("....\n" * 6,
                               "line 5: expected 4 rows to make a square image 4 wide, found 6")

    def test_side_not_allowed(self):
        self.assert_file_error("......\n" * 6, "line 1: row has 6 characters")
        self.assert_file_error("..\n..\n", "line 1: row has 2 characters")
        self.assert_file_error(("." * 128 + "\n") * 128, "line 1: row has 128 characters")

    def test_blank_line_inside_image(self):
        self.assert_file_error("....\n....\n\n....\n....\n", "line 3: blank line inside the image")

    def test_empty_file(self):
        self.assert_file_error("", "empty")
        self.assert_file_error("\n  \n\n", "empty")

    def test_undecodable_file_names_the_line(self):
        self.assert_file_error(b"....\n....\n.\xff..\n....\n", "line 3: byte 0xff is not text")

    def test_directory_and_missing_file(self):
        with self.assertRaisesRegex(ValueError, "is a directory"):
            read_image_file(self.directory.name)
        missing = os.path.join(self.directory.name, "missing.txt")
        with self.assertRaisesRegex(ValueError, "missing.txt: cannot read the file"):
            read_image_file(missing)


# ---------------------------------------------------------------- drawing grid

class DrawingGridTest(unittest.TestCase):

    def assert_path_without_gaps(self, cells, start, end):
        """Sorted along x, each cell touches the next (8-neighbours) from start to end."""
        cells = sorted(cells)
        self.assertEqual((cells[0], cells[-1]), (start, end))
        for (x0, y0), (x1, y1) in zip(cells, cells[1:]):
            gap = "gap between {} and {}".format((x0, y0), (x1, y1))
            self.assertEqual(x1 - x0, 1, gap)
            self.assertLessEqual(abs(y1 - y0), 1, gap)

    def test_fast_diagonal_stroke_leaves_no_gaps(self):
        grid = DrawingGrid(32)
        grid.begin_stroke(1.2, 2.7)
        grid.stroke_to(30.9, 19.4)  # one mouse event, far away
        grid.end_stroke()
        self.assert_path_without_gaps(on_cells(grid.image), (1, 2), (30, 19))

    def test_float_coordinates_select_the_cell_they_fall_in(self):
        grid = DrawingGrid(8)
        grid.begin_stroke(2.99, 5.0)
        self.assertEqual(on_cells(grid.image), [(2, 5)])

    def test_strokes_join_successive_points_but_not_separate_strokes(self):
        grid = DrawingGrid(16)
        grid.stroke_to(0, 0)  # starts a stroke
        grid.stroke_to(4, 0)
        grid.stroke_to(4, 3)
        grid.end_stroke()
        grid.stroke_to(10, 10)  # a new stroke: no line back to (4, 3)
        expected = [(x, 0) for x in range(5)] + [(4, 1), (4, 2), (4, 3), (10, 10)]
        self.assertEqual(sorted(on_cells(grid.image)), sorted(expected))

    def test_stroke_leaving_the_grid_draws_only_the_inside(self):
        grid = DrawingGrid(8)
        grid.begin_stroke(-5, 3)
        grid.stroke_to(100, 3)
        self.assertEqual(on_cells(grid.image), [(x, 3) for x in range(8)])

    def test_clear_empties_the_grid(self):
        grid = DrawingGrid(8)
        grid.begin_stroke(0, 0)
        grid.stroke_to(7, 7)
        grid.clear()
        self.assertEqual(grid.image, [[0.0] * 8 for _ in range(8)])

    def test_image_is_a_copy(self):
        grid = DrawingGrid(4)
        grid.image[0][0] = 1.0
        self.assertEqual(on_cells(grid.image), [])


if __name__ == "__main__":
    unittest.main()
