"""Tests for the Hilbert curve in utils.py: the curve itself, flatten, resample."""

import unittest

from demos.hilbert import hilbert_d2xy, hilbert_xy2d, hilbert_flatten, hilbert_unflatten, hilbert_resample


# The order-2 curve written out by hand from the drawing in docs/hilbert.md:
#    0---1  14--15
#        |   |
#    3---2  13--12
#    |           |
#    4   7---8  11
#    |   |   |   |
#    5---6   9--10
ORDER_2_CELLS = [(0, 0), (1, 0), (1, 1), (0, 1), (0, 2), (0, 3), (1, 3), (1, 2),
                 (2, 2), (2, 3), (3, 3), (3, 2), (3, 1), (2, 1), (2, 0), (3, 0)]

# An 8x8 image and its 2x2 and 4x4 block averages, worked out by hand.
IMAGE_8 = [
    [0, 0, 0, 0, 0, 0, 0, 0],
    [0, 1, 1, 1, 1, 1, 1, 0],
    [0, 1, 0, 0, 0, 0, 1, 0],
    [0, 1, 0, 1, 1, 0, 1, 0],
    [0, 1, 0, 1, 1, 0, 1, 0],
    [0, 1, 0, 0, 0, 0, 1, 0],
    [0, 1, 1, 1, 1, 1, 1, 0],
    [0, 0, 0, 0, 0, 0, 0, 1],
]
IMAGE_8_BLOCKS_OF_2 = [
    [0.25, 0.5, 0.5, 0.25],
    [0.5, 0.25, 0.25, 0.5],
    [0.5, 0.25, 0.25, 0.5],
    [0.25, 0.5, 0.5, 0.5],
]
IMAGE_8_BLOCKS_OF_4 = [
    [0.375, 0.375],
    [0.375, 0.4375],
]
IMAGE_8_MEAN = 25 / 64  # 20 pixels of the ring, 4 in the middle, 1 in the corner


