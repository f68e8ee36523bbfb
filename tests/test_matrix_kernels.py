"""Tests for matrix.py's product kernels: both of them, on every interpreter.

matrix.py picks one kernel at import: "builtins" (dot products in C builtins,
zeros of sparse rows skipped past a break-even share) on CPython, "loops"
(row-accumulating plain loops, which PyPy's JIT compiles) on PyPy. Each is
called here directly, whichever runs Matrix @, and compared with the slow
obvious product (index loops, math.fsum) on shapes and sparsity patterns
chosen so that every branch runs: dense rows, rows past the break-even share
of zeros, all-zero rows, products too narrow to count zeros, row counts that
leave one to three terms past the loops' groups of four, and the transposed
operands of a backward pass.
"""

import math
import os
import random
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import matrix  # noqa: E402
import matrix_kernels  # noqa: E402
import tests.test_matrix as matrix_tests  # noqa: E402
from matrix import Matrix  # noqa: E402
from matrix_kernels import KERNELS  # noqa: E402

OTHER_KERNEL = "builtins" if matrix_kernels.KERNEL == "loops" else "loops"


def naive_product(a, b):
    """C[i][j] = sum over t of a[i][t] * b[t][j], with an exactly rounded sum."""
    return [[math.fsum(a[i][t] * b[t][j] for t in range(len(b))) for j in range(len(b[0]))]
            for i in range(len(a))]


def transpose(rows):
    return [list(column) for column in zip(*rows)]


def random_rows(rng, n_rows, n_cols, zero_share=0.0):
    return [[0.0 if rng.random() < zero_share else rng.uniform(-2.0, 2.0) for _ in range(n_cols)]
            for _ in range(n_rows)]


class ProductCase(unittest.TestCase):
    def assert_product_close(self, result, expected, k):
        self.assertEqual(result.shape, (len(expected), len(expected[0])))
        for i, (row, expected_row) in enumerate(zip(result.rows, expected)):
            self.assertIsInstance(row, list)
            for j, (value, want) in enumerate(zip(row, expected_row)):
                # k products of numbers below 2 in size: rounding error below k * 4 * 2^-52 each
                self.assertLessEqual(abs(value - want), 1e-14 * k * 4, f"entry [{i}][{j}]: {value!r} vs {want!r}")


class ZeroSkippingTest(ProductCase):
    def test_sparse_rows_give_the_same_product_as_the_obvious_loops(self):
        rng = random.Random(6)
        for n, k, m in ((5, 64, 64), (9, 30, 40), (3, 256, 17), (12, 8, 100)):
            b = random_rows(rng, k, m)
            for zero_share in (0.0, 0.3, 0.6, 0.9):
                a = random_rows(rng, n, k, zero_share)
                a[0][0] = 0.0  # so the first row always shows a zero and every row is counted
                with self.subTest(shape=(n, k, m), zero_share=zero_share):
                    self.assert_product_close(Matrix(a) @ Matrix(b), naive_product(a, b), k)

    def test_skipping_zeros_changes_no_bit_of_the_result(self):
        # adding 0.0 never changes a sum, so the sparse path equals the dense kernel exactly
        rng = random.Random(7)
        k, m = 64, 64
        a = random_rows(rng, 20, k, 0.8)
        b = random_rows(rng, k, m)
        skipped = matrix_kernels._product_builtins(a, b)
        dense = [matrix_kernels._dots(row, list(zip(*b))) for row in a]
        self.assertEqual(skipped, dense)
        share_limit = matrix_kernels._SKIP_BASE + matrix_kernels._SKIP_PER_COLUMN / m
        self.assertTrue(any(row.count(0.0) > k * share_limit for row in a), "no row took the sparse path")

    def test_an_all_zero_row_gives_a_row_of_zeros(self):
        a = Matrix([[0.0] * 32, [1.0] + [0.0] * 31])
        b = Matrix([[float(i + j) for j in range(40)] for i in range(32)])
        product = a @ b
        self.assertEqual(product.rows[0], [0.0] * 40)
        self.assertEqual(product.rows[1], b.rows[0])

    def test_narrow_products_and_dense_first_rows_still_multiply_right(self):
        rng = random.Random(8)
        a = random_rows(rng, 6, 50, 0.7)
        a[0] = [1.0] * 50  # a dense first row: the product takes every row as dense
        b_narrow, b_wide = random_rows(rng, 50, 3), random_rows(rng, 50, 64)
        self.assert_product_close(Matrix(a) @ Matrix(b_narrow), naive_product(a, b_narrow), 50)
        self.assert_product_close(Matrix(a) @ Matrix(b_wide), naive_product(a, b_wide), 50)

    def test_break_even_rule_is_between_zero_and_one_for_wide_products(self):
        for m in (matrix_kernels._SKIP_MIN_COLUMNS, 64, 1024):
            share = matrix_kernels._SKIP_BASE + matrix_kernels._SKIP_PER_COLUMN / m
            self.assertGreater(share, 0.0)
            self.assertLess(share, 1.0, f"with {m} columns no row could ever skip its zeros")


