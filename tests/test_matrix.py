"""Tests for matrix.py: every operation against values worked out by hand, and every shape error."""

import math
import os
import random
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from matrix import Matrix  # noqa: E402


def naive_product(a, b):
    """The textbook triple loop, the slow obvious way: C[i][j] = sum_t A[i][t] * B[t][j]."""
    n, k, m = len(a), len(b), len(b[0])
    return [[math.fsum(a[i][t] * b[t][j] for t in range(k)) for j in range(m)] for i in range(n)]


class ConstructionTest(unittest.TestCase):
    def test_rows_become_floats_and_shape_is_rows_by_columns(self):
        m = Matrix([[1, 2, 3], [4, 5, 6]])
        self.assertEqual(m.shape, (2, 3))
        self.assertEqual(m.rows, [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
        self.assertTrue(all(type(v) is float for row in m.rows for v in row))

    def test_construction_copies_the_given_rows(self):
        rows = [[1.0, 2.0]]
        m = Matrix(rows)
        rows[0][0] = 99.0
        self.assertEqual(m.rows, [[1.0, 2.0]])

    def test_tuples_and_another_matrix_are_accepted(self):
        self.assertEqual(Matrix(((1, 2), (3, 4))).rows, [[1.0, 2.0], [3.0, 4.0]])
        original = Matrix([[1, 2]])
        self.assertEqual(Matrix(original).rows, [[1.0, 2.0]])

    def test_empty_list_is_rejected(self):
        with self.assertRaisesRegex(ValueError, "non-empty list of rows"):
            Matrix([])

    def test_not_a_list_is_rejected(self):
        with self.assertRaisesRegex(ValueError, "non-empty list of rows"):
            Matrix(5)

    def test_empty_row_is_rejected(self):
        with self.assertRaisesRegex(ValueError, "row 0: a row needs at least one number"):
            Matrix([[]])

    def test_row_that_is_not_a_list_is_named(self):
        with self.assertRaisesRegex(ValueError, "row 1: expected a list of numbers"):
            Matrix([[1.0], 2.0])

    def test_ragged_rows_name_the_row_and_both_lengths(self):
        with self.assertRaises(ValueError) as caught:
            Matrix([[1, 2], [3, 4], [5, 6, 7]])
        self.assertEqual(str(caught.exception), "row 2: has 3 values, but row 0 has 2")

    def test_non_numeric_entry_names_row_and_column(self):
        for bad in ("x", "2", None, [1.0], {}):
            with self.subTest(bad=bad):
                with self.assertRaises(ValueError) as caught:
                    Matrix([[1.0, 2.0], [3.0, bad]])
                self.assertIn("row 1, column 1: expected a number", str(caught.exception))

    def test_bool_entry_is_not_a_number(self):
        with self.assertRaisesRegex(ValueError, r"row 0, column 2: expected a number, got True"):
            Matrix([[1.0, 0.0, True]])

    def test_nan_and_infinity_name_row_and_column(self):
        for bad in (float("nan"), float("inf"), -float("inf")):
            with self.subTest(bad=bad):
                with self.assertRaises(ValueError) as caught:
                    Matrix([[0.0], [1.0], [bad]])
                self.assertIn("row 2, column 0: expected a finite number", str(caught.exception))

    def test_zeros_and_full(self):
        self.assertEqual(Matrix.zeros(2, 3).rows, [[0.0] * 3] * 2)
        self.assertEqual(Matrix.full(1, 2, 7).rows, [[7.0, 7.0]])

    def test_full_rows_are_independent_lists(self):
        m = Matrix.full(2, 2, 1.0)
        m.rows[0][0] = 5.0
        self.assertEqual(m.rows[1], [1.0, 1.0])

    def test_bad_sizes_are_rejected(self):
        for n_rows, n_cols in ((0, 2), (2, 0), (-1, 1), (1.5, 1), (True, 1)):
            with self.subTest(shape=(n_rows, n_cols)):
                with self.assertRaisesRegex(ValueError, "must be a positive integer"):
                    Matrix.zeros(n_rows, n_cols)

    def test_full_rejects_a_non_finite_fill(self):
        with self.assertRaisesRegex(ValueError, "fill value"):
            Matrix.full(1, 1, float("nan"))

    def test_random_is_reproducible_from_the_seed(self):
        a = Matrix.random(3, 4, random.Random(7))
        b = Matrix.random(3, 4, random.Random(7))
        c = Matrix.random(3, 4, random.Random(8))
        self.assertEqual(a.rows, b.rows)
        self.assertNotEqual(a.rows, c.rows)

    def test_random_draws_in_row_order_from_the_generator(self):
        rng = random.Random(3)
        expected = [[rng.gauss(0.0, 2.0) for _ in range(3)] for _ in range(2)]
        self.assertEqual(Matrix.random(2, 3, random.Random(3), "normal", 2.0).rows, expected)
        rng = random.Random(3)
        expected = [[rng.uniform(-0.5, 0.5) for _ in range(3)] for _ in range(2)]
        self.assertEqual(Matrix.random(2, 3, random.Random(3), "uniform", 0.5).rows, expected)

    def test_random_uniform_stays_within_scale(self):
        m = Matrix.random(50, 20, random.Random(1), "uniform", 0.3)
        self.assertLessEqual(max(abs(v) for row in m for v in row), 0.3)

    def test_random_rejects_unknown_distribution(self):
        with self.assertRaisesRegex(ValueError, "unknown distribution 'cauchy'; valid: normal, uniform"):
            Matrix.random(1, 1, random.Random(0), "cauchy")

    def test_from_column(self):
        m = Matrix.from_column([1, 2, 3])
        self.assertEqual(m.shape, (3, 1))
        self.assertEqual(m.rows, [[1.0], [2.0], [3.0]])


class InspectionTest(unittest.TestCase):
    def test_tolist_returns_a_copy(self):
        m = Matrix([[1, 2], [3, 4]])
        listed = m.tolist()
        self.assertEqual(listed, [[1.0, 2.0], [3.0, 4.0]])
        listed[0][0] = 100.0
        self.assertEqual(m.rows[0][0], 1.0)

    def test_copy_is_independent(self):
        m = Matrix([[1, 2]])
        c = m.copy()
        c.rows[0][1] = 9.0
        self.assertEqual(m.rows, [[1.0, 2.0]])
        self.assertEqual(c.shape, (1, 2))

    def test_len_counts_rows(self):
        self.assertEqual(len(Matrix([[1, 2, 3], [4, 5, 6]])), 2)

    def test_iteration_yields_rows(self):
        self.assertEqual(list(Matrix([[1, 2], [3, 4], [5, 6]])), [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])

    def test_equality_compares_entries(self):
        self.assertEqual(Matrix([[1, 2]]), Matrix([[1.0, 2.0]]))
        self.assertNotEqual(Matrix([[1, 2]]), Matrix([[1, 3]]))
        self.assertNotEqual(Matrix([[1, 2]]), [[1.0, 2.0]])

    def test_repr_shows_shape_and_values(self):
        self.assertEqual(repr(Matrix([[1, 2.5]])), "Matrix(1x2: [[1, 2.5]])")


class ProductTest(unittest.TestCase):
    def test_square_product_by_hand(self):
        # [[1*5 + 2*7, 1*6 + 2*8], [3*5 + 4*7, 3*6 + 4*8]]
        product = Matrix([[1, 2], [3, 4]]) @ Matrix([[5, 6], [7, 8]])
        self.assertEqual(product.rows, [[19.0, 22.0], [43.0, 50.0]])

    def test_rectangular_product_by_hand(self):
        # (2, 3) @ (3, 1): [1 - 2 + 3*0.5, 4*1 + 0 + 0]
        product = Matrix([[1, 2, 3], [4, 0, 0]]) @ Matrix([[1], [-1], [0.5]])
        self.assertEqual(product.shape, (2, 1))
        self.assertEqual(product.rows, [[0.5], [4.0]])

    def test_product_matches_the_triple_loop_on_random_shapes(self):
        rng = random.Random(11)
        for _ in range(10):
            n, k, m = rng.randint(1, 6), rng.randint(1, 6), rng.randint(1, 6)
            a = Matrix.random(n, k, rng)
            b = Matrix.random(k, m, rng)
            product = a @ b
            self.assertEqual(product.shape, (n, m))
            self.assertTrue(product.allclose(naive_product(a.rows, b.rows), rtol=1e-12, atol=1e-12))

    def test_product_shape_error_names_both_shapes(self):
        with self.assertRaises(ValueError) as caught:
            Matrix.zeros(32, 4) @ Matrix.zeros(3, 16)
        self.assertEqual(str(caught.exception), "cannot multiply (32, 4) @ (3, 16): 4 != 3")

    def test_product_with_a_list_is_a_type_error(self):
        with self.assertRaises(TypeError):
            Matrix([[1.0]]) @ [[1.0]]

    def test_transpose_by_hand(self):
        t = Matrix([[1, 2, 3], [4, 5, 6]]).T
        self.assertEqual(t.shape, (3, 2))
        self.assertEqual(t.rows, [[1.0, 4.0], [2.0, 5.0], [3.0, 6.0]])

    def test_transpose_of_a_column_is_a_row(self):
        self.assertEqual(Matrix([[1], [2]]).T.rows, [[1.0, 2.0]])
        self.assertEqual(Matrix([[1], [2]]).T.shape, (1, 2))


class ElementwiseTest(unittest.TestCase):
    a = Matrix([[1, 2], [3, 4]])
    b = Matrix([[10, 20], [30, 40]])
    row = Matrix([[1, -1]])

    def test_same_shape(self):
        self.assertEqual((self.a + self.b).rows, [[11.0, 22.0], [33.0, 44.0]])
        self.assertEqual((self.b - self.a).rows, [[9.0, 18.0], [27.0, 36.0]])
        self.assertEqual((self.a * self.b).rows, [[10.0, 40.0], [90.0, 160.0]])
        self.assertEqual((self.b / self.a).rows, [[10.0, 10.0], [10.0, 10.0]])

    def test_scalar_on_the_right(self):
        self.assertEqual((self.a + 1).rows, [[2.0, 3.0], [4.0, 5.0]])
        self.assertEqual((self.a - 1).rows, [[0.0, 1.0], [2.0, 3.0]])
        self.assertEqual((self.a * 2).rows, [[2.0, 4.0], [6.0, 8.0]])
        self.assertEqual((self.a / 4).rows, [[0.25, 0.5], [0.75, 1.0]])

    def test_scalar_on_the_left(self):
        self.assertEqual((1 + self.a).rows, [[2.0, 3.0], [4.0, 5.0]])
        self.assertEqual((10 - self.a).rows, [[9.0, 8.0], [7.0, 6.0]])
        self.assertEqual((0.5 * self.a).rows, [[0.5, 1.0], [1.5, 2.0]])
        self.assertEqual((12 / self.a).rows, [[12.0, 6.0], [4.0, 3.0]])

    def test_row_is_broadcast_over_every_row(self):
        self.assertEqual((self.a + self.row).rows, [[2.0, 1.0], [4.0, 3.0]])
        self.assertEqual((self.a - self.row).rows, [[0.0, 3.0], [2.0, 5.0]])
        self.assertEqual((self.a * self.row).rows, [[1.0, -2.0], [3.0, -4.0]])
        self.assertEqual((self.a / self.row).rows, [[1.0, -2.0], [3.0, -4.0]])

    def test_unary_minus(self):
        self.assertEqual((-self.a).rows, [[-1.0, -2.0], [-3.0, -4.0]])

    def test_map_applies_the_function_to_every_entry(self):
        self.assertEqual(Matrix([[0, 1], [4, 9]]).map(math.sqrt).rows, [[0.0, 1.0], [2.0, 3.0]])

    def test_operations_leave_their_operands_unchanged(self):
        a, b = Matrix([[1, 2]]), Matrix([[3, 4]])
        for result in (a + b, a - b, a * b, a / b, -a, a @ b.T, a.T, a.map(abs), a + 1):
            self.assertIsInstance(result, Matrix)
        self.assertEqual(a.rows, [[1.0, 2.0]])
        self.assertEqual(b.rows, [[3.0, 4.0]])

    def test_every_elementwise_shape_error_names_both_shapes(self):
        a = Matrix.zeros(2, 3)
        for other in (Matrix.zeros(3, 2), Matrix.zeros(2, 1), Matrix.zeros(1, 2), Matrix.zeros(4, 3)):
            for symbol, op in (("+", lambda x, y: x + y), ("-", lambda x, y: x - y),
                               ("*", lambda x, y: x * y), ("/", lambda x, y: x / y)):
                with self.subTest(symbol=symbol, other=other.shape):
                    with self.assertRaises(ValueError) as caught:
                        op(a, other)
                    message = str(caught.exception)
                    self.assertIn(f"cannot apply {symbol} to shapes (2, 3) and {other.shape}", message)
                    self.assertIn("(1, 3) row", message)

    def test_a_row_broadcasts_on_the_right_only(self):
        # (1, c) + (n, c): the left operand fixes the shape, so the row must come second
        with self.assertRaisesRegex(ValueError, r"shapes \(1, 2\) and \(2, 2\)"):
            self.row + self.a

    def test_bool_and_text_operands_are_type_errors(self):
        for other in (True, "1", [1, 2]):
            with self.subTest(other=other):
                with self.assertRaises(TypeError):
                    self.a + other
                with self.assertRaises(TypeError):
                    other / self.a


class CombineAndUpdateTest(unittest.TestCase):
    """Matrix.from_rows, Matrix.combine and the one in-place operation, update_."""

    def setUp(self):
        self.a = Matrix([[1.0, 2.0], [3.0, 4.0]])
        self.b = Matrix([[10.0, 20.0], [30.0, 40.0]])
        self.c = Matrix([[0.5, 0.25], [2.0, -1.0]])

    def test_from_rows_takes_the_rows_over_without_a_copy(self):
        rows = [[1.0, 2.0, 3.0]]
        m = Matrix.from_rows(rows, 3)
        self.assertIs(m.rows, rows)
        self.assertEqual(m.shape, (1, 3))
        self.assertEqual(Matrix.from_rows([[1.0], [2.0]]).shape, (2, 1))  # columns counted from row 0

    def test_combine_of_two_and_of_three_matrices_by_hand(self):
        self.assertEqual(Matrix.combine(lambda x, y: x * y - 1.0, self.a, self.b).rows,
                         [[9.0, 39.0], [89.0, 159.0]])
        self.assertEqual(Matrix.combine(lambda x, y, z: x + y * z, self.a, self.b, self.c).rows,
                         [[6.0, 7.0], [63.0, -36.0]])
        self.assertEqual(Matrix.combine(abs, -self.a).rows, self.a.rows)  # one matrix: a map

    def test_combine_leaves_its_operands_unchanged(self):
        before = [self.a.tolist(), self.b.tolist()]
        Matrix.combine(lambda x, y: x + y, self.a, self.b)
        self.assertEqual([self.a.rows, self.b.rows], before)

    def test_scale_add_is_in_place_and_checks_shapes(self):
        m = Matrix([[1.0, 2.0], [3.0, 4.0]])
        rows = m.rows[0]
        self.assertIs(m.scale_add_(2.0, Matrix([[1.0, 0.0], [0.0, 1.0]]), -1.0), m)  # 2 M - I
        self.assertEqual(m.tolist(), [[1.0, 4.0], [6.0, 7.0]])
        self.assertIs(m.rows[0], rows)
        with self.assertRaises(ValueError):
            m.scale_add_(1.0, Matrix([[1.0, 2.0]]))

    def test_combine_needs_one_shape(self):
        with self.assertRaisesRegex(ValueError, r"combine: shapes differ: \(2, 2\) and \(1, 2\)"):
            Matrix.combine(lambda x, y: x + y, self.a, Matrix([[1.0, 2.0]]))
        with self.assertRaisesRegex(TypeError, "argument 2 is a list"):
            Matrix.combine(lambda x, y: x + y, self.a, [[1.0, 2.0], [3.0, 4.0]])

    def test_update_changes_the_matrix_in_place_and_returns_it(self):
        rows_list = self.a.rows
        result = self.a.update_(lambda p, g, v: p - 0.5 * g / v, self.b, self.c)
        self.assertIs(result, self.a)
        self.assertIs(self.a.rows, rows_list)  # everything that holds the matrix sees the new values
        self.assertEqual(self.a.rows, [[1.0 - 10.0, 2.0 - 40.0], [3.0 - 7.5, 4.0 + 20.0]])
        self.assertEqual(self.b.rows, [[10.0, 20.0], [30.0, 40.0]])  # the others are only read

    def test_update_with_no_other_matrix_and_with_one(self):
        self.assertEqual(self.a.update_(lambda p: 2.0 * p).rows, [[2.0, 4.0], [6.0, 8.0]])
        self.assertEqual(self.a.update_(lambda p, g: p + g, self.b).rows, [[12.0, 24.0], [36.0, 48.0]])

    def test_update_may_read_its_own_old_entries(self):
        # every new entry is computed before any is stored, so a reads its own old values
        self.a.update_(lambda p, q: p * q, self.a)
        self.assertEqual(self.a.rows, [[1.0, 4.0], [9.0, 16.0]])

    def test_update_needs_one_shape_and_changes_nothing_on_error(self):
        with self.assertRaisesRegex(ValueError, r"update_: shapes differ: \(2, 2\) and \(2, 1\)"):
            self.a.update_(lambda p, g: p + g, Matrix([[1.0], [2.0]]))
        self.assertEqual(self.a.rows, [[1.0, 2.0], [3.0, 4.0]])


class ReductionTest(unittest.TestCase):
    m = Matrix([[1, 5, 3], [4, 2, 6]])

    def test_sum(self):
        self.assertEqual(self.m.sum(), 21.0)
        self.assertEqual(self.m.sum(axis=0).rows, [[5.0, 7.0, 9.0]])
        self.assertEqual(self.m.sum(axis=1).rows, [[9.0], [12.0]])

    def test_sum_of_everything_is_exactly_rounded(self):
        # naive left-to-right summation gives 0.0 here; fsum gives the exact 1.0
        self.assertEqual(Matrix([[1e16, 1.0, -1e16]]).sum(), 1.0)

    def test_mean(self):
        self.assertEqual(self.m.mean(), 3.5)
        self.assertEqual(self.m.mean(axis=0).rows, [[2.5, 3.5, 4.5]])
        self.assertEqual(self.m.mean(axis=1).rows, [[3.0], [4.0]])

    def test_max(self):
        self.assertEqual(self.m.max(), 6.0)
        self.assertEqual(self.m.max(axis=0).rows, [[4.0, 5.0, 6.0]])
        self.assertEqual(self.m.max(axis=1).rows, [[5.0], [6.0]])

    def test_reduction_shapes(self):
        self.assertEqual(self.m.sum(axis=0).shape, (1, 3))
        self.assertEqual(self.m.sum(axis=1).shape, (2, 1))
        self.assertEqual(self.m.max(axis=0).shape, (1, 3))
        self.assertEqual(self.m.max(axis=1).shape, (2, 1))

    def test_bad_axis_is_rejected(self):
        for method in (self.m.sum, self.m.max):
            with self.assertRaisesRegex(ValueError, "axis must be None, 0 or 1, got 2"):
                method(2)

    def test_argmax_per_row_takes_the_first_on_ties(self):
        self.assertEqual(self.m.argmax(), [1, 2])
        self.assertEqual(Matrix([[3, 3, 1], [-2, -1, -1]]).argmax(axis=1), [0, 1])

    def test_argmax_over_columns_is_rejected(self):
        with self.assertRaisesRegex(ValueError, "axis=1"):
            self.m.argmax(axis=0)


class SelectionTest(unittest.TestCase):
    m = Matrix([[0, 0], [1, 1], [2, 2], [3, 3]])

    def test_integer_index_is_a_row(self):
        self.assertEqual(self.m[2], [2.0, 2.0])
        self.assertEqual(self.m[-1], [3.0, 3.0])

    def test_slice_is_a_matrix_of_those_rows(self):
        batch = self.m[1:3]
        self.assertIsInstance(batch, Matrix)
        self.assertEqual(batch.shape, (2, 2))
        self.assertEqual(batch.rows, [[1.0, 1.0], [2.0, 2.0]])

    def test_slice_past_the_end_is_cut_short(self):
        self.assertEqual(self.m[3:10].rows, [[3.0, 3.0]])

    def test_empty_slice_is_an_error(self):
        with self.assertRaisesRegex(ValueError, "empty"):
            self.m[4:6]

    def test_take_picks_rows_in_the_given_order(self):
        picked = self.m.take([3, 0, 3])
        self.assertEqual(picked.rows, [[3.0, 3.0], [0.0, 0.0], [3.0, 3.0]])
        self.assertEqual(picked.shape, (3, 2))

    def test_take_out_of_range_names_the_shape(self):
        with self.assertRaisesRegex(ValueError, r"out of range.*\(4, 2\)"):
            self.m.take([0, 4])

    def test_take_nothing_is_an_error(self):
        with self.assertRaisesRegex(ValueError, "at least one row"):
            self.m.take([])


class AllcloseTest(unittest.TestCase):
    def test_within_tolerance(self):
        self.assertTrue(Matrix([[1.0, 100.0]]).allclose(Matrix([[1.0 + 1e-9, 100.0005]])))

    def test_outside_tolerance(self):
        self.assertFalse(Matrix([[1.0, 100.0]]).allclose(Matrix([[1.0, 100.01]])))
        self.assertFalse(Matrix([[0.0]]).allclose(Matrix([[1e-7]])))

    def test_tolerances_are_the_ones_given(self):
        self.assertTrue(Matrix([[1.0]]).allclose(Matrix([[1.1]]), rtol=0.1))
        self.assertFalse(Matrix([[1.0]]).allclose(Matrix([[1.1]]), rtol=0.05))
        self.assertTrue(Matrix([[0.0]]).allclose(Matrix([[0.01]]), atol=0.02))

    def test_different_shapes_are_not_close(self):
        self.assertFalse(Matrix([[1.0, 2.0]]).allclose(Matrix([[1.0], [2.0]])))

    def test_accepts_a_list_of_rows(self):
        self.assertTrue(Matrix([[1.0, 2.0]]).allclose([[1, 2]]))


if __name__ == "__main__":
    unittest.main()