class HilbertCurveTest(unittest.TestCase):

    def test_order_1_goes_down_right_up(self):
        self.assertEqual([hilbert_d2xy(1, d) for d in range(4)], [(0, 0), (0, 1), (1, 1), (1, 0)])

    def test_order_2_matches_the_drawing(self):
        self.assertEqual([hilbert_d2xy(2, d) for d in range(16)], ORDER_2_CELLS)

    def test_order_0_is_a_single_cell(self):
        self.assertEqual(hilbert_d2xy(0, 0), (0, 0))
        self.assertEqual(hilbert_xy2d(0, 0, 0), 0)

    def test_every_cell_is_visited_exactly_once(self):
        for order in range(1, 7):
            side = 2 ** order
            cells = [hilbert_d2xy(order, d) for d in range(side * side)]
            expected = {(x, y) for x in range(side) for y in range(side)}
            self.assertEqual(len(set(cells)), side * side, "order {}".format(order))
            self.assertEqual(set(cells), expected, "order {}".format(order))

    def test_xy2d_inverts_d2xy_both_ways(self):
        for order in range(1, 7):
            side = 2 ** order
            for d in range(side * side):
                self.assertEqual(hilbert_xy2d(order, *hilbert_d2xy(order, d)), d)
            for x in range(side):
                for y in range(side):
                    self.assertEqual(hilbert_d2xy(order, hilbert_xy2d(order, x, y)), (x, y))

    def test_consecutive_positions_are_4_neighbours(self):
        for order in range(1, 7):
            cells = [hilbert_d2xy(order, d) for d in range(4 ** order)]
            for d, ((x0, y0), (x1, y1)) in enumerate(zip(cells, cells[1:])):
                self.assertEqual(abs(x1 - x0) + abs(y1 - y0), 1,
                                 "order {}, step {} -> {}".format(order, d, d + 1))

    def test_every_order_starts_top_left_and_ends_top_right(self):
        for order in range(1, 7):
            self.assertEqual(hilbert_d2xy(order, 0), (0, 0))
            self.assertEqual(hilbert_d2xy(order, 4 ** order - 1), (2 ** order - 1, 0))

    def test_fine_cell_lies_inside_coarse_cell_at_quarter_position(self):
        # The property that makes resampling along the curve equal 2x2 block averaging.
        for order in range(1, 7):
            for d in range(4 ** order):
                x, y = hilbert_d2xy(order, d)
                self.assertEqual((x // 2, y // 2), hilbert_d2xy(order - 1, d // 4),
                                 "order {}, position {}".format(order, d))

    def test_out_of_range_arguments_raise_value_error(self):
        with self.assertRaisesRegex(ValueError, r"0 \.\. 15"):
            hilbert_d2xy(2, 16)
        with self.assertRaisesRegex(ValueError, r"0 \.\. 3 for order 2, got 4"):
            hilbert_xy2d(2, 4, 0)
        with self.assertRaisesRegex(ValueError, "order"):
            hilbert_d2xy(-1, 0)


class HilbertFlattenTest(unittest.TestCase):

    def test_flatten_reads_a_4x4_image_in_curve_order(self):
        image = [[10 * y + x for x in range(4)] for y in range(4)]  # value names its cell
        self.assertEqual(hilbert_flatten(image),
                         [0, 1, 11, 10, 20, 30, 31, 21, 22, 32, 33, 23, 13, 12, 2, 3])

    def test_flatten_agrees_with_d2xy(self):
        image = [[(7 * x + 13 * y) % 10 for x in range(8)] for y in range(8)]
        vector = hilbert_flatten(image)
        for d, value in enumerate(vector):
            x, y = hilbert_d2xy(3, d)
            self.assertEqual(value, image[y][x])

    def test_unflatten_inverts_flatten(self):
        for side in (1, 2, 4, 8, 16, 32):
            image = [[x * side + y for x in range(side)] for y in range(side)]
            self.assertEqual(hilbert_unflatten(hilbert_flatten(image)), image)

    def test_each_group_of_4_is_a_2x2_block(self):
        image = [[(x // 2, y // 2) for x in range(8)] for y in range(8)]  # pixel names its block
        vector = hilbert_flatten(image)
        for start in range(0, 64, 4):
            self.assertEqual(len(set(vector[start:start + 4])), 1, "group at {}".format(start))

    def test_flatten_rejects_non_square_image(self):
        with self.assertRaisesRegex(ValueError, "4 rows x 8 columns"):
            hilbert_flatten([[0] * 8 for _ in range(4)])

    def test_flatten_rejects_side_that_is_not_a_power_of_two(self):
        with self.assertRaisesRegex(ValueError, r"power of two .* got 6 rows x 6 columns"):
            hilbert_flatten([[0] * 6 for _ in range(6)])

    def test_flatten_rejects_ragged_rows(self):
        with self.assertRaisesRegex(ValueError, r"4 rows of lengths \[4, 4, 3, 4\]"):
            hilbert_flatten([[0] * 4, [0] * 4, [0] * 3, [0] * 4])

    def test_flatten_rejects_empty_image(self):
        with self.assertRaisesRegex(ValueError, "got 0 rows"):
            hilbert_flatten([])

    def test_unflatten_rejects_length_not_a_power_of_4(self):
        with self.assertRaisesRegex(ValueError, "power of 4 .* got 8"):
            hilbert_unflatten([0] * 8)


class HilbertResampleTest(unittest.TestCase):

    def test_shrinking_a_4x4_averages_its_2x2_blocks(self):
        image = [
            [1, 1, 0, 0],
            [1, 0, 0, 1],
            [0, 0, 1, 1],
            [0, 1, 1, 1],
        ]
        small = hilbert_resample(hilbert_flatten(image), 4)
        self.assertEqual(small, [0.75, 0.25, 1.0, 0.25])  # curve order: TL, BL, BR, TR
        self.assertEqual(hilbert_unflatten(small), [[0.75, 0.25], [0.25, 1.0]])

    def test_shrinking_an_8x8_by_2_averages_its_2x2_blocks(self):
        small = hilbert_resample(hilbert_flatten(IMAGE_8), 16)
        self.assertEqual(hilbert_unflatten(small), IMAGE_8_BLOCKS_OF_2)

    def test_shrinking_an_8x8_by_4_averages_its_4x4_blocks(self):
        small = hilbert_resample(hilbert_flatten(IMAGE_8), 4)
        self.assertEqual(hilbert_unflatten(small), IMAGE_8_BLOCKS_OF_4)

    def test_shrinking_to_one_value_gives_the_mean(self):
        self.assertEqual(hilbert_resample(hilbert_flatten(IMAGE_8), 1), [IMAGE_8_MEAN])

    def test_growing_repeats_each_pixel_as_a_block(self):
        image = [[1, 2], [3, 4]]
        big = hilbert_unflatten(hilbert_resample(hilbert_flatten(image), 16))
        self.assertEqual(big, [[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 4, 4], [3, 3, 4, 4]])

    def test_growing_by_16_then_shrinking_gives_back_the_input(self):
        vector = [0.5, 0.0, 1.0, 0.25]
        self.assertEqual(hilbert_resample(hilbert_resample(vector, 64), 4), vector)

    def test_same_length_returns_an_equal_copy(self):
        vector = [1.0, 2.0, 3.0, 4.0]
        result = hilbert_resample(vector, 4)
        self.assertEqual(result, vector)
        self.assertIsNot(result, vector)

    def test_lengths_that_are_not_powers_of_4_raise_value_error(self):
        with self.assertRaisesRegex(ValueError, "input length 8"):
            hilbert_resample([0.0] * 8, 4)
        with self.assertRaisesRegex(ValueError, "target length 32"):
            hilbert_resample([0.0] * 16, 32)
        with self.assertRaisesRegex(ValueError, "target length 0"):
            hilbert_resample([0.0] * 16, 0)


if __name__ == "__main__":
    unittest.main()