class BothKernelsTest(ProductCase):
    def test_each_kernel_gives_the_obvious_product(self):
        rng = random.Random(11)
        for name, kernels in sorted(KERNELS.items()):
            kernel = kernels["product"]
            for n, k, m in ((1, 1, 1), (3, 5, 2), (4, 7, 9), (2, 64, 64), (5, 30, 17), (6, 13, 40)):
                for zero_share in (0.0, 0.5, 0.95):
                    a, b = random_rows(rng, n, k, zero_share), random_rows(rng, k, m)
                    with self.subTest(kernel=name, shape=(n, k, m), zero_share=zero_share):
                        self.assert_product_close(Matrix.from_rows(kernel(a, b)), naive_product(a, b), k)

    def test_each_kernel_leaves_its_operands_unchanged_and_returns_new_lists(self):
        a, b = [[0.0, 2.0, 0.0, 1.0, 3.0]], [[float(i + j) for j in range(3)] for i in range(5)]
        before = ([row[:] for row in a], [row[:] for row in b])
        for name, kernels in sorted(KERNELS.items()):
            kernel = kernels["product"]
            with self.subTest(kernel=name):
                result = kernel(a, b)
                self.assertEqual(result, [[2.0 * 1 + 1.0 * 3 + 3.0 * 4, 2.0 * 2 + 1.0 * 4 + 3.0 * 5,
                                           2.0 * 3 + 1.0 * 5 + 3.0 * 6]])
                self.assertEqual((a, b), before)
                self.assertTrue(all(type(row) is list for row in result))

    def test_an_all_zero_row_gives_zeros_in_each_kernel(self):
        for name, kernels in sorted(KERNELS.items()):
            kernel = kernels["product"]
            with self.subTest(kernel=name):
                self.assertEqual(kernel([[0.0] * 6], [[1.5] * 4] * 6), [[0.0] * 4])

    @unittest.skipIf(hasattr(math, "sumprod"), "3.12+: the builtins kernel uses sumprod, which rounds once")
    def test_before_3_12_both_kernels_add_in_the_same_order_bit_for_bit(self):
        rng = random.Random(12)
        a, b = random_rows(rng, 9, 37, 0.3), random_rows(rng, 37, 23)
        self.assertEqual(matrix_kernels._product_loops(a, b), matrix_kernels._product_builtins(a, b))

    def test_the_kernel_fits_the_interpreter(self):
        expected = "loops" if sys.implementation.name == "pypy" else "builtins"
        self.assertEqual((matrix_kernels.KERNEL, matrix.KERNEL), (expected, expected))
        self.assertIs(matrix._product, KERNELS[expected]["product"])

    def test_use_kernels_switches_every_kernel_and_refuses_unknown_names(self):
        previous = matrix.use_kernels(OTHER_KERNEL)
        try:
            self.assertEqual(matrix.KERNEL, OTHER_KERNEL)
            for name, kernel in KERNELS[OTHER_KERNEL].items():
                self.assertIs(getattr(matrix, "_" + name), kernel, name)
        finally:
            matrix.use_kernels(previous)
        self.assertEqual(matrix.KERNEL, matrix_kernels.KERNEL)
        with self.assertRaisesRegex(ValueError, "unknown kernel set 'fast'; valid: builtins, loops"):
            matrix.use_kernels("fast")


class ElementwiseKernelsTest(unittest.TestCase):
    """transpose, column_sums, combine and update of both sets against the obvious loops."""

    def test_transpose_and_column_sums(self):
        rng = random.Random(13)
        for n, m in ((1, 1), (1, 5), (4, 1), (7, 3)):
            rows = random_rows(rng, n, m)
            for name, kernels in sorted(KERNELS.items()):
                with self.subTest(kernel=name, shape=(n, m)):
                    self.assertEqual(kernels["transpose"](rows), [[rows[i][j] for i in range(n)] for j in range(m)])
                    sums = kernels["column_sums"](rows)
                    self.assertEqual(len(sums), m)
                    for j in range(m):
                        self.assertAlmostEqual(sums[j], math.fsum(row[j] for row in rows), places=13)

    def test_combine_and_update_with_one_to_four_matrices(self):
        rng = random.Random(14)
        functions = {1: lambda a: 2.0 * a - 1.0, 2: lambda a, b: a * b + 1.0, 3: lambda a, b, c: a - b / (c + 3.0),
                     4: lambda a, b, c, d: a + b * c - d}
        for count, fn in functions.items():
            groups = [random_rows(rng, 3, 4) for _ in range(count)]
            expected = [[fn(*[g[i][j] for g in groups]) for j in range(4)] for i in range(3)]
            for name, kernels in sorted(KERNELS.items()):
                with self.subTest(kernel=name, matrices=count):
                    self.assertEqual(kernels["combine"](fn, groups), expected)
                    target = [row[:] for row in groups[0]]
                    row_objects = list(target)
                    kernels["update"](fn, target, groups[1:])
                    self.assertEqual(target, expected)
                    self.assertTrue(all(a is b for a, b in zip(target, row_objects)), "rows replaced, not updated")


    def test_scale_add_by_hand_and_as_the_formula_it_replaces(self):
        rng = random.Random(15)
        for name, kernels in sorted(KERNELS.items()):
            with self.subTest(kernel=name):
                target = [[1.0, -2.0], [0.5, 4.0]]
                row_objects = list(target)
                kernels["scale_add"](target, 0.5, [[2.0, 2.0], [-1.0, 0.0]], 3.0)  # 0.5 a + 3 b
                self.assertEqual(target, [[6.5, 5.0], [-2.75, 2.0]])
                self.assertTrue(all(a is b for a, b in zip(target, row_objects)), "rows replaced, not updated")
                # the optimizers' p - lr * g and mu * b + g, to the bit (signed zeros included)
                p, g = random_rows(rng, 3, 5) + [[0.0, -0.0, -0.0, 1e-300, 5.0]], random_rows(rng, 4, 5)
                g[3][:3] = [0.0, 0.0, -0.0]
                for alpha, beta, fn in ((1.0, -0.01, lambda p, g: p - 0.01 * g), (0.9, 1.0, lambda b, g: 0.9 * b + g),
                                        (0.9, 0.1, lambda m, g: 0.9 * m + 0.1 * g)):
                    target = [row[:] for row in p]
                    kernels["scale_add"](target, alpha, g, beta)
                    expected = [[fn(a, b) for a, b in zip(p_row, g_row)] for p_row, g_row in zip(p, g)]
                    self.assertEqual([[repr(v) for v in row] for row in target],
                                     [[repr(v) for v in row] for row in expected])


def _with_the_other_kernels(case):
    """A copy of a test case of tests/test_matrix.py that runs with the kernel set this
    interpreter does not pick, so Matrix's own tests pass through both sets everywhere."""
    def setUp(self):
        previous = matrix.use_kernels(OTHER_KERNEL)
        self.addCleanup(matrix.use_kernels, previous)
        case.setUp(self)
    return type(case.__name__ + "WithTheOtherKernels", (case,), {"setUp": setUp})


for _case in (matrix_tests.ProductTest, matrix_tests.ElementwiseTest, matrix_tests.CombineAndUpdateTest,
              matrix_tests.ReductionTest, matrix_tests.SelectionTest):
    globals()[_case.__name__ + "WithTheOtherKernels"] = _with_the_other_kernels(_case)
del _case  # or the loader would collect the last one here a second time


class BackwardProductTest(ProductCase):
    def test_weight_gradient_with_sparse_inputs(self):
        # dW = X.T @ dY: the rows of X.T are the input columns, some all zero (blank pixels)
        rng = random.Random(9)
        x = random_rows(rng, 32, 64, 0.5)
        for row in x:
            row[0] = row[5] = 0.0
        grad = random_rows(rng, 32, 64)
        self.assert_product_close(Matrix(x).T @ Matrix(grad), naive_product(transpose(x), grad), 32)

    def test_input_gradient_with_a_sparse_upstream_gradient(self):
        # dX = dY @ W.T with dY masked by a ReLU: about half its entries exact zeros
        rng = random.Random(10)
        grad = random_rows(rng, 32, 64, 0.5)
        grad[0][0] = 0.0
        weight = random_rows(rng, 20, 64)
        self.assert_product_close(Matrix(grad) @ Matrix(weight).T, naive_product(grad, transpose(weight)), 64)

    def test_operands_are_not_changed(self):
        a = Matrix([[0.0] * 31 + [1.0], [2.0] * 32])
        b = Matrix([[float(j)] * 20 for j in range(32)])
        before_a, before_b = a.tolist(), b.tolist()
        a @ b
        self.assertEqual((a.rows, b.rows), (before_a, before_b))


if __name__ == "__main__":
    unittest.main()
